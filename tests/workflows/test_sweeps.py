"""Paper tables as data: ``sweep`` expands a table into runs (local pool, or SLURM through
submitit, tested with submitit's local executor) and ``table`` aggregates them beside the
published numbers, missing cells shown as missing."""

import json

import pytest

from dynamics.cli import main
from dynamics.errors import ConfigError
from dynamics.workflows import sweeps
from dynamics.workflows.paper_tables import aggregate, render
from dynamics.workflows.sweeps import SweepRun, find_table, load_tables, parse_seeds, run_sweep

FAST = "[optim.max_steps=2,optim.batch_size=32,eval.every_epoch=false,eval.linear_epochs=2]"
TOY = """paper: toy
tables:
  - id: "1"
    title: "Toy table"
    base: smoke_byol_digits.yaml
    rows: [lr small, lr big]
    cols: [linear]
    cells:
      - {row: lr small, col: linear, name: small, overrides: [optim.lr=0.01], paper: [50.0, 1.0]}
      - {row: lr big, col: linear, name: big, overrides: [optim.lr=0.1]}
"""


@pytest.fixture
def toy_tables(tmp_path, monkeypatch):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "toy.yaml").write_text(TOY)
    monkeypatch.setattr(sweeps, "TABLE_DIR", folder)
    return folder


def test_paper_tables_hold_the_published_numbers():
    tables = load_tables("directpred")
    assert {"2", "3", "5", "6", "7", "8-stl10", "8-cifar10"} <= set(tables)
    t6 = tables["6"]
    assert t6.cell("rho=0.3", "eps=0.1").paper == (77.86, 0.16)
    assert len(tables["3"].cells) == 16 and len(tables["5"].cells) == 16
    assert find_table("experiments/train/paper_table6.yaml") is t6 or \
        find_table("experiments/train/paper_table6.yaml").id == "6"
    for t in tables.values():  # every cell's overrides load on its base config
        assert {c.row for c in t.cells} <= set(t.rows) and {c.col for c in t.cells} <= set(t.cols)


def test_seeds_grammar():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("0,2,5") == [0, 2, 5]
    with pytest.raises(ConfigError, match="^seeds:"):
        parse_seeds("a-b")


@pytest.mark.integration  # end to end (pytest -m integration)
def test_local_sweep_and_table(toy_tables, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--paper", "toy", "--table", "1", "--seeds", "0-1", "--out", str(out),
                 "--jobs", "2", "--set", *FAST.strip("[]").split(",")]) == 0
    index = json.loads((out / "index.json").read_text())
    assert len(index["cells"]["small"]) == 2 and not index["failed"]
    assert "4/4 runs finished" in capsys.readouterr().out
    # one run gone: its cell is aggregated over the remaining seed, never filled in
    import shutil

    shutil.rmtree(out / index["cells"]["big"][0])
    shutil.rmtree(out / index["cells"]["big"][1])
    table = find_table("", "toy", "1")
    cells = {c.name: c for c in aggregate(table, out)}
    assert cells["small"].n == 2 and cells["small"].mean is not None
    assert cells["big"].n == 0 and cells["big"].mean is None
    md = render(table, list(cells.values()))
    assert "| lr big | - | - | - |" in md and "50.00 +- 1.00" in md
    assert "\\begin{tabular}" in render(table, list(cells.values()), "latex")
    assert main(["table", "--paper", "toy", "--table", "1", "--runs", str(out), "--format",
                 "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("row,linear ours")


def test_slurm_executor_through_submitit(toy_tables, tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    made = []

    def local_executor(folder, cfg):  # SLURM stands in: submitit's local executor
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=cfg.time_min)
        made.append(ex)
        return ex

    monkeypatch.setattr(sweeps, "slurm_executor", local_executor)
    cfg = SweepRun(seeds="0", out=str(tmp_path / "slurm"), executor="slurm",
                   set=FAST.strip("[]").split(","))
    index = run_sweep(find_table("", "toy", "1"), cfg, log=lambda m: None)
    assert made and not index["failed"]
    for names in index["cells"].values():
        summary = json.loads((tmp_path / "slurm" / names[0] / "summary.json").read_text())
        assert summary["status"] == "finished"
    # a second sweep finds everything finished and submits nothing
    made.clear()
    again = run_sweep(find_table("", "toy", "1"), cfg, log=lambda m: None)
    assert not again["failed"] and len(made) == 1  # the executor is built, no job runs
