"""Append-only CSV logs of the navigation session (frames.csv, pulses.csv, timing.csv).

File layout: line 1 "# navtms <kind> log, format_version 1", line 2 the header, then one row
per record. Each row is flushed as it is written (optionally fsynced), so a killed process
loses at most the row it was writing; the reader drops a last line without its newline, and a
writer resuming the file cuts that half row before appending.
Floats are written with repr() (bit-exact round trip); NaN and None are written empty; times
are exact seconds from integer monotonic nanoseconds (tracking.poselog.format_time_ns).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from navcore.appendlog import AppendOnlyLog
from navcore.errors import InputFileError

FORMAT_VERSION = 1


def fmt(v: object) -> str:
    """One CSV field: '' for None/NaN, 1/0 for bools, repr for floats, str otherwise."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    s = str(v)
    if any(c in s for c in ',"\r\n'):
        raise ValueError(f"value {s!r} cannot be written to a CSV log (comma, quote or newline)")
    return s


class CsvLog(AppendOnlyLog):
    """Appends rows (dicts keyed by column) to a versioned CSV log, flushed per row."""

    def __init__(self, path: str | Path, kind: str, columns: Sequence[str], fsync: bool = False):
        path = Path(path)
        self.kind = kind
        self.columns = tuple(columns)
        if not path.parent.is_dir():
            raise InputFileError(path, f"the {kind} log's folder does not exist")
        exists = path.exists() and path.stat().st_size > 0
        if exists:
            _check_header(path, kind, self.columns)
            _drop_partial_row(path)
        super().__init__(path, f"the {kind} log", "the rows before", fsync)
        self.append("" if exists else
                    f"# navtms {kind} log, format_version {FORMAT_VERSION}\n" + ",".join(self.columns) + "\n")

    def write(self, row: Mapping[str, object]) -> None:
        """Append one row (missing columns are written empty) and flush it. Raises
        FileWriteError when the disk refuses it (full, I/O error)."""
        self.append(",".join(fmt(row.get(c)) for c in self.columns) + "\n")


def _drop_partial_row(path: Path) -> None:
    """Cut a last line without its newline (half a row from a killed writer; readers never
    trust it) so appended rows start clean."""
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        f.truncate(data.rfind(b"\n") + 1)


def _check_header(path: Path, kind: str, columns: Sequence[str] | None) -> list[str]:
    try:
        with open(path, "r", encoding="utf-8", newline="") as f:
            first = f.readline().rstrip("\r\n")
            second = f.readline().rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputFileError(path, f"the {kind} log is not UTF-8 text") from None
    expect = f"# navtms {kind} log, format_version "
    if not first.startswith(expect):
        raise InputFileError(path, f"line 1 is not a navtms {kind} log version line")
    if first[len(expect):] != str(FORMAT_VERSION):
        raise InputFileError(path, f"the {kind} log has format_version {first[len(expect):]!r}; "
                                   f"this navtms reads [{FORMAT_VERSION}]")
    header = second.split(",")
    if columns is not None and tuple(header) != tuple(columns):
        raise InputFileError(path, f"line 2 of the {kind} log is not the expected header")
    return header


def read_log(path: str | Path, kind: str) -> list[dict[str, str]]:
    """All complete rows of a CSV log as dicts of strings (a truncated last line is dropped)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, f"the {kind} log does not exist")
    header = _check_header(path, kind, None)
    rows = []
    with open(path, "r", encoding="utf-8", newline="") as f:
        f.readline()
        f.readline()
        for lineno, line in enumerate(f, start=3):
            if not line.endswith("\n"):
                break
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split(",")
            if len(parts) != len(header):
                raise InputFileError(path, f"line {lineno} of the {kind} log has {len(parts)} fields, "
                                           f"expected {len(header)}")
            rows.append(dict(zip(header, parts)))
    return rows


def column(rows: Sequence[Mapping[str, str]], name: str) -> np.ndarray:
    """A numeric column of read_log rows as float64 (empty -> NaN)."""
    return np.array([float(r[name]) if r[name] != "" else math.nan for r in rows], dtype=np.float64)


def iter_nonempty(rows: Sequence[Mapping[str, str]], name: str) -> Iterator[str]:
    for r in rows:
        if r.get(name, ""):
            yield r[name]
