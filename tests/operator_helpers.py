"""Shared helpers of the workbench (navtms/app) tests: recorded pose logs of an operator's
steps with a known truth, and a session whose tools deliver poses (no camera needed).

Frames: poses are T_camera_from_body 4x4 mm (camera = the tracker's frame); the pointer tip is
POINTER_TIP_MM in the pointer frame. Capture times run at `fps` so a paced replay is quick."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.transforms import apply, invert, make_transform
from tracking.poselog import write_log
from tracking.types import BodyPose
from navloop_helpers import POINTER_TIP_MM, head_pose

FPS = 400.0


def _t(i: int, fps: float = FPS) -> int:
    return 10**9 + int(round(i * 1e9 / fps))


def _vis(name, i, T, fps=FPS):
    return BodyPose(name, i, _t(i, fps), True, T, 4, 4, 0.2)


def _hidden(name, i, fps=FPS):
    return BodyPose.not_visible(name, i, _t(i, fps), 4)


def pivot_frames(pivot_camera_mm, n=200, swing_deg=20.0, noise_mm=0.15, slipped=(), seed=0,
                 tip_pointer_mm=POINTER_TIP_MM):
    """Pointer swung about its tip resting at pivot_camera_mm (camera mm); frames in `slipped`
    have the tip 6 mm off the divot (outliers). The head body is seen beside it."""
    rng = np.random.default_rng(seed)
    base = Rotation.from_rotvec([0.3, -0.2, 0.1])
    out = []
    for i in range(n):
        a = 2 * np.pi * i / n
        swing = Rotation.from_rotvec(np.radians(swing_deg) * np.array([np.cos(a), np.sin(2 * a), 0.2 * np.sin(a)]))
        R = (swing * base).as_matrix()
        pivot = np.asarray(pivot_camera_mm, float) + (np.array([6.0, 0, 0]) if i in slipped else 0.0)
        t = pivot - R @ tip_pointer_mm + rng.normal(0, noise_mm, 3)
        out.append({"pointer": _vis("pointer", i, make_transform(R, t)), "head": _vis("head", i, head_pose(i))})
    return out


def touch_frames(point_body_mm, body="coil", T_camera_from_body=None, n=60, jitter_mm=0.1, hidden=(),
                 seed=0, tip_pointer_mm=POINTER_TIP_MM):
    """Pointer whose tip rests on point_body_mm (frame of `body`), held at a random tilt, while the
    body is seen at T_camera_from_body (default: head_pose over time). Frames in `hidden` lose
    the pointer. jitter_mm: tip noise (a large value = the pointer moving)."""
    rng = np.random.default_rng(seed)
    R = Rotation.from_rotvec([0.4, 0.1, -0.3]).as_matrix()
    out = []
    for i in range(n):
        T_cb = head_pose(i) if T_camera_from_body is None else np.asarray(T_camera_from_body, float)
        tip_body = np.asarray(point_body_mm, float) + rng.normal(0, jitter_mm, 3)
        T_body_pointer = make_transform(R, tip_body - R @ tip_pointer_mm)
        frame = {body: _vis(body, i, T_cb),
                 "pointer": _hidden("pointer", i) if i in hidden else _vis("pointer", i, T_cb @ T_body_pointer)}
        if body != "head":
            frame["head"] = _vis("head", i, head_pose(i))
        out.append(frame)
    return out


def sweep_frames(points_head_mm, tip_pointer_mm=POINTER_TIP_MM):
    """Pointer tip visiting each head point (head frame) once per frame (a sweep of the scalp)."""
    R = Rotation.from_rotvec([0.2, 0.3, 0.1]).as_matrix()
    out = []
    for i, p in enumerate(np.asarray(points_head_mm, float)):
        T_ch = head_pose(i)
        T_hp = make_transform(R, p - R @ tip_pointer_mm)
        out.append({"head": _vis("head", i, T_ch), "pointer": _vis("pointer", i, T_ch @ T_hp)})
    return out


def write_frames(path, frames):
    return write_log(path, frames)


def tool_session(folder, targets, plan=None, pointer_tip_mm=None, T_coilbody_from_coil=None, tolerances=None):
    """A session for pose-delivering sources (no camera), with the repository's body files."""
    from navigation.navigator import Tolerances
    from navtms.session import create_session

    return create_session(folder, targets, plan=plan, pointer_tip_mm=pointer_tip_mm,
                          T_coilbody_from_coil=T_coilbody_from_coil, tolerances=tolerances or Tolerances())


__all__ = ["POINTER_TIP_MM", "pivot_frames", "touch_frames", "sweep_frames", "write_frames", "tool_session",
           "apply", "invert"]


