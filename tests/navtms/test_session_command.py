"""`navtms session new|calibrate|register|show` on recorded pose logs (terminal keys answered)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from navcore.points import NamedPoints
from navcore.transforms import apply, invert, make_transform
from navtms.cli import main
from navtms.session import load_session
from targets.plan import Plan, PlannedTarget, save_plan
from tracking.poselog import PoseLogWriter
from tracking.types import BodyPose
from navloop_helpers import Scene, head_pose, sphere_surface

TIP = np.array([2.0, -130.0, 4.0])
FID = NamedPoints.from_dict({"nasion": [0, 90, 0], "lpa": [-90, 0, 0], "rpa": [90, 0, 0], "vertex": [0, 0, 90]},
                            "mri")


def _pointer_at(p_cam, rng, spread=0.35):
    R = Rotation.from_rotvec(rng.uniform(-spread, spread, 3)).as_matrix() @ Rotation.from_rotvec([1.2, 0, 0]).as_matrix()
    return make_transform(R, p_cam - R @ TIP)


class _Log:
    def __init__(self, path):
        self.w, self.i = PoseLogWriter(path), 0

    def add(self, T_cam_pointer, T_cam_head, T_cam_coil):
        i = self.i
        self.w.write_frame([BodyPose("pointer", i, 10**9 + i * 10**7, True, T_cam_pointer),
                            BodyPose("head", i, 10**9 + i * 10**7, True, T_cam_head),
                            BodyPose("coil", i, 10**9 + i * 10**7, True, T_cam_coil)])
        self.i += 1


@pytest.mark.filterwarnings("ignore::targets.plan.ChecksumWarning")   # the test plan's MRI is absent
def test_session_workflow_end_to_end(tmp_path, monkeypatch, capsys):
    scene = Scene.make(31)
    rng = np.random.default_rng(0)
    T_cam_coil = make_transform(Rotation.from_rotvec([0.3, -0.2, 0.1]).as_matrix(), [60.0, 10.0, 550.0])
    T_cal = scene.T_coilbody_from_coil
    # pivot + coil touches
    cal = _Log(tmp_path / "calib.csv")
    pivot = np.array([-40.0, 30.0, 500.0])
    for _ in range(150):
        cal.add(_pointer_at(pivot, rng), head_pose(0), T_cam_coil)
    for p_coil in ([0, 0, 0], [0, 60, 0], [45, 0, 0]):
        p_cam = apply(T_cam_coil @ T_cal, np.array(p_coil, float))
        for _ in range(20):
            cal.add(_pointer_at(p_cam, rng), head_pose(0), T_cam_coil)
    cal.w.close()
    # fiducials then head points, head moving
    reg = _Log(tmp_path / "register.csv")
    k = 0
    for name in FID.names:
        for _ in range(20):
            T_cam_head = head_pose(k)
            p_cam = apply(T_cam_head @ invert(scene.T_mri_from_head), FID[name])
            reg.add(_pointer_at(p_cam, rng), T_cam_head, T_cam_coil)
            k += 1
    dirs = rng.normal(size=(80, 3))
    dirs[:, 2] = np.abs(dirs[:, 2])
    for d in dirs / np.linalg.norm(dirs, axis=1, keepdims=True):
        T_cam_head = head_pose(k)
        p_cam = apply(T_cam_head @ invert(scene.T_mri_from_head), 90.0 * d)
        reg.add(_pointer_at(p_cam, rng), T_cam_head, T_cam_coil)
        k += 1
    reg.w.close()
    t = scene.target
    plan = Plan(mri_path=tmp_path / "t1.nii.gz", mri_sha256="0" * 64, fiducials=FID, scalp=sphere_surface(),
                targets=(PlannedTarget(t.name, t.target_mri_mm, t.T_mri_from_coil[:3, 3], t.T_mri_from_coil),))
    save_plan(plan, tmp_path / "plan")
    monkeypatch.setattr("builtins.input", lambda prompt="": "")

    assert main(["session", "new", str(tmp_path / "s"), "--plan", str(tmp_path / "plan"),
                 "--tolerance-mm", "2.5", "--lock-to-target"]) == 0
    assert main(["session", "register", str(tmp_path / "s"), "--source", f"poses:{tmp_path / 'register.csv'}"]) == 2
    assert main(["session", "calibrate", str(tmp_path / "s"), "--source", f"poses:{tmp_path / 'calib.csv'}",
                 "--pivot", "--pivot-poses", "150", "--coil"]) == 0  # the recording holds 150 pivot poses
    s = load_session(tmp_path / "s")
    np.testing.assert_allclose(s.pointer_tip_mm, TIP, atol=0.05)
    np.testing.assert_allclose(s.T_coilbody_from_coil, T_cal, atol=1e-3)
    assert main(["session", "register", str(tmp_path / "s"), "--source", f"poses:{tmp_path / 'register.csv'}",
                 "--head-points", "60"]) == 0
    s = load_session(tmp_path / "s")
    assert s.registration.method == "paired-point+icp" and s.registration.fre_mm < 0.5
    # the faceted test sphere pulls ICP by a few tenths of a mm; the target moves less than 0.6 mm
    tgt_head = apply(invert(scene.T_mri_from_head), t.target_mri_mm)
    assert np.linalg.norm(apply(s.registration.T_mri_from_head, tgt_head) - t.target_mri_mm) < 0.6
    assert (tmp_path / "s" / "fiducials_head.csv").exists() and (tmp_path / "s" / "head_points.csv").exists()
    out = capsys.readouterr().out
    assert "predicted TRE at M1" in out
    assert main(["session", "show", str(tmp_path / "s")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["registered"] and shown["lock_to_target"] and shown["tolerances"]["distance_mm"] == 2.5
    assert main(["session", "new", str(tmp_path / "s"), "--plan", str(tmp_path / "plan")]) == 2   # never overwritten
