"""`navtms session register`: every attempt kept apart (a refused or stopped one never replaces the
accepted registration or its files), 'q' and Ctrl-D say "stopped by the operator"; a session
built from files (register --from registration.json, pivot/coil calibration from files)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from navcore.points import NamedPoints, read_points, write_points
from navcore.transforms import apply, invert
from navtms.cli import main
from navtms.session import create_session, load_session
from targets.plan import Plan, PlannedTarget, save_plan
from navloop_helpers import Scene, head_pose, sphere_surface
from test_session_command import FID, TIP, _Log, _pointer_at

pytestmark = pytest.mark.filterwarnings("ignore::targets.plan.ChecksumWarning")   # the test plan's MRI is absent


def _plan_and_session(tmp_path, scene, tip=TIP):
    t = scene.target
    plan = Plan(mri_path=tmp_path / "t1.nii.gz", mri_sha256="0" * 64, fiducials=FID, scalp=sphere_surface(),
                targets=(PlannedTarget(t.name, t.target_mri_mm, t.T_mri_from_coil[:3, 3], t.T_mri_from_coil),))
    save_plan(plan, tmp_path / "plan")
    assert main(["session", "new", str(tmp_path / "s"), "--plan", str(tmp_path / "plan")]
                + ([] if tip is None else ["--pointer-tip", ",".join(map(str, tip))])) == 0
    return tmp_path / "s"


def _fiducial_log(path, scene, shift_mm=0.0, seed=0):
    """Pointer touching each planned fiducial (20 frames each); shift_mm moves the first two
    touches apart (an FRE above the 3 mm limit for 8 mm)."""
    rng = np.random.default_rng(seed)
    log, k = _Log(path), 0
    for j, name in enumerate(FID.names):
        off = np.array([shift_mm, 0, 0]) if j == 0 else (np.array([0, -shift_mm, 0]) if j == 1 else np.zeros(3))
        for _ in range(20):
            T_cam_head = head_pose(k)
            p_cam = apply(T_cam_head @ invert(scene.T_mri_from_head), FID[name] + off)
            log.add(_pointer_at(p_cam, rng), T_cam_head, np.eye(4))
            k += 1
    log.w.close()
    return path


def _answers(monkeypatch, answers):
    it = iter(answers)

    def fake(prompt=""):
        a = next(it)
        if a is EOFError:
            raise EOFError
        return a
    monkeypatch.setattr("builtins.input", fake)


def test_a_refused_or_stopped_attempt_never_replaces_the_accepted_registration(tmp_path, monkeypatch, capsys):
    scene = Scene.make(41)
    folder = _plan_and_session(tmp_path, scene)
    good = _fiducial_log(tmp_path / "good.csv", scene)
    bad = _fiducial_log(tmp_path / "bad.csv", scene, shift_mm=8.0, seed=1)

    _answers(monkeypatch, [""] * 4)
    assert main(["session", "register", str(folder), "--source", f"poses:{good}"]) == 0
    accepted = load_session(folder)
    fid_bytes = (folder / "fiducials_head.csv").read_bytes()
    session_json = (folder / "session.json").read_text()
    assert accepted.registration.attempt == "attempts/001" and accepted.registration.fre_mm < 1.0
    assert (folder / "attempts" / "001" / "fiducials_head.csv").read_bytes() == fid_bytes

    # refused: FRE above 3 mm
    _answers(monkeypatch, [""] * 4)
    capsys.readouterr()
    assert main(["session", "register", str(folder), "--source", f"poses:{bad}"]) == 2
    assert "limit" in capsys.readouterr().err
    a2 = json.loads((folder / "attempts" / "002" / "attempt.json").read_text())
    assert a2["status"] == "refused" and a2["registration"]["fre_mm"] > 3.0
    refused_pts = read_points(folder / "attempts" / "002" / "fiducials_head.csv", frame="head")
    accepted_pts = read_points(folder / "fiducials_head.csv", frame="head")
    assert np.linalg.norm(refused_pts["nasion"] - accepted_pts["nasion"]) > 5.0     # kept apart, not the same
    assert (folder / "fiducials_head.csv").read_bytes() == fid_bytes
    assert (folder / "session.json").read_text() == session_json

    # 'q' after one fiducial: stopped by the operator, never "only 1 point name(s) are common"
    _answers(monkeypatch, ["", "q"])
    assert main(["session", "register", str(folder), "--source", f"poses:{bad}"]) == 2
    err = capsys.readouterr().err
    assert "stopped by the operator" in err and "common" not in err and len(err.strip().splitlines()) == 1
    a3 = json.loads((folder / "attempts" / "003" / "attempt.json").read_text())
    assert a3["status"] == "aborted" and "stopped by the operator" in a3["message"]
    assert read_points(folder / "attempts" / "003" / "fiducials_head.csv").names == ("nasion",)

    # Ctrl-D at a prompt: one sentence, no EOFError traceback
    _answers(monkeypatch, ["", EOFError])
    assert main(["session", "register", str(folder), "--source", f"poses:{bad}"]) == 2
    err = capsys.readouterr().err
    assert "stopped by the operator (end of input)" in err and "Traceback" not in err and "EOFError" not in err
    assert json.loads((folder / "attempts" / "004" / "attempt.json").read_text())["status"] == "aborted"

    assert (folder / "fiducials_head.csv").read_bytes() == fid_bytes
    assert (folder / "session.json").read_text() == session_json
    assert load_session(folder).registration.attempt == "attempts/001"

    # a later accepted attempt becomes the session's, its files with it
    _answers(monkeypatch, [""] * 4)
    assert main(["session", "register", str(folder), "--source", f"poses:{good}"]) == 0
    assert load_session(folder).registration.attempt == "attempts/005"
    assert (folder / "fiducials_head.csv").read_bytes() == (folder / "attempts/005/fiducials_head.csv").read_bytes()


def test_ctrl_d_during_calibration_and_coil_calibration_q_are_one_sentence(tmp_path, monkeypatch, capsys):
    scene = Scene.make(42)
    folder = _plan_and_session(tmp_path, scene)
    log = _fiducial_log(tmp_path / "good.csv", scene)
    before = (folder / "session.json").read_text()
    _answers(monkeypatch, [EOFError])
    assert main(["session", "calibrate", str(folder), "--source", f"poses:{log}", "--pivot"]) == 2
    err = capsys.readouterr().err
    assert "pivot calibration stopped by the operator" in err and "Traceback" not in err
    _answers(monkeypatch, ["q"])
    assert main(["session", "calibrate", str(folder), "--source", f"poses:{log}", "--coil"]) == 2
    assert "coil calibration stopped by the operator" in capsys.readouterr().err
    assert (folder / "session.json").read_text() == before


def _fitzpatrick_tre(fid: np.ndarray, target: np.ndarray, fle: float) -> float:
    """Fitzpatrick, West & Maurer 1998, eq. 46, written out here as a second implementation:
    TRE^2 = FLE^2 / N (1 + 1/3 sum_k d_k^2 / f_k^2), d_k / f_k: distances of the target / RMS of
    the fiducials from principal axis k of the fiducial configuration."""
    c = fid.mean(axis=0)
    X = fid - c
    _, _, Vt = np.linalg.svd(X)
    ratio = 0.0
    for k in range(3):
        a = Vt[k]
        d2 = np.sum((target - c) ** 2) - np.dot(target - c, a) ** 2
        f2 = np.mean(np.sum(X ** 2, axis=1) - (X @ a) ** 2)
        ratio += d2 / f2
    return float(np.sqrt(fle ** 2 / len(fid) * (1 + ratio / 3)))


def test_register_from_the_file_navtms_register_writes(tmp_path, capsys):
    scene = Scene.make(43)
    folder = _plan_and_session(tmp_path, scene, tip=None)
    rng = np.random.default_rng(3)
    fid_head = NamedPoints(FID.names, apply(invert(scene.T_mri_from_head), FID.positions) + rng.normal(0, 0.4, (4, 3)),
                           "head")
    write_points(tmp_path / "fid_mri.csv", FID)
    write_points(tmp_path / "fid_head.csv", fid_head)
    assert main(["register", "--image-fiducials", str(tmp_path / "fid_mri.csv"), "--tracker-fiducials",
                 str(tmp_path / "fid_head.csv"), "--fle-mm", "1.5", "--out", str(tmp_path / "reg.json")]) == 0
    written = json.loads((tmp_path / "reg.json").read_text())
    capsys.readouterr()
    assert main(["session", "register", str(folder), "--from", str(tmp_path / "reg.json")]) == 0
    rec = load_session(folder).registration
    np.testing.assert_allclose(rec.T_mri_from_head, np.asarray(written["T_mri_from_tracker"]), atol=1e-9)
    assert abs(rec.fre_mm - written["fre_mm"]) < 1e-9 and rec.fle_mm == 1.5 and rec.attempt == "attempts/001"
    # predicted TRE per session target, against an independent Fitzpatrick model
    tre = _fitzpatrick_tre(FID.positions, scene.target.target_mri_mm, 1.5)
    assert abs(rec.predicted_tre_mm[scene.target.name] - tre) < 1e-6 * max(1.0, tre)
    # the phantom's truth: within the fiducial noise
    p = apply(invert(scene.T_mri_from_head), scene.target.target_mri_mm)
    assert np.linalg.norm(apply(rec.T_mri_from_head, p) - scene.target.target_mri_mm) < 2.0
    assert read_points(folder / "fiducials_head.csv").names == FID.names

    # the point file changed since the file was written: refused, the accepted one kept
    session_json = (folder / "session.json").read_text()
    moved = NamedPoints(fid_head.names, fid_head.positions + [0.5, 0, 0], "head")
    write_points(tmp_path / "fid_head.csv", moved)
    assert main(["session", "register", str(folder), "--from", str(tmp_path / "reg.json")]) == 2
    assert "changed since" in capsys.readouterr().err
    assert (folder / "session.json").read_text() == session_json
    assert json.loads((folder / "attempts/002/attempt.json").read_text())["status"] == "refused"

    # made against other planned fiducials: refused before any attempt
    other = NamedPoints(FID.names, FID.positions + [0, 5, 0], "mri")
    write_points(tmp_path / "fid_head.csv", fid_head)
    write_points(tmp_path / "other_mri.csv", other)
    assert main(["register", "--image-fiducials", str(tmp_path / "other_mri.csv"), "--tracker-fiducials",
                 str(tmp_path / "fid_head.csv"), "--out", str(tmp_path / "other.json")]) == 0
    capsys.readouterr()
    assert main(["session", "register", str(folder), "--from", str(tmp_path / "other.json")]) == 2
    assert "another plan" in capsys.readouterr().err and not (folder / "attempts/003").exists()
    # not a registration file
    (tmp_path / "junk.json").write_text('{"format_version": 1, "kind": "plan"}')
    assert main(["session", "register", str(folder), "--from", str(tmp_path / "junk.json")]) == 2
    assert "not a registration file" in capsys.readouterr().err
    assert (folder / "session.json").read_text() == session_json


def test_pivot_and_coil_calibration_from_files(tmp_path, capsys):
    scene = Scene.make(44)
    folder = _plan_and_session(tmp_path, scene, tip=None)
    rng = np.random.default_rng(5)
    cal = _Log(tmp_path / "pivot.csv")
    for _ in range(120):
        cal.add(_pointer_at(np.array([-40.0, 30.0, 500.0]), rng), head_pose(0), np.eye(4))
    cal.w.close()
    T_cal = scene.T_coilbody_from_coil
    pts = NamedPoints(("centre", "handle", "side"), apply(T_cal, np.array([[0, 0, 0], [0, 60, 0], [45, 0, 0.0]])),
                      "coilbody")
    write_points(tmp_path / "coil_points.csv", pts)
    assert main(["session", "calibrate", str(folder), "--pivot-from", str(tmp_path / "pivot.csv"),
                 "--coil-points", str(tmp_path / "coil_points.csv")]) == 0
    s = load_session(folder)
    np.testing.assert_allclose(s.pointer_tip_mm, TIP, atol=1e-6)
    np.testing.assert_allclose(s.T_coilbody_from_coil, T_cal, atol=1e-9)

    np.savetxt(tmp_path / "T.txt", invert(T_cal))
    assert main(["session", "calibrate", str(folder), "--coil-transform", str(tmp_path / "T.txt"),
                 "--pointer-tip", "1,2,3"]) == 0
    s = load_session(folder)
    np.testing.assert_allclose(s.T_coilbody_from_coil, invert(T_cal), atol=1e-12)
    np.testing.assert_allclose(s.pointer_tip_mm, [1, 2, 3])

    before = (folder / "session.json").read_text()
    bad = np.eye(4)
    bad[0, 0] = 2.0
    np.savetxt(tmp_path / "bad.txt", bad)
    (tmp_path / "few.csv").write_text("name,x_mm,y_mm,z_mm\ncentre,0,0,0\nhandle,0,60,0\n")
    for args in (["--coil-transform", str(tmp_path / "bad.txt")], ["--coil-points", str(tmp_path / "few.csv")],
                 ["--pivot-from", str(tmp_path / "coil_points.csv")], ["--pointer-tip", "1,2"],
                 ["--pivot-from", str(tmp_path / "pivot.csv"), "--coil-transform", str(tmp_path / "bad.txt")], []):
        capsys.readouterr()
        assert main(["session", "calibrate", str(folder), *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (folder / "session.json").read_text() == before    # nothing saved from a bad file
