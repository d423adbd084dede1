"""PyInstaller's top-level script for the standalone app (see build.spec)."""

import sys

from studio.__main__ import main

sys.exit(main())
