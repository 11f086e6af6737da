"""Workspace: one step of the workflow (Plan, Calibrate, Register, Navigate, Review).

Contract with the shell (navtms/app/shell.py):
- class attributes `key` (e.g. "plan") and `title` (e.g. "Plan");
- constructed as Workspace(ctx: AppContext, parent=None);
- `step_status()` -> StepStatus and `next_hint()` -> one sentence of what to do next; emit
  `status_changed` whenever either may have changed (the shell shows done / next);
- `activated()` / `deactivated()` when shown / hidden (start and stop render timers there:
  a hidden workspace draws nothing);
- `shutdown()` before the window closes (stop threads, close sources; must not raise).
"""
from __future__ import annotations

import enum

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


class StepStatus(enum.Enum):
    BLOCKED = "blocked"      # an earlier step is missing
    READY = "ready"          # can be done now
    DONE = "done"


class Workspace(QWidget):
    key = ""
    title = ""
    status_changed = Signal()

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx

    def step_status(self) -> StepStatus:
        return StepStatus.READY

    def next_hint(self) -> str:
        return ""

    def activated(self) -> None:
        pass

    def deactivated(self) -> None:
        pass

    def shutdown(self) -> None:
        pass
