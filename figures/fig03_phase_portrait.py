"""Paper Fig. 3: see ``dynamics/plots/fig03_phase_portrait.py`` for what it shows and the settings.

Usage: python figures/fig03_phase_portrait.py [--out DIR] [--quick]
"""

import sys

from _run import main

if __name__ == "__main__":
    sys.exit(main("fig3"))
