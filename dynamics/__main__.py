"""``python -m dynamics ...`` = the ``ssl-dynamics`` console script (also under torchrun:
``torchrun --nproc_per_node=N -m dynamics train CONFIG.yaml``)."""

import sys

from dynamics.cli import main

if __name__ == "__main__":
    sys.exit(main())
