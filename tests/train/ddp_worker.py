"""Worker of tests/train/test_train_ddp.py, started by ``python -m torch.distributed.run``.

Runs ``python -m dynamics ARGV...`` (through :mod:`runpy`, i.e. ``dynamics/__main__.py`` and
the CLI exactly as a user's ``torchrun -m dynamics train ...``) once per entry of the JSON list
in ``$DDP_TEST_RUNS``, in this one torchrun launch. After every run it records the exit code and
whether the process group is still initialised (the trainer must destroy the group it created,
also after an error), and every finished run's final method/optimizer state of *this* rank is
dumped to ``$DDP_TEST_DUMP/<name>.rank<R>.pt`` (so the test can compare the replicas).
"""

import json
import os
import runpy
import sys

import torch
import torch.distributed as tdist

from dynamics.train import trainer

DUMP = os.environ["DDP_TEST_DUMP"]
RANK = int(os.environ["RANK"])

_finish = trainer._Run.finish


def _finish_and_dump(self, wall0):
    out = _finish(self, wall0)
    torch.save({"method": self.method.state_dict(), "optimizer": self.optimizer.state_dict(),
                "summary": out},
               os.path.join(DUMP, f"{self.cfg.name}.rank{RANK}.pt"))
    return out


trainer._Run.finish = _finish_and_dump

results = []
for argv in json.loads(os.environ["DDP_TEST_RUNS"]):
    sys.argv = ["dynamics", *argv]
    try:
        runpy.run_module("dynamics", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    results.append({"argv": argv, "code": code, "group_alive": tdist.is_initialized()})

with open(os.path.join(DUMP, f"results.rank{RANK}.json"), "w") as fh:
    json.dump(results, fh)
