"""``python -m dynamics.cli``: the ``ssl-dynamics`` command line."""

import sys

from dynamics.cli.main import main

sys.exit(main())
