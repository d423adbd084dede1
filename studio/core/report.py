"""What both front ends print, decided once: durations, sizes, card rows, export and eval summaries.

Plain text, no Qt and no terminal codes: the CLI prints these lines, the GUI puts them in labels.
"""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
