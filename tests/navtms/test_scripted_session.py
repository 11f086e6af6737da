"""The README's scripted run, command by command, on a phantom with a known answer: a session
made from files only (pivot log, coil points, navtms register's file), then a headless navigate
ended by --max-frames. The coil the recording brings onto the target must end on it."""
from __future__ import annotations

import numpy as np
import pytest

from navcore.points import NamedPoints, write_points
from navcore.transforms import apply, invert
from navigation.csvlog import read_log
from navtms.cli import main
from navtms.session import load_session
from targets.plan import Plan, PlannedTarget, save_plan
from tracking.poselog import PoseLogWriter
from navloop_helpers import Scene, approach, head_pose, sphere_surface
from test_session_command import FID, TIP, _Log, _pointer_at


@pytest.mark.filterwarnings("ignore::targets.plan.ChecksumWarning")   # the test plan's MRI is absent
@pytest.mark.slow
def test_the_readme_scripted_run_from_files_ends_on_target(tmp_path, capsys):
    scene = Scene.make(51)
    t = scene.target
    save_plan(Plan(mri_path=tmp_path / "t1.nii.gz", mri_sha256="0" * 64, fiducials=FID, scalp=sphere_surface(),
                   targets=(PlannedTarget(t.name, t.target_mri_mm, t.T_mri_from_coil[:3, 3], t.T_mri_from_coil),)),
              tmp_path / "plan")
    rng = np.random.default_rng(7)
    piv = _Log(tmp_path / "pivot_poses.csv")
    for _ in range(100):
        piv.add(_pointer_at(np.array([20.0, -10.0, 480.0]), rng), head_pose(0), np.eye(4))
    piv.w.close()
    write_points(tmp_path / "coil_points.csv", NamedPoints(
        ("centre", "handle", "side"), apply(scene.T_coilbody_from_coil, np.array([[0, 0, 0], [0, 50, 0], [40, 0, 0.0]])),
        "coilbody"))
    write_points(tmp_path / "fid_mri.csv", FID)
    write_points(tmp_path / "fid_head.csv", FID.transformed(invert(scene.T_mri_from_head), "head"))
    frames, truth = approach(scene, 80)
    with PoseLogWriter(tmp_path / "run.csv") as w:
        for f in frames:
            w.write_frame(f.poses)
    S = str(tmp_path / "S")
    for argv in (["session", "new", S, "--plan", str(tmp_path / "plan")],
                 ["session", "calibrate", S, "--pivot-from", str(tmp_path / "pivot_poses.csv"),
                  "--coil-points", str(tmp_path / "coil_points.csv")],
                 ["register", "--image-fiducials", str(tmp_path / "fid_mri.csv"), "--tracker-fiducials",
                  str(tmp_path / "fid_head.csv"), "--out", str(tmp_path / "registration.json")],
                 ["session", "register", S, "--from", str(tmp_path / "registration.json")]):
        assert main(argv) == 0, argv
    s = load_session(S)
    np.testing.assert_allclose(s.pointer_tip_mm, TIP, atol=1e-6)
    np.testing.assert_allclose(s.T_coilbody_from_coil, scene.T_coilbody_from_coil, atol=1e-9)
    np.testing.assert_allclose(s.registration.T_mri_from_head, scene.T_mri_from_head, atol=1e-9)
    assert main(["navigate", "--session", S, "--source", f"poses:{tmp_path / 'run.csv'}", "--headless",
                 "--no-keys", "--max-frames", "80"]) == 0
    rows = read_log(tmp_path / "S" / "frames.csv", "frame")
    assert 1 <= len(rows) <= 80 and rows[-1]["frame"] == "79"
    assert float(rows[-1]["distance_mm"]) < 1e-6 and rows[-1]["on_target"] == "1"   # the approach ends on the plan
