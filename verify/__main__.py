"""``python -m verify`` is the ``sharpflat`` command."""

import sys

from verify.cli import main

sys.exit(main())
