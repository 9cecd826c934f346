"""Paper Fig. 7: see ``dynamics/plots/fig07_a1_validity.py`` for what it shows and the settings.

Usage: python figures/fig07_a1_validity.py [--out DIR] [--quick]
"""

import sys

from _run import main

if __name__ == "__main__":
    sys.exit(main("fig7"))
