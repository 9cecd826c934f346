"""Paper Fig. 10: see ``dynamics/plots/fig10_scalar_model.py`` for what it shows and the settings.

Usage: python figures/fig10_scalar_model.py [--out DIR] [--quick]
"""

import sys

from _run import main

if __name__ == "__main__":
    sys.exit(main("fig10"))
