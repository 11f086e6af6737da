"""Atomic writes and versioned JSON files.

Every file navtms writes carries `format_version` and is written atomically: to a temporary
file in the same folder, flushed and fsynced, then renamed over the target, so a reader sees
either the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from navcore.errors import FileWriteError, InputFileError

# The process umask, read once at import (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _file_mode(path: Path) -> int:
    """Permission bits for a new version of `path`: those of the file it replaces, else what
    open() would give a new file (0o666 less the umask) - mkstemp alone would give 0o600."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def check_output_path(path: str | Path, force: bool, what: str = "file") -> Path:
    """Refuse, before any work, to write `what` at `path` when it exists (unless force) or its
    folder does not exist: InputFileError naming the path. Returns the path."""
    path = Path(path)
    if path.exists() and not force:
        raise InputFileError(path, f"the {what} already exists; pass --force to replace it")
    if not path.parent.is_dir():
        raise InputFileError(path, f"the folder for the {what} does not exist")
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; the parent folder must exist. Returns the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputFileError(path, "its folder does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise FileWriteError(path, f"cannot be written ({e.strerror or e}); the previous version is unchanged", e.errno) from e
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _file_mode(path))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):  # disk full, quota, I/O error, read-only file system
            raise FileWriteError(path, f"cannot be written ({e.strerror or e}); the previous version is unchanged", e.errno) from e
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Turn numpy arrays/scalars, Paths and tuples into plain JSON types (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, obj: dict, format_version: int = 1) -> Path:
    """Write a dict as indented JSON with `format_version` first, atomically."""
    body = {"format_version": format_version}
    body.update({k: v for k, v in obj.items() if k != "format_version"})
    text = json.dumps(to_jsonable(body), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def parse_json_text(path: Path, text: str, what: str = "file"):
    """json.loads(text), or InputFileError naming `path` and the line of the first error
    (also for numbers too long or nesting too deep for Python)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(path, f"the {what} is not valid JSON (line {e.lineno}: {e.msg})") from e
    except (ValueError, RecursionError) as e:  # a number of over 4300 digits; nesting too deep
        raise InputFileError(path, f"the {what} is not JSON navtms can read ({e.__class__.__name__}: "
                                   "a number too long or nesting too deep)") from e


def read_json(path: str | Path, what: str = "file",
              supported_versions: Iterable[int] | None = (1,)) -> dict:
    """Read a JSON object written by navtms, checking that it exists, parses and has a
    supported `format_version`. Raises InputFileError with one clear sentence otherwise.
    `what` names the kind of file in messages ("camera file", "plan", ...)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, f"the {what} does not exist")
    if path.is_dir():
        raise InputFileError(path, f"the {what} is a folder, not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"the {what} cannot be read as UTF-8 text ({e.__class__.__name__})") from e
    obj = parse_json_text(path, text, what)
    if not isinstance(obj, dict):
        raise InputFileError(path, f"the {what} must hold a JSON object")
    if supported_versions is not None:
        ver = obj.get("format_version")
        allowed = list(supported_versions)
        if ver is None:
            raise InputFileError(path, f"the {what} has no format_version")
        if isinstance(ver, bool) or ver not in allowed:
            raise InputFileError(path, f"the {what} has format_version {ver!r}; this navtms reads {allowed}")
    return obj


def require_matrix(path: str | Path, obj: dict, key: str, shape: tuple[int, ...], what: str = "file") -> np.ndarray:
    """Fetch `obj[key]` as a finite float64 array of `shape`, or raise InputFileError."""
    if key not in obj:
        raise InputFileError(path, f"the {what} has no '{key}'")
    try:
        arr = np.asarray(obj[key], dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as e:
        raise InputFileError(path, f"'{key}' in the {what} is not a numeric array") from e
    if arr.shape != shape:
        raise InputFileError(path, f"'{key}' in the {what} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise InputFileError(path, f"'{key}' in the {what} holds NaN or infinite values")
    return arr


def read_rigid_transform(path: str | Path, key: str, what: str = "transform file", tol: float = 1e-6) -> np.ndarray:
    """A rigid 4x4 (float64, mm) from a text file of 4 lines of 4 numbers or a JSON file {key: 4x4}.
    Raises InputFileError naming the file when it is unreadable, not 4x4, or not rigid within tol."""
    from navcore.transforms import is_rigid

    path = Path(path)
    if path.suffix.lower() == ".json":
        T = require_matrix(path, read_json(path, what, supported_versions=None), key, (4, 4), what)
    else:
        try:
            T = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except (OSError, ValueError) as e:
            raise InputFileError(path, f"the {what} is not 4 lines of 4 numbers ({e.__class__.__name__})") from None
        if T.shape != (4, 4):
            raise InputFileError(path, f"the {what} holds a {T.shape[0]}x{T.shape[1]} matrix; "
                                       "4 lines of 4 numbers are needed")
    if not is_rigid(T, tol):
        raise InputFileError(path, f"the {what} is not a rigid 4x4 transform (mm)")
    return np.asarray(T, dtype=np.float64)

