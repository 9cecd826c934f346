"""Paper notebooks: every .py has its .ipynb with the same cells, committed without outputs, and
every .ipynb runs top to bottom in a real Jupyter kernel at smoke size and draws figures."""

import time
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[2] / "paper_notebooks"
SCRIPTS = sorted(NB_DIR.glob("*.py"))
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300  # per cell; at smoke size every cell takes seconds


def test_there_are_notebooks():
    assert SCRIPTS, "no paired notebook scripts found"
    assert {p.stem for p in NOTEBOOKS} == {p.stem for p in SCRIPTS}, \
        "every paper_notebooks/*.py needs its .ipynb and vice versa"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_ipynb_in_sync_with_script(script):
    import jupytext  # part of the test extra
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run jupytext --to ipynb {script.name}"
    from_py = jupytext.read(script)
    from_nb = jupytext.read(ipynb)
    src = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert src(from_py) == src(from_nb), \
        f"{ipynb.name} differs from {script.name}: run jupytext --to ipynb {script.name}"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_ipynb_has_no_outputs(ipynb):
    import nbformat
    nb = nbformat.read(ipynb, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{ipynb.name}: cells {dirty} hold outputs or execution counts; "
                       f"regenerate it with jupytext --to ipynb {ipynb.with_suffix('.py').name}")


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_and_draws(ipynb, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient  # part of the test extra, with ipykernel

    # The kernel inherits this environment: smoke size, headless, one thread, and every
    # temporary folder (the notebooks' output folders) under tmp_path.
    for key, value in {"SSL_NOTEBOOK_SIZE": "smoke", "MPLBACKEND": "Agg",
                       "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(ipynb, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                            startup_timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    t0 = time.perf_counter()
    client.execute()  # a failing cell raises CellExecutionError naming the cell
    seconds = time.perf_counter() - t0
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
    assert images, f"{ipynb.name} ran ({seconds:.0f} s) but drew no figure"
