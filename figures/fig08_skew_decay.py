"""Paper Fig. 8: see ``dynamics/plots/fig08_skew_decay.py`` for what it shows and the settings.

Usage: python figures/fig08_skew_decay.py [--out DIR] [--quick]
"""

import sys

from _run import main

if __name__ == "__main__":
    sys.exit(main("fig8"))
