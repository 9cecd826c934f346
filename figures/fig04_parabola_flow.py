"""Paper Fig. 4: see ``dynamics/plots/fig04_parabola_flow.py`` for what it shows and the settings.

Usage: python figures/fig04_parabola_flow.py [--out DIR] [--quick]
"""

import sys

from _run import main

if __name__ == "__main__":
    sys.exit(main("fig4"))
