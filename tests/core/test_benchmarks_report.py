"""``python -m benchmarks``: benchmarks/README.md is rendered from the stored results, never
edited by hand, and bad names are refused before anything runs."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _runner():
    spec = importlib.util.spec_from_file_location("bench_main", ROOT / "benchmarks" / "__main__.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_main"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_readme_is_the_rendering_of_the_stored_results():
    mod = _runner()
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert (ROOT / "benchmarks" / "README.md").read_text() == mod.render(results), (
        "benchmarks/README.md differs from its results: run python -m benchmarks --render-only")
    assert set(results["runs"]) == set(mod.BY_NAME)  # every benchmark has been run
    assert all(r["returncode"] == 0 for r in results["runs"].values())


def test_unknown_benchmark_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _runner().main(["--only", "nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--only: unknown benchmark(s) nope; choose from mode_integrator" in err
