"""The one latest-value slot: a producer overwrites, consumers see only the newest value.

Used between the navigation loop's capture and tracking threads (take(): wait for a value not
yet taken; `dropped` counts values overwritten before they were taken) and between the loop
and the viewer's display timer (get(): peek at (version, value) without taking; the version
grows by one per put, so a renderer redraws only when something new arrived). Nothing is ever
queued, so a slow consumer never holds up the producer.
"""
from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar

T = TypeVar("T")


class LatestValue(Generic[T]):
    """Thread-safe latest-value slot (see the module docstring). value: an initial value
    (version 1, already 'taken'), or None (version 0)."""

    def __init__(self, value: Optional[T] = None):
        self._cond = threading.Condition()
        self._value = value
        self._version = 0 if value is None else 1
        self._fresh = False
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    def put(self, value: T) -> bool:
        """Store `value`; True when it replaced one never taken (a drop)."""
        with self._cond:
            dropped = self._fresh
            if dropped:
                self.dropped += 1
            self._value, self._fresh = value, True
            self._version += 1
            self.put_count += 1
            self._cond.notify_all()
            return dropped

    def take(self, timeout: Optional[float] = None) -> Optional[T]:
        """The newest value not yet taken; waits up to `timeout` s (None = until one comes).
        Returns None on timeout, or when closed and empty."""
        with self._cond:
            if not self._fresh and not self._closed:
                self._cond.wait(timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._value

    def get(self) -> tuple[int, Optional[T]]:
        """(version, newest value) without taking it."""
        with self._cond:
            return self._version, self._value

    def close(self) -> None:
        """No more values: a waiting take() returns."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Closed and nothing left to take."""
        with self._cond:
            return self._closed and not self._fresh
