"""The worker pool of verify and reproduce (dynamics.verify.pool): work items run in long-lived
worker processes that import the caller's dynamics, results and errors come back, a worker that
dies does not block the rest, and a script's own functions can be work items."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from dynamics.verify.pool import WorkerEnded, WorkPool


def _where(x):
    import dynamics

    return os.getpid(), os.path.dirname(dynamics.__file__), x


def _fail(message):
    raise ValueError(message)


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def test_results_errors_and_the_callers_dynamics():
    import dynamics

    with WorkPool(2) as pool:
        futs = [pool.submit(_where, i) for i in range(6)]
        bad = pool.submit(_fail, "no good")
    pids = {f.result()[0] for f in futs}
    assert [f.result()[2] for f in futs] == list(range(6))
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # long-lived workers, not this one
    assert {f.result()[1] for f in futs} == {os.path.dirname(dynamics.__file__)}
    with pytest.raises(ValueError, match="no good"):
        bad.result()


def test_a_worker_that_dies_fails_its_item_only():
    with WorkPool(1) as pool:
        dead = pool.submit(_die)
        after = pool.submit(_where, 7)
    with pytest.raises(WorkerEnded, match="_die"):
        dead.result()
    assert after.result()[2] == 7  # a new worker took the rest of the queue


def test_stop_cancels_the_work_not_started():
    pool = WorkPool(1)
    first = pool.submit(time.sleep, 5)
    rest = [pool.submit(_where, i) for i in range(3)]
    time.sleep(0.5)
    t0 = time.time()
    pool.stop()
    assert time.time() - t0 < 4  # the running item was ended, not waited for
    assert all(f.cancelled() for f in rest)
    assert isinstance(first.exception(), WorkerEnded)


def test_functions_of_a_script_are_work_items(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent('''
        from dynamics.verify.pool import WorkPool
        print("loaded as", __name__)

        def square(x):
            return x * x

        if __name__ == "__main__":
            with WorkPool(1) as pool:
                fut = pool.submit(square, 7)
            print("result", fut.result())
        '''))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "result 49" in out.stdout
    assert out.stdout.count("loaded as __main__") == 1  # the worker ran no main block
