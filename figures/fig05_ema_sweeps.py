"""Paper Fig. 5: see ``dynamics/plots/fig05_ema_sweeps.py`` for what it shows and the settings.

Usage: python figures/fig05_ema_sweeps.py [--out DIR] [--quick]
"""

import sys

from _run import main

if __name__ == "__main__":
    sys.exit(main("fig5"))
