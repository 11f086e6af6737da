"""tracking.bodies: body files (JSON and tag files), generator, dictionaries."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore.errors import InputFileError, TrackingError
from tracking.bodies import (MarkerBody, dictionary_by_name, load_body, planar_body, save_body)

REAL = "webcam-aruco-sksurgery"


def test_json_round_trip(tmp_path):
    body = planar_body("coil", "DICT_4X4_50", [0, 1, 2, 3], 35.0, "2x2", 10.0)
    path = save_body(body, tmp_path / "coil.json")
    obj = json.loads(path.read_text())
    assert obj["format_version"] == 1 and obj["dictionary"] == "DICT_4X4_50"
    back = load_body(path)
    assert back.name == "coil" and back.ids == [0, 1, 2, 3]
    for tid in body.ids:
        np.testing.assert_array_equal(back.tags[tid], body.tags[tid])
    np.testing.assert_allclose(back.corners([2, 0]), np.concatenate([body.tags[2], body.tags[0]]))


@settings(max_examples=20)
@given(rows=st.integers(1, 3), cols=st.integers(1, 4), size=st.floats(5, 80), gap=st.floats(0, 30))
def test_planar_grid_geometry(rows, cols, size, gap):
    ids = list(range(rows * cols))
    b = planar_body("b", "DICT_4X4_50", ids, size, f"{rows}x{cols}", gap)
    c = b.corners()
    assert c.shape == (4 * rows * cols, 3) and np.all(c[:, 2] == 0)
    np.testing.assert_allclose(c[:, :2].mean(axis=0), 0, atol=1e-9)        # origin at the pattern centre
    for tid in ids:
        assert b.tag_size_mm(tid) == pytest.approx(size)
        tl, tr, br, bl = b.tags[tid]
        assert tr[0] > tl[0] and bl[1] > tl[1]                              # TL, TR, BR, BL; x right, y down
    if cols > 1:
        assert b.tags[1][0, 0] - b.tags[0][1, 0] == pytest.approx(gap)


def test_default_bodies(data_dir):
    bodies = [load_body(data_dir / "bodies" / f"{n}.json") for n in ("coil", "head", "pointer")]
    assert [b.name for b in bodies] == ["coil", "head", "pointer"]
    all_ids = [i for b in bodies for i in b.ids]
    assert len(all_ids) == len(set(all_ids)) == 12          # distinct ids: one tracker can follow all three
    assert all(b.dictionary == "DICT_4X4_50" and len(b.tags) == 4 for b in bodies)
    assert bodies[0].extent_mm() > 100                       # lever arm for the rotation accuracy goal


def test_real_tag_files(shared_real):
    d = shared_real / REAL
    ref = load_body(d / "reference.txt")
    ptr = load_body(d / "pointer.txt")
    tag0 = load_body(d / "tag_0.txt", dictionary="DICT_4X4_50")
    assert ref.name == "reference" and len(ref.tags) == 12 and ref.dictionary == "DICT_ARUCO_ORIGINAL"
    assert len(ptr.tags) == 6 and 208 in ptr.tags
    np.testing.assert_allclose(ptr.tags[208][0], [-24.75, -16, 0])
    assert tag0.tag_size_mm(0) == pytest.approx(33.0)
    assert ref.tag_size_mm(860) == pytest.approx(14.5)


@pytest.mark.parametrize("text, needle", [
    ("{not json", "not valid JSON"),
    ('{"format_version": 1, "name": "x", "dictionary": "DICT_4X4_50"}', "'tags'"),
    ('{"format_version": 1, "name": "x", "dictionary": "DICT_4X4_50", "tags": [{"id": 1, "corners_mm": [[0,0,0]]}]}', "shape"),
    ('{"format_version": 1, "name": "x", "dictionary": "DICT_NOPE", "tags": [{"id": 1, "corners_mm": [[0,0,0],[1,0,0],[1,1,0],[0,1,0]]}]}', "unknown tag dictionary"),
    ('{"format_version": 1, "name": "x", "dictionary": "DICT_4X4_50", "tags": [{"id": 99, "corners_mm": [[0,0,0],[1,0,0],[1,1,0],[0,1,0]]}]}', "outside dictionary"),
    ('{"format_version": 2, "name": "x", "dictionary": "DICT_4X4_50", "tags": []}', "format_version"),
    ("1\t0\t0\t0\t1\t2\n", "16"),
])
def test_malformed_body_files(tmp_path, text, needle):
    p = tmp_path / "bad_body.json"
    p.write_text(text)
    with pytest.raises(InputFileError) as e:
        load_body(p)
    assert needle in str(e.value) and "bad_body.json" in str(e.value)


def test_missing_file_and_unknown_dictionary(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_body(tmp_path / "none.json")
    with pytest.raises(TrackingError, match="unknown tag dictionary 'DICT_5X5_9999'"):
        dictionary_by_name("DICT_5X5_9999")
    with pytest.raises(TrackingError):
        planar_body("b", "NOPE", [0], 10.0, "1x1")
    assert dictionary_by_name("DICT_4X4_50").markerSize == 4


def test_generator_rejects_bad_layouts():
    with pytest.raises(TrackingError, match="holds 4 tags"):
        planar_body("b", "DICT_4X4_50", [0, 1, 2], 10.0, "2x2")
    with pytest.raises(TrackingError, match="distinct"):
        planar_body("b", "DICT_4X4_50", [0, 0], 10.0, "1x2")
    b = planar_body("b", "DICT_4X4_50", [5, 6], 20.0, [(0, 0), (50, 10)])
    np.testing.assert_allclose(b.tags[6].mean(axis=0), [50, 10, 0])
    assert isinstance(b, MarkerBody)
