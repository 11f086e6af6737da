"""The states of a loop run, which the loop reports to its sinks (navigation.loop, navigation.sinks)."""
from __future__ import annotations

from enum import StrEnum


class LoopState(StrEnum):
    """State of a loop run (a str, so logs and JSON keep the words)."""

    IDLE = "idle"
    RUNNING = "running"
    SOURCE_LOST = "source lost"
    FAILED = "failed"
    ENDED = "ended"
    STOPPED = "stopped"
