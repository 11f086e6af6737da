"""navtms.eeg: digitising a cap with the pointer (head frame, then MRI through the registration),
the labels the scene draws, and the session's coil model reaching the scene."""
from __future__ import annotations

import numpy as np
import pytest

from navcore.errors import SessionError
from navcore.points import read_points
from navcore.transforms import apply, invert, make_transform, random_rigid
from navtms.eeg import ELECTRODES_HEAD, ELECTRODES_MRI, digitise_cap, scalp_labels
from navtms.session import RegistrationRecord, load_session
from tracking.types import BodyPose

from navloop_helpers import POINTER_TIP_MM, Scene, head_pose, make_test_session
from planning_helpers import SAMPLE_MRI, planning_dir, sample_fiducials, surface_cache_dir  # noqa: F401

CAP_MRI = {"F3": np.array([-40.0, 50.0, 60.0]), "Cz": np.array([0.0, 0.0, 95.0]), "F4": np.array([40.0, 50.0, 60.0])}


def _frames(T_mri_from_head, points_mri, n=20, seed=0):
    """A pointer touching each point in turn (n frames each: one collection each) while the head moves."""
    rng = np.random.default_rng(seed)
    out, i = [], 0
    for p in points_mri:
        for _ in range(n):
            T_cam_head = head_pose(i)
            tip_head = apply(invert(T_mri_from_head), p) + rng.normal(0, 0.1, 3)
            R = random_rigid(rng)[:3, :3]
            T_cam_ptr = T_cam_head @ make_transform(R, tip_head - R @ POINTER_TIP_MM)
            out.append({"head": BodyPose("head", i, i, True, T_cam_head), "pointer": BodyPose("pointer", i, i, True, T_cam_ptr)})
            i += 1
    it = iter(out)
    return lambda: next(it, None)


def _registered(tmp_path, scene):
    s = make_test_session(tmp_path, scene)
    rec = RegistrationRecord(T_mri_from_head=scene.T_mri_from_head, method="paired-point", fre_mm=0.5, fle_mm=0.5,
                             names=("nasion", "lpa", "rpa"), errors_mm=(0.4, 0.5, 0.6), predicted_tre_mm={"M1": 1.0})
    s = s.with_(registration=rec)
    s.save()
    return load_session(s.folder)


def test_digitised_cap_lands_in_the_mri(tmp_path):
    scene = Scene.make(4)
    s = _registered(tmp_path, scene)
    answers = iter([""] * 3)
    head, mri = digitise_cap(s, _frames(scene.T_mri_from_head, CAP_MRI.values()), list(CAP_MRI),
                             lambda _: next(answers), lambda _: None)
    assert mri.names == ("F3", "Cz", "F4") and mri.frame == "mri"
    for n, p in CAP_MRI.items():
        assert np.linalg.norm(mri[n] - p) < 0.3  # median of 20 samples with 0.1 mm jitter
    back = read_points(s.path(ELECTRODES_MRI), frame="mri")
    np.testing.assert_allclose(back.positions, mri.positions, atol=1e-6)
    assert read_points(s.path(ELECTRODES_HEAD)).frame == "head"
    labels = dict(scalp_labels(load_session(s.folder), None))
    assert set(labels) == set(CAP_MRI) and np.linalg.norm(labels["Cz"] - CAP_MRI["Cz"]) < 0.3


def test_unregistered_session_keeps_the_head_frame_and_skips(tmp_path):
    scene = Scene.make(5)
    s = make_test_session(tmp_path, scene)
    answers = iter(["", "s", ""])  # skip Cz
    head, mri = digitise_cap(s, _frames(scene.T_mri_from_head, [CAP_MRI["F3"], CAP_MRI["F4"]]), list(CAP_MRI),
                             lambda _: next(answers), lambda _: None)
    assert mri is None and head.names == ("F3", "F4") and not s.path(ELECTRODES_MRI).exists()
    with pytest.raises(SessionError, match="no electrode labels"):
        digitise_cap(s, _frames(scene.T_mri_from_head, []), [])


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory, sample_fiducials, surface_cache_dir):
    from navtms.cli import main

    out = tmp_path_factory.mktemp("eegplan") / "plan"
    assert main(["plan", str(SAMPLE_MRI), "--mri=-40,40,30", "--no-brain", "--fiducials", str(sample_fiducials),
                 "--cache-dir", str(surface_cache_dir), "--out", str(out)]) == 0
    return out


def test_scene_spec_carries_coil_model_and_ten_twenty_labels(tmp_path, plan_dir):
    """A session made from the sample plan with --coil-model: the scene draws that coil and the
    plan's computed 10-20 points (no cap digitised)."""
    from navtms.cli import main
    from navtms.replay import _scene_spec

    folder = tmp_path / "sess"
    assert main(["session", "new", str(folder), "--plan", str(plan_dir), "--coil-model", "figure8-cooled"]) == 0
    s = load_session(folder)
    assert s.coil_model == {"model": "figure8-cooled", "T_coil_from_mesh": None}
    spec = _scene_spec(s)
    assert spec.coil_mesh_path == "figure8-cooled"
    names = {n for n, _ in spec.scalp_labels}
    assert {"Fz", "Cz", "F3", "F4"} <= names
    f3 = dict(spec.scalp_labels)["F3"]
    assert f3[0] < 0  # left


def test_session_refuses_a_bad_coil_mesh(tmp_path, plan_dir, capsys):
    from navtms.cli import main

    bad = tmp_path / "coil.stl"
    bad.write_text("solid x\nendsolid x\n")
    assert main(["session", "new", str(tmp_path / "s"), "--plan", str(plan_dir), "--coil-model", str(bad)]) == 2
    assert "no triangles" in capsys.readouterr().err and not (tmp_path / "s").exists()
