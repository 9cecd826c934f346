"""What a run prints while it works: set-up phases, lines off a terminal, a bar that is never a
refresh behind."""

from pathlib import Path

from dynamics.train import progress as progress_mod
from dynamics.train import trainer
from dynamics.train.config import load_config

SMOKE = Path(__file__).resolve().parents[2] / "experiments" / "train" / "smoke_byol_digits.yaml"
FAST = ["data.subset=256", "optim.batch_size=64", "optim.max_steps=null", "optim.epochs=2",
        "eval.every_epoch=false", "eval.final=false", "log.progress=true"]


def test_off_a_terminal_the_run_prints_its_phases_and_regular_lines(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(progress_mod.Progress, "line_every_s", 0.0)
    trainer.train(load_config(SMOKE, [f"out_dir={tmp_path}", *FAST]))
    err = capsys.readouterr().err.splitlines()
    name = "smoke_byol_digits"
    assert err[0].startswith(f"{name}: loading digits; ") and "thread(s)" in err[0]
    assert err[1].startswith(f"{name}: data ready in ") and "4 steps per epoch" in err[1]
    assert any(f"{name}: epoch 1/2 step " in ln and "img/s" in ln for ln in err)  # in-epoch
    assert any(ln.startswith(f"{name}: epoch 2/2 step 8 loss ") for ln in err)  # per epoch
    assert err[-1] == f"{name}: final evaluation"


def test_no_progress_is_silent(tmp_path, capsys):
    trainer.train(load_config(SMOKE, [f"out_dir={tmp_path}", *FAST]), progress=False)
    assert capsys.readouterr().err == ""


def test_bar_extras_are_set_before_the_refresh(tmp_path, monkeypatch):
    calls = []

    class Bar:
        n = 0

        def __init__(self, *a, initial=0, **k):
            self.n = initial

        def set_postfix(self, refresh=True, **kw):
            calls.append(("postfix", kw["epoch"], refresh))

        def update(self, k):
            self.n += k
            calls.append(("update", self.n))

        def write(self, *a, **k):
            pass

        def close(self):
            pass

    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    trainer.train(load_config(SMOKE, [f"out_dir={tmp_path}", *FAST]), progress=True)
    # every refresh (update) comes right after the extras of that same moment
    for i, call in enumerate(calls):
        if call[0] == "update":
            assert calls[i - 1][0] == "postfix" and calls[i - 1][2] is False
    assert ("postfix", "2/2", False) in calls and calls[-1] == ("update", 8)
