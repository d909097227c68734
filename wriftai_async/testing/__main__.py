"""``python -m wriftai_async.testing``: serve the emulator until Ctrl-C."""

import sys

from ._serve import main

sys.exit(main())
