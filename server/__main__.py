"""``python -m server`` is the ``fixserver`` command."""

import sys

from .cli import main

sys.exit(main())
