"""targets.interop: SimNIBS, Brainsight, Localite and visor2 coil poses. Each format reads a
hand-written example built from its published layout (tests/targets/interop_examples/, the pose
derived by hand from the conventions in docs/interop.md), round-trips through navtms's writer
(hypothesis, any rigid pose) and refuses a wrong space or convention with the reason."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from navcore.errors import InputFileError
from targets.interop import AxesConvention, CoilPose, detect_format, read_coil_poses
from targets.interop import brainsight, localite, simnibs, visor2

EX = Path(__file__).parent / "interop_examples"

# The hand-written examples all hold this pose, in navtms axes: x across, y along the handle,
# z into the head (pointing right-and-down from a left-frontal scalp point).
T_EXPECTED = np.array([[-0.8, 0.0, 0.6, -45.0],
                       [0.0, 1.0, 0.0, 20.0],
                       [-0.6, 0.0, -0.8, 60.0],
                       [0.0, 0.0, 0.0, 1.0]])


def test_expected_pose_is_right_handed():
    R = T_EXPECTED[:3, :3]
    np.testing.assert_allclose(np.cross(R[:, 1], R[:, 2]), R[:, 0])  # x = y cross z


@pytest.mark.parametrize("name,fmt,convention", [
    ("simnibs_matsimnibs.txt", "simnibs", AxesConvention.SIMNIBS),
    ("brainsight_v12.txt", "brainsight", AxesConvention.BRAINSIGHT),
    ("localite_instrument_markers_ras.xml", "localite", AxesConvention.LOCALITE),
    ("localite_instrument_markers_lps.xml", "localite", AxesConvention.LOCALITE),
    ("visor2_targets.mrk", "visor2", AxesConvention.BRAINSIGHT),
])
def test_hand_written_examples_give_the_pose(name, fmt, convention):
    assert detect_format(EX / name) == fmt
    imp = read_coil_poses(EX / name)
    assert imp.convention is convention
    t = imp.targets()
    assert [p.name for p in t] == ["L-DLPFC"]
    np.testing.assert_allclose(t[0].T_mri_from_coil, T_EXPECTED, atol=1e-12)
    assert convention.value in imp.assumption and "RAS" in imp.assumption


def test_localite_lps_says_it_flipped():
    imp = read_coil_poses(EX / "localite_instrument_markers_lps.xml")
    assert "LPS" in imp.space and "RAS" in imp.space


def test_brainsight_samples_and_nulls():
    imp = brainsight.read(EX / "brainsight_v12.txt")
    s = imp.samples()
    assert [p.name for p in s] == ["Sample 1"]  # Sample 2 has (null) position: coil not tracked
    expect = T_EXPECTED.copy()
    expect[1, 3] = 21.0
    np.testing.assert_allclose(s[0].T_mri_from_coil, expect, atol=1e-12)
    assert s[0].fields["Stim. Power"] == "55" and s[0].fields["Assoc. Target"] == "L-DLPFC"
    assert s[0].fields["Time"] == "10:31:02.250"
    assert "Nasion" not in [p.name for p in imp.poses]  # landmark section skipped


def test_localite_trigger_markers():
    imp = localite.read(EX / "localite_trigger_markers.xml")
    assert imp.format == localite.FORMAT_TM
    s = imp.samples()
    assert len(s) == 1  # the untracked pulse (Localite writes the bare axis swap) is skipped
    np.testing.assert_allclose(s[0].T_mri_from_coil, T_EXPECTED, atol=1e-12)
    assert s[0].fields["recordingTime"] == "1520" and s[0].fields["amplitudeA"] == "55"


def _brainsight_text(space="NIfTI:Scanner", version="12"):
    return (EX / "brainsight_v12.txt").read_text().replace("NIfTI:Scanner", space).replace("Version: 12", f"Version: {version}")


@pytest.mark.parametrize("space,reason", [("Brainsight", "internal frame"), ("World", "World"),
                                           ("NIfTI:MNI-152", "template"), ("Talairach", "not a NIfTI")])
def test_brainsight_refuses_other_spaces_with_the_reason(tmp_path, space, reason):
    f = tmp_path / "bs.txt"
    f.write_text(_brainsight_text(space))
    with pytest.raises(InputFileError, match=f"'{space}'.*{reason}.*NIfTI:Scanner"):
        brainsight.read(f)


def test_brainsight_aligned_is_accepted_and_versions_checked(tmp_path):
    f = tmp_path / "bs.txt"
    f.write_text(_brainsight_text("NIfTI:Aligned"))
    assert brainsight.read(f).space == "NIfTI:Aligned"
    for v, ok in (("7", True), ("14", True), ("6", False), ("15", False)):
        f.write_text(_brainsight_text(version=v))
        if ok:
            brainsight.read(f)
        else:
            with pytest.raises(InputFileError, match=f"version {v} "):
                brainsight.read(f)


def test_visor2_refuses_unknown_or_missing_convention(tmp_path):
    text = (EX / "visor2_targets.mrk").read_text()
    f = tmp_path / "v.mrk"
    f.write_text(text.replace('"Brainsight"', '"Polaris"'))
    with pytest.raises(InputFileError, match="'Polaris'"):
        visor2.read(f)
    f.write_text(text.replace('"CoilAxesConvention": "Brainsight",', ""))
    with pytest.raises(InputFileError, match="does not name its CoilAxesConvention"):
        visor2.read(f)


def test_not_rigid_is_refused(tmp_path):
    f = tmp_path / "m.txt"
    f.write_text("1 0 0 0\n0 2 0 0\n0 0 1 0\n0 0 0 1\n")
    with pytest.raises(InputFileError, match="not a rigid"):
        simnibs.read(f)


def test_localite_refuses_unknown_space(tmp_path):
    f = tmp_path / "im.xml"
    f.write_text((EX / "localite_instrument_markers_ras.xml").read_text().replace('"RAS"', '"ALS"'))
    with pytest.raises(InputFileError, match="not RAS or LPS"):
        localite.read(f)


# ------------------------------------------------------------------------------------ round trips
poses_st = st.lists(st.tuples(st.tuples(*[st.floats(-3.1, 3.1)] * 3), st.tuples(*[st.floats(-120, 120)] * 3)),
                    min_size=1, max_size=4)


def _poses(raw, kind="target"):
    out = []
    for i, (rv, t) in enumerate(raw):
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(rv).as_matrix()
        T[:3, 3] = t
        out.append(CoilPose(f"t{i} name", T, kind))
    return out


@settings(max_examples=25)
@given(raw=poses_st, ext=st.sampled_from([".txt", ".npy", ".mat"]))
def test_simnibs_round_trip(tmp_path_factory, raw, ext):
    poses = _poses(raw)
    f = tmp_path_factory.mktemp("s") / f"m{ext}"
    simnibs.write(f, poses)
    back = simnibs.read(f).poses
    assert len(back) == len(poses)
    for a, b in zip(poses, back):
        np.testing.assert_allclose(b.T_mri_from_coil, a.T_mri_from_coil, atol=1e-9)
    if ext == ".txt":
        assert [b.name for b in back] == [a.name for a in poses]


@settings(max_examples=25)
@given(raw=poses_st, space=st.sampled_from(["RAS", "LPS"]))
def test_localite_round_trip(tmp_path_factory, raw, space):
    # Localite marks an untracked pulse by the bare axis swap at the origin, which is also the
    # navtms identity pose: a coil centre exactly at (0, 0, 0) cannot be told apart from "not seen"
    assume(all(np.linalg.norm(t) > 1e-3 for _, t in raw))
    poses = _poses(raw)
    d = tmp_path_factory.mktemp("l")
    localite.write_instrument_markers(d / "im.xml", poses, space)
    back = localite.read(d / "im.xml").poses
    assert [b.name for b in back] == [a.name for a in poses]
    for a, b in zip(poses, back):
        np.testing.assert_allclose(b.T_mri_from_coil, a.T_mri_from_coil, atol=1e-12)
    samples = [CoilPose(p.name, p.T_mri_from_coil, "sample", {"recordingTime": str(100 * i), "amplitudeA": "60"})
               for i, p in enumerate(poses)]
    localite.write_trigger_markers(d / "tm.xml", samples, space)
    back = localite.read(d / "tm.xml").samples()
    for i, (a, b) in enumerate(zip(samples, back)):
        np.testing.assert_allclose(b.T_mri_from_coil, a.T_mri_from_coil, atol=1e-12)
        assert b.fields["recordingTime"] == str(100 * i) and b.fields["amplitudeA"] == "60"


@settings(max_examples=25)
@given(raw=poses_st)
def test_brainsight_round_trip(tmp_path_factory, raw):
    targets = _poses(raw)
    samples = [CoilPose(f"Sample {i + 1}", p.T_mri_from_coil, "sample",
                        {"Assoc. Target": targets[0].name, "Dist. to Target": "1.25", "Stim. Power": "60"})
               for i, p in enumerate(targets)]
    f = tmp_path_factory.mktemp("b") / "bs.txt"
    brainsight.write(f, targets, samples)
    imp = brainsight.read(f)
    assert [p.name for p in imp.targets()] == [p.name for p in targets]
    for a, b in zip(targets + samples, imp.targets() + imp.samples()):
        # 4 decimals on positions, 6 on axes: what Brainsight itself prints
        np.testing.assert_allclose(b.T_mri_from_coil[:3, 3], a.T_mri_from_coil[:3, 3], atol=5e-5)
        np.testing.assert_allclose(b.T_mri_from_coil[:3, :3], a.T_mri_from_coil[:3, :3], atol=2e-6)
    assert imp.samples()[0].fields["Dist. to Target"] == "1.25"
    assert imp.samples()[0].fields["Date"] == "(null)"


@settings(max_examples=25)
@given(raw=poses_st)
def test_visor2_round_trip(tmp_path_factory, raw):
    poses = _poses(raw)
    f = tmp_path_factory.mktemp("v") / "t.mrk"
    visor2.write(f, poses)
    back = visor2.read(f).poses
    assert [b.name for b in back] == [a.name for a in poses]
    for a, b in zip(poses, back):
        np.testing.assert_allclose(b.T_mri_from_coil, a.T_mri_from_coil, atol=1e-12)


def test_cross_format_brainsight_to_localite_agrees_with_the_axis_rules(tmp_path):
    """A Brainsight target exported to Localite: the two files' matrices differ by the published
    axis maps (Brainsight = SimNIBS @ diag(-1,1,-1); Localite = SimNIBS @ swap(x,z), -y)."""
    imp = brainsight.read(EX / "brainsight_v12.txt")
    localite.write_instrument_markers(tmp_path / "im.xml", imp.targets())
    import xml.etree.ElementTree as ET

    m = ET.parse(tmp_path / "im.xml").getroot().find("InstrumentMarker/Marker/Matrix4D")
    M_loc = np.array([[float(m.get(f"data{r}{c}")) for c in range(4)] for r in range(4)])
    # by hand: Localite x = navtms z, y = -navtms y, z = navtms x
    T = T_EXPECTED
    np.testing.assert_allclose(M_loc[:3, 0], T[:3, 2], atol=1e-12)
    np.testing.assert_allclose(M_loc[:3, 1], -T[:3, 1], atol=1e-12)
    np.testing.assert_allclose(M_loc[:3, 2], T[:3, 0], atol=1e-12)
    np.testing.assert_allclose(M_loc[:3, 3], T[:3, 3], atol=1e-12)
