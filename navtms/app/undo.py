"""Undo/redo of plan edits: one QUndoCommand per edit holding the plan before and after.

Plans are immutable (targets.plan.Plan is a frozen dataclass), so undo restores the exact plan
object the edit started from. The edit itself is a pure function of targets.plan_edit (no
science here); a refused edit (PlanError, GeometryError) becomes one status-bar sentence.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtGui import QUndoCommand, QUndoStack

from navcore.errors import NavtmsError


class PlanEdit(QUndoCommand):
    """Set ctx's plan to `after` (redo) or back to `before` (undo); the plan folder is kept."""

    def __init__(self, ctx, text: str, before: Any, after: Any) -> None:
        super().__init__(text)
        self.ctx, self.before, self.after = ctx, before, after

    def redo(self) -> None:
        self.ctx.set_plan(self.after, self.ctx.plan_dir)

    def undo(self) -> None:
        self.ctx.set_plan(self.before, self.ctx.plan_dir)


def push_edit(stack: QUndoStack, ctx, text: str, fn: Callable[..., Any], *args, **kwargs) -> bool:
    """Apply fn(ctx.plan, *args, **kwargs) as one undoable edit called `text`. Returns False (and
    says why on the status bar) when the edit is refused."""
    if ctx.plan is None:
        ctx.message.emit("open an MRI or a plan first")
        return False
    try:
        after = fn(ctx.plan, *args, **kwargs)
    except NavtmsError as e:
        ctx.message.emit(f"{text}: {e}")
        return False
    stack.push(PlanEdit(ctx, text, ctx.plan, after))
    return True
