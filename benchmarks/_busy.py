"""Competing busy processes for the contended measurements of the benchmarks."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

#: One process keeping one core busy (for at most an hour, should it ever be orphaned).
SPIN = "import time\nt = time.time()\nwhile time.time() - t < 3600: pass\n"


@contextlib.contextmanager
def busy(n: int, settle: float = 1.0) -> Iterator[None]:
    """``n`` processes spinning one core each while the block runs (started ``settle`` seconds
    before it, killed after it)."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    try:
        if n:
            time.sleep(settle)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()
