"""The ``studio`` command line: :func:`main` builds the parser from one module per command group."""

from .main import main

__all__ = ["main"]
