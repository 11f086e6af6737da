"""Atomic versioned JSON files (navcore/fileio.py)."""
import json
import os

import numpy as np
import pytest

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_text, read_json, write_json


def test_write_read_round_trip(tmp_path):
    p = write_json(tmp_path / "a.json", {"T": np.eye(4), "x": np.float32(1.5), "n": None, "v": float("nan")})
    obj = read_json(p)
    assert obj["format_version"] == 1
    assert obj["T"] == np.eye(4).tolist()
    assert obj["x"] == 1.5 and obj["v"] is None
    assert list(obj)[0] == "format_version"


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "keep.json"
    atomic_write_text(p, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(p, "new")
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["keep.json"], "temporary file left behind"


@pytest.mark.parametrize("content,needle", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"a": 1}', "no format_version"),
    ('{"format_version": 99}', "format_version 99"),
])
def test_read_json_clear_errors(tmp_path, content, needle):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(InputFileError) as ei:
        read_json(p, "camera file")
    assert needle in str(ei.value) and str(p) in str(ei.value)


def test_read_json_missing(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_json(tmp_path / "nope.json", "plan")


def test_atomic_write_gives_normal_permissions(tmp_path):
    p = atomic_write_text(tmp_path / "new.json", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(p, 0o640)
    atomic_write_text(p, "y")
    assert p.stat().st_mode & 0o777 == 0o640, "a replaced file keeps its permissions"
