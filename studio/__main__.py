"""Entry point of ``studio`` and ``python -m studio``."""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    # First thing in a frozen executable: child processes must not re-run the app.
    multiprocessing.freeze_support()
    # torch before any Qt import: torch >= 2.9 fails to load after Qt on Windows.
    import torch  # noqa: F401

    from .cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
