"""navcore.points: NamedPoints, CSV and Slicer .mrk.json files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import GeometryError, InputFileError
from navcore.points import NamedPoints, read_points, write_points

coord = st.floats(-500, 500, allow_nan=False)
names_st = st.lists(st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8),
                    min_size=1, max_size=8, unique=True)


def test_named_points_basics():
    p = NamedPoints.from_dict({"nasion": (0, 90, 0), "lpa": (-70, 0, 0), "rpa": (70, 0, 0)}, frame="mri")
    assert len(p) == 3 and p.names == ("nasion", "lpa", "rpa")
    assert np.allclose(p["lpa"], [-70, 0, 0])
    assert "rpa" in p and "inion" not in p
    s = p.subset(["rpa", "nasion"])
    assert s.names == ("rpa", "nasion") and np.allclose(s.positions[1], [0, 90, 0])
    T = np.eye(4)
    T[:3, 3] = [1, 2, 3]
    q = p.transformed(T, "tracker")
    assert q.frame == "tracker" and np.allclose(q["nasion"], [1, 92, 3])


def test_named_points_refuses_duplicates_and_nan():
    with pytest.raises(GeometryError, match="duplicate"):
        NamedPoints(("a", "a"), np.zeros((2, 3)))
    with pytest.raises(GeometryError, match="NaN"):
        NamedPoints(("a", "b"), np.array([[0, 0, 0], [np.nan, 0, 0]]))
    with pytest.raises(GeometryError):
        NamedPoints(("a", "b"), np.zeros((3, 3)))


@settings(max_examples=25)
@given(names=names_st, data=st.data())
def test_csv_and_markups_round_trip(tmp_path_factory, names, data):
    pos = np.array([[data.draw(coord) for _ in range(3)] for _ in names])
    p = NamedPoints(tuple(names), pos, "mri")
    d = tmp_path_factory.mktemp("pts")
    for fn in ("p.csv", "p.mrk.json"):
        write_points(d / fn, p)
        q = read_points(d / fn, frame="mri")
        assert q.names == p.names
        np.testing.assert_allclose(q.positions, p.positions, rtol=0, atol=1e-9)


def test_csv_frame_comment(tmp_path):
    p = NamedPoints.from_dict({"a": (1, 2, 3), "b": (4, 5, 6), "c": (7, 8, 10)}, frame="tracker")
    write_points(tmp_path / "p.csv", p)
    assert read_points(tmp_path / "p.csv").frame == "tracker"  # from the comment
    assert read_points(tmp_path / "p.csv", frame="head").frame == "head"  # the caller's word wins
    (tmp_path / "q.csv").write_text("name,x_mm,y_mm,z_mm\na,1,2,3\n")
    assert read_points(tmp_path / "q.csv").frame == "unknown"


def test_markups_lps_is_converted_to_ras(tmp_path):
    lps = {"@schema": "x", "markups": [{"type": "Fiducial", "coordinateSystem": "LPS",
                                        "controlPoints": [{"label": "nasion", "position": [1.5, -90.0, 10.0]},
                                                          {"label": "lpa", "position": [70.0, 5.0, -3.0]}]}]}
    f = tmp_path / "f.mrk.json"
    f.write_text(json.dumps(lps))
    p = read_points(f)
    np.testing.assert_allclose(p["nasion"], [-1.5, 90.0, 10.0])
    np.testing.assert_allclose(p["lpa"], [-70.0, -5.0, -3.0])
    # round trip: written as RAS, read back identical, and the written file says RAS
    g = tmp_path / "g.mrk.json"
    write_points(g, p)
    assert json.loads(g.read_text())["markups"][0]["coordinateSystem"] == "RAS"
    q = read_points(g)
    np.testing.assert_allclose(q.positions, p.positions)
    # and an LPS file written by hand from those RAS points reads back to the same RAS points
    back = {"markups": [{"coordinateSystem": "LPS", "controlPoints": [
        {"label": n, "position": [-x, -y, z]} for n, (x, y, z) in zip(q.names, q.positions)]}]}
    h = tmp_path / "h.mrk.json"
    h.write_text(json.dumps(back))
    np.testing.assert_allclose(read_points(h).positions, p.positions)


@pytest.mark.parametrize("content,match", [
    ("", "empty"),
    ("# only a comment\n", "empty"),
    ("name,x_mm,y_mm\nnasion,1,2\n", "z_mm"),
    ("name,x_mm,y_mm,z_mm\nnasion,1,two,3\n", "not a number"),
    ("name,x_mm,y_mm,z_mm\nnasion,1,nan,3\n", "NaN"),
    ("name,x_mm,y_mm,z_mm\nnasion,1,2,3\nnasion,4,5,6\n", "more than once"),
    ("name,x_mm,y_mm,z_mm\n", "no points"),
    ("name,x_mm,y_mm,z_mm\nnasion,1,2\n", "fields"),
])
def test_bad_csv_is_refused_with_a_clear_sentence(tmp_path, content, match):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(InputFileError, match=match) as e:
        read_points(f)
    assert "bad.csv" in str(e.value)


@pytest.mark.parametrize("obj,match", [
    ({"nothing": 1}, "markups"),
    ({"markups": [{"coordinateSystem": "XYZ", "controlPoints": []}]}, "coordinateSystem"),
    ({"markups": [{"coordinateSystem": "RAS", "controlPoints": [{"label": "a", "position": [1, 2]}]}]}, "position"),
    ({"markups": [{"coordinateSystem": "RAS", "controlPoints": [{"label": "a", "position": [1, "x", 2]}]}]}, "not a number"),
    ({"markups": [{"coordinateSystem": "RAS", "controlPoints": []}]}, "no points"),
    ({"markups": [{"coordinateSystem": "RAS", "controlPoints": [{"label": "a", "position": [1, 2, 3]},
                                                              {"label": "a", "position": [1, 2, 3]}]}]}, "more than once"),
])
def test_bad_markups_are_refused(tmp_path, obj, match):
    f = tmp_path / "bad.mrk.json"
    f.write_text(json.dumps(obj))
    with pytest.raises(InputFileError, match=match):
        read_points(f)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_points(tmp_path / "nope.csv")
    f = tmp_path / "p.xyz"
    f.write_text("1 2 3")
    with pytest.raises(InputFileError, match="unknown point file type"):
        read_points(f)
    g = tmp_path / "g.mrk.json"
    g.write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        read_points(g)


# ----------------------------------------------------------------------------- point files as people have them
def test_names_match_case_insensitively_and_through_aliases(tmp_path):
    from navcore.points import NamedPoints, canonical_name
    from registration.paired_point import register_paired_points

    for a, b in [("Nasion", "nasion"), ("NAS", "nasion"), ("nz", "nasion"), ("LPA", "lpa"), ("left", "lpa"),
                 ("Left ear", "lpa"), ("RPA", "rpa"), ("right_preauricular", "rpa"), ("HP-01", "hp01")]:
        assert canonical_name(a) == b
    mri = NamedPoints(("nasion", "lpa", "rpa"), [[0, 90, 0], [-70, 0, 0], [70, 0, 0]], "mri")
    trk = NamedPoints(("NAS", "Left", "RIGHT"), [[10, 90, 5], [-60, 0, 5], [80, 0, 5]], "tracker")
    assert "Nasion" in mri and np.allclose(trk["nasion"], [10, 90, 5])
    fit = register_paired_points(mri, trk)  # strict: no name is 'only in' one set
    assert fit.names == ("nasion", "lpa", "rpa") and fit.fre_mm < 1e-9
    np.testing.assert_allclose(fit.T_a_from_b[:3, 3], [-10, 0, -5], atol=1e-9)
    with pytest.raises(GeometryError, match="duplicate"):
        NamedPoints(("nasion", "NAS", "lpa"), np.zeros((3, 3)))


def test_slicer_fcsv_is_read_in_ras(tmp_path):
    from navcore.points import read_points

    p = tmp_path / "F.fcsv"
    p.write_text("# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n"
                 "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
                 "vtkMRMLMarkupsFiducialNode_0,-1.5,-90.25,-20,0,0,0,1,1,1,0,Nasion,,vtkMRMLScalarVolumeNode1\n"
                 "vtkMRMLMarkupsFiducialNode_1,70,5,-40,0,0,0,1,1,1,0,LPA,,\n"
                 "vtkMRMLMarkupsFiducialNode_2,-70.5,5,-40,0,0,0,1,1,1,0,RPA,,\n")
    pts = read_points(p)
    assert pts.names == ("Nasion", "LPA", "RPA") and pts.frame == "mri"
    np.testing.assert_allclose(pts["nasion"], [1.5, 90.25, -20])  # LPS -> RAS
    np.testing.assert_allclose(pts["lpa"], [-70, -5, -40])
    q = tmp_path / "G.fcsv"
    q.write_text("# CoordinateSystem = 0\nvtkMRMLMarkupsFiducialNode_0,1,2,3,0,0,0,1,1,1,0,nas,,\n")
    np.testing.assert_allclose(read_points(q)["nasion"], [1, 2, 3])  # 0 = RAS in Slicer 4
    bad = tmp_path / "B.fcsv"
    bad.write_text("# CoordinateSystem = RAS\nid,1,2,zz,0,0,0,1,1,1,0,nas,,\n")
    with pytest.raises(InputFileError, match="not a number"):
        read_points(bad)


def test_unplaced_slicer_points_are_skipped_and_named(tmp_path):
    doc = {"markups": [{"type": "Fiducial", "coordinateSystem": "RAS", "controlPoints": [
        {"label": "nasion", "position": [0, 90, 0], "positionStatus": "defined"},
        {"label": "lpa", "position": [-70, 0, 0]},
        {"label": "rpa", "position": [0, 0, 0], "positionStatus": "undefined"},
        {"label": "inion", "position": [0, 0, 0], "positionStatus": "missing"},
        {"label": "cz", "position": [0, 0, 100], "positionStatus": "defined"}]}]}
    p = tmp_path / "f.mrk.json"
    p.write_text(json.dumps(doc))
    pts = read_points(p, "mri")
    assert pts.names == ("nasion", "lpa", "cz")
    assert len(pts.notes) == 1 and "rpa (undefined)" in pts.notes[0] and "inion (missing)" in pts.notes[0]
    from navcore.errors import RegistrationError
    from registration.paired_point import match_names

    full = NamedPoints(("nasion", "lpa", "rpa"), [[0, 90, 0], [-70, 0, 0], [70, 0, 0]], "tracker")
    with pytest.raises(RegistrationError, match="rpa missing from the mri points"):
        match_names(pts, full, ["nasion", "lpa", "rpa"])  # not read as a point at 0,0,0
    doc["markups"][0]["controlPoints"] = [doc["markups"][0]["controlPoints"][2]]
    p.write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="no points.*rpa"):
        read_points(p)


@pytest.mark.parametrize("text", ["x,y,z\n1,2,3\n-4.5,5,6\n7,8,-9\n",
                                  "1,2,3\n-4.5,5,6\n7,8,-9\n",
                                  "# frame: tracker\nx_mm,y_mm,z_mm\n1,2,3\n-4.5,5,6\n7,8,-9\n",
                                  "label,x,y,z\np1,1,2,3\np2,-4.5,5,6\np3,7,8,-9\n"])
def test_head_point_csvs_without_names(tmp_path, text):
    from navcore.points import read_points

    p = tmp_path / "hp.csv"
    p.write_text(text)
    pts = read_points(p)
    assert pts.names == ("p1", "p2", "p3")
    np.testing.assert_allclose(pts.positions, [[1, 2, 3], [-4.5, 5, 6], [7, 8, -9]])


def test_headerless_csv_with_a_bad_row_names_it(tmp_path):
    from navcore.points import read_points

    p = tmp_path / "hp.csv"
    p.write_text("1,2,3\n4,5\n")
    with pytest.raises(InputFileError, match="row 2"):
        read_points(p)
