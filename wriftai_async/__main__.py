"""``python -m wriftai_async`` runs the command line."""

import sys

from ._cli import main

sys.exit(main())
