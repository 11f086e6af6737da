"""Operator workflow: pointer collection (median, refusals) and registration with FRE/TRE rules."""
from __future__ import annotations

import numpy as np
import pytest

from navcore.errors import RegistrationError, SessionError
from navcore.points import NamedPoints
from navcore.transforms import apply, invert, make_transform, random_rigid
from navigation.navigator import Tolerances
from navtms.session import load_session, make_navigator
from navtms.workflow import (collect_fiducials_interactive, collect_point, register_session,
                             registration_report, tip_in_head)
from tracking.types import BodyPose
from navloop_helpers import POINTER_TIP_MM, Scene, fiducials_mri, make_test_session, head_pose

TIP = POINTER_TIP_MM
FID_MRI = fiducials_mri()
_session = make_test_session


def _pointer_frames(T_reg, point_mri, n, hidden=(), jitter=0.0, seed=0):
    """Poses of a pointer whose tip touches point_mri (mri) while the head moves."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        T_cam_head = head_pose(i)
        tip_head = apply(invert(T_reg), point_mri) + rng.normal(0, jitter, 3)
        R = random_rigid(rng)[:3, :3]
        T_head_pointer = make_transform(R, tip_head - R @ TIP)
        T_cam_pointer = T_cam_head @ T_head_pointer
        out.append({"head": BodyPose("head", i, i, True, T_cam_head),
                    "pointer": (BodyPose.not_visible("pointer", i, i) if i in hidden
                                else BodyPose("pointer", i, i, True, T_cam_pointer))})
    return out


def _reader(frames):
    it = iter(frames)
    return lambda: next(it, None)


def test_collect_point_median_and_refusals():
    scene = Scene.make()
    frames = _pointer_frames(scene.T_mri_from_head, FID_MRI["nasion"], 30, hidden={2, 3}, jitter=0.2)
    pt = collect_point(_reader(frames), TIP, n=20)
    expect = apply(invert(scene.T_mri_from_head), FID_MRI["nasion"])
    assert np.linalg.norm(pt.position_mm - expect) < 0.3 and pt.refused == 2 and pt.samples == 20
    assert tip_in_head(frames[2], TIP) is None
    with pytest.raises(SessionError, match="in view"):
        collect_point(_reader(_pointer_frames(scene.T_mri_from_head, FID_MRI["lpa"], 30, hidden=set(range(15)))),
                      TIP, n=20)
    with pytest.raises(SessionError, match="moved"):
        collect_point(_reader(_pointer_frames(scene.T_mri_from_head, FID_MRI["lpa"], 30, jitter=5.0)), TIP, n=20)


def test_interactive_collection_then_register_and_navigate(tmp_path):
    scene = Scene.make(2)
    s = _session(tmp_path, scene)
    frames = []
    for k, name in enumerate(FID_MRI.names):
        frames += _pointer_frames(scene.T_mri_from_head, FID_MRI[name], 20, jitter=0.3, seed=k)
    answers = iter(["", "", "", ""])
    printed = []
    fids = collect_fiducials_interactive(_reader(frames), TIP, FID_MRI.names, lambda _: next(answers),
                                         printed.append, n=20)
    assert fids.names == FID_MRI.names and len(printed) == 4
    s2 = register_session(s, FID_MRI, fids)
    rec = load_session(s.folder).registration
    assert rec is not None and rec.fre_mm < 1.0 and rec.warning == ""
    assert np.allclose(rec.T_mri_from_head, scene.T_mri_from_head, atol=1.0)
    assert set(rec.predicted_tre_mm) == {"M1"} and rec.predicted_tre_mm["M1"] > 0
    assert "FRE" in registration_report(rec)
    nav = make_navigator(s2)
    assert nav.tolerances == Tolerances(2.0, 2.5)


def test_registration_warns_above_2_and_refuses_above_3_unless_overridden(tmp_path):
    scene = Scene.make(3)
    s = _session(tmp_path, scene)
    fid_head = FID_MRI.transformed(invert(scene.T_mri_from_head), "head")

    def disturbed(d):
        pos = fid_head.positions.copy()
        pos[0] += [d, 0, 0]
        pos[1] -= [0, d, 0]
        return NamedPoints(fid_head.names, pos, "head")

    warn = register_session(s, FID_MRI, disturbed(4.0))
    assert 2.0 < warn.registration.fre_mm <= 3.0 and "consider" in warn.registration.warning
    with pytest.raises(RegistrationError, match="limit"):
        register_session(s, FID_MRI, disturbed(8.0))
    assert load_session(s.folder).registration.fre_mm == warn.registration.fre_mm   # refusal kept the old one
    over = register_session(s, FID_MRI, disturbed(8.0), override=True)
    assert over.registration.overridden and "overridden" in over.registration.warning


def test_collect_pivot_uses_every_pose_with_the_robust_fit():
    from types import SimpleNamespace

    from navcore.errors import SessionError
    from navtms.workflow import collect_pivot
    from pointer_helpers import pointer_poses
    from registration.pivot import pivot_calibration_robust

    P, wild, tip, _ = pointer_poses(np.random.default_rng(21), n=500, n_wild=10)

    def reader(poses, hide_every=7):
        it = iter(range(len(poses)))

        def read():
            i = next(it, None)
            if i is None:
                return None
            vis = i % hide_every != 0
            return {"pointer": SimpleNamespace(visible=vis, T_camera_from_body=poses[i] if vis else None)}
        return read

    seen = np.array([i % 7 != 0 for i in range(len(P))])
    res = collect_pivot(reader(P), n=1000)  # the source ends before n: all visible poses are used
    assert res.n_poses == int(seen.sum())
    np.testing.assert_allclose(res.tip_tool, pivot_calibration_robust(P[seen]).tip_tool, atol=1e-12)
    assert np.linalg.norm(res.tip_tool - tip) < 0.6 and res.inlier_fraction < 1.0
    assert collect_pivot(reader(P), n=200).n_poses == 200
    assert collect_pivot(reader(P)).n_poses == 150  # the default, as the workbench
    with pytest.raises(SessionError, match="at least 100"):
        collect_pivot(reader(P[:90]))
