"""Paper notebooks: each paired .py runs top to bottom, and its .ipynb holds the same cells."""

import runpy
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "paper_notebooks"
SCRIPTS = sorted(NB_DIR.glob("*.py"))


def test_there_are_notebooks():
    assert SCRIPTS, "no paired notebook scripts found"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_notebook_script_runs(script, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(script), run_name="__main__")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_ipynb_in_sync_with_script(script):
    import jupytext  # part of the test extra
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run jupytext --to ipynb {script.name}"
    from_py = jupytext.read(script)
    from_nb = jupytext.read(ipynb)
    src = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert src(from_py) == src(from_nb)
