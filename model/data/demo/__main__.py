"""``python -m model.data.demo``: the same as ``palette data demo``."""

import sys

from model.data.demo.cli import main

sys.exit(main())
