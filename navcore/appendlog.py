"""An append-only text file flushed after every append: the shared base of navtms's logs
(navigation.csvlog.CsvLog for frames/pulses/timing, tracking.poselog.PoseLogWriter for poses).

Each append is flushed (and, with fsync=True, forced to disk), so a killed process loses at
most the append it was making. A write the disk refuses (full, I/O error) raises
FileWriteError saying that what was written before is kept. What a log file holds (version
line, header, how a half line left by a killed writer is handled) is the subclass's business.
"""
from __future__ import annotations

import os
from pathlib import Path

from navcore.errors import FileWriteError


class AppendOnlyLog:
    """Opens `path` for appending (never truncates). `what` names the log in errors
    ("the pose log"), `kept` what survives a failed write ("the frames before")."""

    def __init__(self, path: str | Path, what: str, kept: str, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self._what, self._kept = what, kept
        self._f = open(self.path, "a", encoding="utf-8", newline="")

    def append(self, text: str) -> None:
        """Append text and flush it (fsync too when asked). Raises FileWriteError."""
        self._f.write(text)
        self._sync()

    def _sync(self) -> None:
        try:
            self._f.flush()
            if self.fsync:
                os.fsync(self._f.fileno())
        except OSError as e:  # disk full, I/O error: what was written before stays readable
            raise FileWriteError(self.path, f"{self._what} cannot be written ({e.strerror or e}); "
                                            f"{self._kept} are kept", e.errno) from e

    def close(self) -> None:
        if not self._f.closed:
            try:
                self._sync()
            finally:
                try:
                    self._f.close()
                except OSError:
                    pass  # the flush above already reported it

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