def write_run(folder, scene, n=240, hidden=range(100, 120), pulse_frames=(60, 110, 200, 230), lock=True,
              fps=120.0):
    """A run folder (frames.csv, pulses.csv, timing.csv) from the real loop on an approach to the
    scene's target (navloop_helpers.approach), with pulses at the capture times of pulse_frames
    (lock to target: the early ones are refused). Returns (frames written, pulse times ns)."""
    from navigation.csvlog import CsvLog
    from navigation.loop import NavigationLoop
    from navigation.navigator import Navigator, Tolerances
    from navigation.pulses import PULSE_COLUMNS, ProtocolTrigger, PulseLog
    from navigation.sinks import FrameLogSink
    from navloop_helpers import ListSource, approach

    folder.mkdir(parents=True, exist_ok=True)
    frames, _truth = approach(scene, n, hidden=set(hidden), fps=fps)
    nav = Navigator([scene.target], scene.T_mri_from_head, scene.T_coilbody_from_coil, 1.2, Tolerances(3.0, 3.0))
    plog = CsvLog(folder / "pulses.csv", "pulse", PULSE_COLUMNS)
    pulses = PulseLog(nav, plog, lock_to_target=lock)
    times = [frames[i].capture_ns + 1000 for i in pulse_frames]
    flog = FrameLogSink(folder / "frames.csv", folder / "timing.csv")
    loop = NavigationLoop(ListSource(frames), nav, sinks=[flog], pulses=pulses,
                          protocol=ProtocolTrigger(pulses, times), mode="every", live=False)
    loop.run()
    flog.close()
    plog.close()
    return frames, times


def sphere_session(tmp, tolerances=None, lock=True):
    """A registered session on the sphere plan of course_helpers (targets m1-hand, dlpfc; 90 mm
    sphere scalp; the MRI is not readable, so no slices), registered with exact fiducials under a
    known T_mri_from_head. Returns (session, scene) where scene is a navloop_helpers.Scene for the
    first target (its T_mri_from_head / T_coilbody_from_coil are the session's)."""
    from course_helpers import make_sphere_plan
    from navcore.points import NamedPoints
    from navigation.navigator import Tolerances
    from navtms.session import create_session
    from navtms.workflow import register_session
    from navloop_helpers import Scene, rot
    from targets.plan import load_plan

    plan_dir, _axes = make_sphere_plan(tmp / "planroot")
    _sphere_mri(tmp / "planroot" / "head.nii.gz")     # a readable MRI: the slices have something to show
    plan = load_plan(plan_dir, checksum="skip")
    T_reg = make_transform(rot([0.2, 0.1, 1.0], 0.7), [10.0, -20.0, 30.0])
    T_cal = make_transform(rot([1, 0, 0], 0.2), [0.0, -30.0, 40.0])
    s = create_session(tmp / "session", plan.targets, plan=str(plan_dir), pointer_tip_mm=POINTER_TIP_MM,
                       T_coilbody_from_coil=T_cal, tolerances=tolerances or Tolerances(3.0, 3.0),
                       lock_to_target=lock)
    fids = plan.fiducials
    s = register_session(s, fids, NamedPoints(fids.names, apply(invert(T_reg), fids.positions), "head"))
    t = plan.targets[0]
    return s, Scene(T_reg, T_cal, t)


def _sphere_mri(path):
    """A 64^3 volume, 3.5 mm voxels centred on the mri origin: a bright 90 mm ball (the scalp of
    the sphere plan) with a darker 70 mm core."""
    import nibabel as nib

    n, vox = 64, 3.5
    ijk = np.indices((n, n, n)).reshape(3, -1).T
    affine = np.diag([vox, vox, vox, 1.0])
    affine[:3, 3] = -vox * (n - 1) / 2
    r = np.linalg.norm(ijk @ affine[:3, :3].T + affine[:3, 3], axis=1).reshape(n, n, n)
    data = np.where(r < 90, np.where(r < 70, 120, 220), 0).astype(np.int16)
    nib.save(nib.Nifti1Image(data, affine), str(path))


def hold_frames(scene, T_mri_from_coil, n=200, fps=FPS, t0_ns=10**9, first=0):
    """Pose frames with the coil held at T_mri_from_coil (mri) while the head drifts."""
    from tracking.types import Frame

    out = []
    for k in range(n):
        i = first + k
        t = t0_ns + int(round(i * 1e9 / fps))
        out.append(scene.poses(T_mri_from_coil, head_pose(i), i, t))
    return out
