"""targets.interop.eegcap: .elc, .sfp, .bvct and CSV electrode files (hand-written examples from
the published layouts, round trips) and a digitised cap placed on the MRI by its fiducials."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import InputFileError
from navcore.points import NamedPoints
from navcore.transforms import random_rigid
from targets.interop.eegcap import cap_to_mri, find_fiducials, read_cap, write_cap

EX = Path(__file__).parent / "interop_examples"
# the hand-written examples all hold these positions (mm, the digitiser's head frame)
EXPECTED = {"nasion": [0.0, 95.0, -20.0], "lpa": [-75.0, 0.0, -40.0], "rpa": [75.0, 0.0, -40.0],
            "F3": [-41.2, 53.5, 59.0], "Cz": [0.0, 0.0, 96.0]}


@pytest.mark.parametrize("name,labels", [
    ("cap_example.elc", ("Nz", "LPA", "RPA", "F3", "Cz")),      # in cm in the file
    ("cap_example.sfp", ("FidNz", "FidT9", "FidT10", "F3", "Cz")),
    ("cap_example.bvct", ("Nasion", "LPA", "RPA", "F3", "Cz")),
])
def test_hand_written_caps(name, labels):
    pts = read_cap(EX / name)
    assert pts.names == labels and pts.frame == "cap"
    np.testing.assert_allclose(pts.positions, np.array(list(EXPECTED.values())), atol=1e-9)
    fid = find_fiducials(pts)
    for k in ("nasion", "lpa", "rpa"):
        np.testing.assert_allclose(fid[k], EXPECTED[k])


names_st = st.lists(st.from_regex(r"[A-Z][a-z]?[0-9]{0,2}", fullmatch=True), min_size=4, max_size=30,
                    unique_by=str.lower)


@settings(max_examples=30)
@given(names=names_st, ext=st.sampled_from([".elc", ".sfp", ".bvct", ".csv"]), seed=st.integers(0, 2 ** 31))
def test_round_trip(tmp_path_factory, names, ext, seed):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(len(names), 3))
    P = 95.0 * d / np.linalg.norm(d, axis=1, keepdims=True)  # on a head-sized sphere
    pts = NamedPoints(tuple(names), P, "cap")
    f = tmp_path_factory.mktemp("cap") / f"e{ext}"
    write_cap(f, pts)
    back = read_cap(f)
    assert back.names == pts.names
    np.testing.assert_allclose(back.positions, P, atol=5e-5)  # 4 decimals in the text formats


def test_sfp_in_cm_needs_its_unit(tmp_path):
    f = tmp_path / "egi.sfp"
    f.write_text("".join(f"{n}\t{x / 10}\t{y / 10}\t{z / 10}\n" for n, (x, y, z) in EXPECTED.items()))
    with pytest.raises(InputFileError, match="span only .* not in mm"):
        read_cap(f)
    np.testing.assert_allclose(read_cap(f, unit="cm").positions, np.array(list(EXPECTED.values())), atol=1e-9)


def test_elc_label_count_must_match(tmp_path):
    f = tmp_path / "bad.elc"
    f.write_text((EX / "cap_example.elc").read_text().replace("Cz\n", ""))
    with pytest.raises(InputFileError, match="5 positions but 4 labels"):
        read_cap(f)


def test_duplicate_labels_refused(tmp_path):
    f = tmp_path / "dup.sfp"
    f.write_text((EX / "cap_example.sfp").read_text() + "f3\t1\t2\t3\n")
    with pytest.raises(InputFileError, match="f3 appear more than once"):
        read_cap(f)


@settings(max_examples=30)
@given(seed=st.integers(0, 2 ** 31))
def test_cap_placed_on_the_mri_by_its_fiducials(seed):
    """A known rigid T_mri_from_cap: the cap's F3 lands where T puts it (exact correspondences)."""
    T = random_rigid(np.random.default_rng(seed), 150.0)
    cap = read_cap(EX / "cap_example.sfp")
    fid_mri = {k: T[:3, :3] @ np.array(EXPECTED[k]) + T[:3, 3] for k in ("nasion", "lpa", "rpa")}
    placed = cap_to_mri(cap, fid_mri)
    assert placed.points.frame == "mri" and placed.fiducial_rms_mm < 1e-9
    np.testing.assert_allclose(placed.points["F3"], T[:3, :3] @ np.array(EXPECTED["F3"]) + T[:3, 3], atol=1e-9)
    np.testing.assert_allclose(placed.T_mri_from_cap, T, atol=1e-9)


def test_swapped_sides_or_missing_fiducials_refused(tmp_path):
    cap = read_cap(EX / "cap_example.sfp")
    fid = {k: np.array(v) for k, v in EXPECTED.items() if k in ("nasion", "lpa", "rpa")}
    # the cap's ear labels swapped (a digitiser mix-up): its fiducials still fit exactly, upside down
    swapped = NamedPoints(("FidNz", "FidT10", "FidT9", "F3", "Cz"), cap.positions, "cap")
    with pytest.raises(InputFileError, match="LPA and RPA are swapped"):
        cap_to_mri(swapped, fid)
    far = dict(fid, nasion=fid["nasion"] + [0, 40.0, 0])  # another head
    with pytest.raises(InputFileError, match="RMS"):
        cap_to_mri(cap, far)
    no_fid = NamedPoints(("F3", "Cz", "Fz", "Pz"), np.array([[-40, 50, 60], [0, 0, 96], [0, 50, 80], [0, -60, 80.0]]), "cap")
    with pytest.raises(InputFileError, match="no nasion"):
        cap_to_mri(no_fid, fid)
