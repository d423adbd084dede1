"""The Paint panel's undo and redo: the painting's steps, bounded in number and in bytes.

Each step is the :class:`~studio.gui.widgets.label_canvas.Edit` the canvas reports: the box a stroke
or a fill changed, before and after (a new map holds both whole maps). Pure Python and numpy.
"""

from __future__ import annotations

from studio.gui.widgets.label_canvas import Edit

HISTORY_STEPS = 50
HISTORY_BYTES = 64 * 2**20  # a few whole-map steps of a large map, thousands of strokes' boxes


class History:
    """Undo and redo steps; the oldest are dropped beyond ``steps`` steps or ``budget`` bytes
    (the newest step is always kept, whatever its size)."""

    def __init__(self, steps: int = HISTORY_STEPS, budget: int = HISTORY_BYTES):
        self.steps, self.budget = steps, budget
        self._edits: list[Edit] = []
        self._at = 0  # the edits before this index are done, those from it on undone

    def push(self, edit: Edit) -> None:
        """A new step: whatever was undone can no longer be redone."""
        del self._edits[self._at:]
        self._edits.append(edit)
        while len(self._edits) > self.steps or (len(self._edits) > 1 and self.nbytes > self.budget):
            self._edits.pop(0)
        self._at = len(self._edits)

    def undo(self) -> Edit | None:
        """The step to take back, or None when there is none."""
        if not self.can_undo:
            return None
        self._at -= 1
        return self._edits[self._at]

    def redo(self) -> Edit | None:
        """The step to take again, or None when there is none."""
        if not self.can_redo:
            return None
        self._at += 1
        return self._edits[self._at - 1]

    def clear(self) -> None:
        self._edits, self._at = [], 0

    def __len__(self) -> int:
        return len(self._edits)

    @property
    def nbytes(self) -> int:
        return sum(e.before.nbytes + e.after.nbytes for e in self._edits)

    @property
    def can_undo(self) -> bool:
        return self._at > 0

    @property
    def can_redo(self) -> bool:
        return self._at < len(self._edits)
