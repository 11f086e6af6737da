"""AppContext: what the open workbench is working on, shared by every workspace.

One plan folder and (optionally) one session folder are open at a time; workspaces listen to
`plan_changed` / `session_changed` and read the loaded objects from here. Long work (surfaces,
MNI registration, ICP) goes through `run_in_worker`, so the window never freezes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Signal

from navtms.app.worker import Task


class AppContext(QObject):
    """Open plan / session and the worker for long jobs.

    plan: targets.plan.Plan or None; plan_dir: its folder (None for an unsaved plan).
    session: navtms.session.Session or None; session_dir: its folder.
    """

    plan_changed = Signal()
    session_changed = Signal()
    task_started = Signal(object)    # Task
    task_finished = Signal(object)   # Task (ok, cancelled or failed: see Task.state)
    message = Signal(str)            # one line for the status bar

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.plan: Any = None
        self.plan_dir: Optional[Path] = None
        self.session: Any = None
        self.session_dir: Optional[Path] = None
        self._tasks: list[Task] = []

    def set_plan(self, plan: Any, plan_dir: Optional[Path]) -> None:
        self.plan, self.plan_dir = plan, (Path(plan_dir) if plan_dir is not None else None)
        self.plan_changed.emit()

    def set_session(self, session: Any, session_dir: Optional[Path]) -> None:
        self.session, self.session_dir = session, (Path(session_dir) if session_dir is not None else None)
        self.session_changed.emit()

    def run_in_worker(self, title: str, fn: Callable[..., Any], *args: Any,
                      on_done: Optional[Callable[[Any], None]] = None,
                      on_error: Optional[Callable[[BaseException], None]] = None) -> Task:
        """Run fn(*args, progress=..., cancelled=...) on a worker thread.

        fn gets two keyword arguments: progress(fraction 0..1, text) to report, cancelled() -> bool
        to poll. on_done(result) / on_error(exception) are called on the GUI thread.
        """
        task = Task(title, fn, args)
        task.done.connect(lambda result: on_done(result) if on_done else None)
        task.failed.connect(lambda exc: on_error(exc) if on_error else None)
        task.finished_any.connect(lambda: self._finish(task))
        self._tasks.append(task)
        self.task_started.emit(task)
        task.start()
        return task

    def _finish(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        self.task_finished.emit(task)

    def busy(self) -> bool:
        return bool(self._tasks)

    def wait_idle(self, timeout_ms: int = 60000) -> bool:
        """Block until every task's thread has ended (for shutdown and tests)."""
        ok = True
        for task in list(self._tasks):
            ok = task.wait(timeout_ms) and ok
        return ok


__all__ = ["AppContext", "Task"]
