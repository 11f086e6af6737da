"""Typed exceptions. Library code raises these; only the CLI turns them into messages.

Every message is one clear sentence that a user can act on, naming the file when a file is
the problem.
"""
from __future__ import annotations

from pathlib import Path


class NavtmsError(Exception):
    """Base class of every error navtms reports to a user."""


class InputFileError(NavtmsError):
    """A file given by the user is missing, unreadable or malformed."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class FileWriteError(InputFileError, OSError):
    """A file could not be written (disk full, read-only, I/O error). Also an OSError, with the
    original `errno`, so code that handles OSError keeps working."""

    def __init__(self, path: str | Path, problem: str, errno: int | None = None):
        super().__init__(path, problem)
        self.errno = errno


class GeometryError(NavtmsError):
    """Geometric input that cannot give a defined answer (degenerate, NaN, too few points)."""


class RegistrationError(NavtmsError):
    """A registration was refused (too few, degenerate or unmatched points, bad fit)."""


class TrackingError(NavtmsError):
    """Camera, marker body or frame-source problem."""


class PlanError(NavtmsError):
    """A plan or target cannot be made or loaded."""


class SessionError(NavtmsError):
    """An operator session cannot be made, loaded or continued."""
