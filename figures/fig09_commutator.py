"""Paper Fig. 9: see ``dynamics/plots/fig09_commutator.py`` for what it shows and the settings.

Usage: python figures/fig09_commutator.py [--out DIR] [--quick]
"""

import sys

from _run import main

if __name__ == "__main__":
    sys.exit(main("fig9"))
