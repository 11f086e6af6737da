"""CSV session logs: versioned header, exact floats, append, truncated last line, bad files."""
from __future__ import annotations

import math

import pytest

from navcore.errors import InputFileError
from navigation.csvlog import CsvLog, column, read_log


def test_round_trip_append_and_truncation(tmp_path):
    p = tmp_path / "x.csv"
    with CsvLog(p, "frame", ("a", "b", "c")) as log:
        log.write({"a": 0.1 + 0.2, "b": True, "c": "M1"})
        log.write({"a": math.nan, "b": False})
    with open(p, "a") as f:
        f.write("0.5,1")                      # a killed writer's half row
    rows = read_log(p, "frame")
    assert len(rows) == 2 and float(rows[0]["a"]) == 0.1 + 0.2 and rows[0]["b"] == "1"
    assert math.isnan(column(rows, "a")[1]) and rows[1]["c"] == ""
    with CsvLog(p, "frame", ("a", "b", "c")) as log:  # resumes on a fresh line
        log.write({"a": 2.0})
    rows = read_log(p, "frame")
    assert [r["a"] for r in rows] == [repr(0.1 + 0.2), "", "2.0"]


def test_refuses_other_files_and_bad_values(tmp_path):
    p = tmp_path / "y.csv"
    p.write_text("hello\n")
    with pytest.raises(InputFileError):
        CsvLog(p, "frame", ("a",))
    assert p.read_text() == "hello\n"          # nothing the user had is lost
    with pytest.raises(InputFileError):
        read_log(tmp_path / "missing.csv", "frame")
    with CsvLog(tmp_path / "z.csv", "pulse", ("a",)) as log:
        with pytest.raises(ValueError):
            log.write({"a": "x,y"})
    with pytest.raises(InputFileError):
        CsvLog(tmp_path / "z.csv", "pulse", ("a", "b"))
