"""Task: one long job on its own QThread, with progress, cancel and the result on the GUI thread."""
from __future__ import annotations

import enum
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal


class TaskState(enum.Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _Runner(QThread):
    def __init__(self, task: "Task") -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:  # worker thread
        self._task._run()


class Task(QObject):
    """fn(*args, progress=cb, cancelled=cb) on a worker thread; signals arrive on the GUI thread.

    Cancel is cooperative: `cancel()` sets a flag that fn polls through `cancelled()`; a fn that
    returns after a cancel is reported CANCELLED and its result is dropped.
    """

    progress = Signal(float, str)   # fraction 0..1, text
    done = Signal(object)           # result
    failed = Signal(object)         # exception
    finished_any = Signal()

    def __init__(self, title: str, fn: Callable[..., Any], args: tuple) -> None:
        super().__init__()
        self.title = title
        self.state = TaskState.RUNNING
        self.result: Any = None
        self.error: BaseException | None = None
        self._fn, self._args = fn, args
        self._cancel = threading.Event()
        self._thread = _Runner(self)
        self._thread.finished.connect(self._emit_end)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout_ms: int = 60000) -> bool:
        return self._thread.wait(timeout_ms)

    def _run(self) -> None:  # worker thread
        try:
            self.result = self._fn(*self._args, progress=self.progress.emit, cancelled=self.cancelled)
            self.state = TaskState.CANCELLED if self._cancel.is_set() else TaskState.DONE
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI thread
            self.error, self.state = exc, TaskState.FAILED

    def _emit_end(self) -> None:  # GUI thread (QThread.finished is queued to our thread)
        if self.state is TaskState.DONE:
            self.done.emit(self.result)
        elif self.state is TaskState.FAILED:
            self.failed.emit(self.error)
        self.finished_any.emit()
