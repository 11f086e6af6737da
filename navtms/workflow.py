"""Operator workflow before navigating: collect fiducials and head points with the tracked
pointer, register (registration.pipeline, the one pipeline), check FRE / predicted TRE.
Keyboard driven (terminal prompts), no GUI.

Points are collected in the head reference body frame (`head`), so the head may move:
    p_head = inv(T_camera_from_head) @ T_camera_from_pointer @ tip_pointer_mm
A point is the per-axis median of N samples; a sample is refused while the pointer or the
head body is hidden, and the point is refused when the samples spread more than
`max_spread_mm` (the pointer moved). Registration: paired points (registration.paired_point),
optionally refined on the scalp with head points (registration.icp); FRE and the predicted TRE
at every target (registration.tre) are shown; above `warn_fre_mm` (2 mm) a warning, above
`max_fre_mm` (3 mm) a refusal unless overridden.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from navcore.errors import NavtmsError, SessionError
from navcore.points import NamedPoints
from navcore.transforms import apply, invert
from navtms.session import RegistrationRecord, Session
from registration.pipeline import (DEFAULT_FLE_MM, MAX_FRE_MM, WARN_FRE_MM, RegistrationResult,
                                   RegistrationSettings, register)
from tracking.types import BodyPose


PoseReader = Callable[[], Optional[Mapping[str, BodyPose]]]


class OperatorStopped(SessionError):
    """The operator stopped at a prompt ('q', or Ctrl-D / the end of the input). points: what
    was collected before the stop (head frame), for the attempt's record."""

    def __init__(self, what: str, points: Optional[NamedPoints] = None, end_of_input: bool = False):
        self.points = points
        super().__init__(f"{what} stopped by the operator" + (" (end of input)" if end_of_input else ""))


def ask(input_fn: Optional[Callable[[str], str]], prompt: str, what: str, points: Optional[NamedPoints] = None) -> str:
    """The operator's answer to a prompt (stripped, lower case). Ctrl-D (EOFError: the end of the
    input) and 'q' raise OperatorStopped naming `what` was stopped, never a traceback."""
    try:
        ans = (input_fn or input)(prompt)
    except EOFError:
        raise OperatorStopped(what, points, end_of_input=True) from None
    ans = ans.strip().lower()
    if ans == "q":
        raise OperatorStopped(what, points)
    return ans


def tip_in_head(poses: Mapping[str, BodyPose], tip_pointer_mm: np.ndarray,
                pointer: str = "pointer", head: str = "head") -> Optional[np.ndarray]:
    """Pointer tip (3,) in the frame of body `head` (mm; pass head="coil" to touch points on the
    coil), or None when the pointer or that body is hidden."""
    p, h = poses.get(pointer), poses.get(head)
    if p is None or h is None or not p.visible or not h.visible:
        return None
    return apply(invert(h.T_camera_from_body) @ p.T_camera_from_body, np.asarray(tip_pointer_mm, float))


@dataclass(frozen=True)
class CollectedPoint:
    """position_mm: (3,) median in the head frame; spread_mm: largest sample distance from it;
    samples: accepted samples; refused: samples refused because a body was hidden."""

    position_mm: np.ndarray
    spread_mm: float
    samples: int
    refused: int


def collect_point(read_poses: PoseReader, tip_pointer_mm, n: int = 20, max_frames: int = 200,
                  max_spread_mm: float = 2.0, pointer: str = "pointer", head: str = "head") -> CollectedPoint:
    """Median of `n` pointer-tip samples in the head frame, reading frames with read_poses()
    (None = the source ended). Raises SessionError when fewer than n samples had both bodies
    visible within max_frames frames, or when the samples spread more than max_spread_mm."""
    samples, refused = [], 0
    for _ in range(max_frames):
        poses = read_poses()
        if poses is None:
            break
        p = tip_in_head(poses, tip_pointer_mm, pointer, head)
        if p is None:
            refused += 1
            continue
        samples.append(p)
        if len(samples) >= n:
            break
    if len(samples) < n:
        raise SessionError(f"only {len(samples)} of {n} samples had both the {pointer} and the {head} body "
                           f"in view ({refused} refused); keep both visible and try again")
    arr = np.asarray(samples)
    med = np.median(arr, axis=0)
    spread = float(np.max(np.linalg.norm(arr - med, axis=1)))
    if spread > max_spread_mm:
        raise SessionError(f"the pointer moved while sampling (spread {spread:.1f} mm > {max_spread_mm:.1f} mm); "
                           "hold it still on the point and try again")
    return CollectedPoint(med, spread, len(samples), refused)


def session_settings(fle_mm: Optional[float] = DEFAULT_FLE_MM, override: bool = False,
                     warn_fre_mm: float = WARN_FRE_MM, max_fre_mm: float = MAX_FRE_MM,
                     head_point_sigma_mm: float = 1.0) -> RegistrationSettings:
    """The pipeline settings of a session: as `navtms register`'s, except that a planned
    fiducial the operator skipped is no error (require_all_names False)."""
    return RegistrationSettings(fle_mm=fle_mm, head_point_sigma_mm=head_point_sigma_mm, warn_fre_mm=warn_fre_mm,
                                max_fre_mm=max_fre_mm, override=override, require_all_names=False)


def register_session(session: Session, fiducials_mri: NamedPoints, fiducials_head: NamedPoints,
                     head_points: Optional[np.ndarray] = None, scalp=None, fle_mm: Optional[float] = DEFAULT_FLE_MM,
                     override: bool = False, warn_fre_mm: float = WARN_FRE_MM,
                     max_fre_mm: float = MAX_FRE_MM,
                     settings: Optional[RegistrationSettings] = None) -> Session:
    """Register mri <- head with registration.pipeline.register (the one pipeline `navtms
    register` and the demo use), store it in the session (session.json saved) and return the
    new Session.

    fiducials_mri: planned fiducials (frame mri); fiducials_head: collected (frame head);
    head_points (N, 3) head mm and scalp (mri mm): the surface fit, when both are given.
    fle_mm: fiducial localisation error (mm) for the TRE and the ICP anchors (None: from FRE).
    settings: all of them at once (overrides the keyword arguments).
    Raises RegistrationError when FRE > max_fre_mm and not override (the session keeps its
    previous registration)."""
    settings = settings or session_settings(fle_mm, override, warn_fre_mm, max_fre_mm)
    result = session_registration(session, fiducials_mri, fiducials_head, head_points, scalp, settings)
    result.raise_if_refused()
    new = session.with_(registration=record_from_result(result))
    new.save()
    return new


def register_attempt(session: Session, fiducials_mri: NamedPoints, collect: Callable[[], tuple],
                     scalp=None, settings: Optional[RegistrationSettings] = None,
                     source: str = "", check: Optional[Callable[[RegistrationResult], None]] = None
                     ) -> tuple[Session, RegistrationResult]:
    """One registration attempt, kept apart in the session's attempts/NNN (navtms.attempts).

    collect() -> (fiducials_head NamedPoints, head_points (N, 3) head mm or None): the points of
    this attempt (prompts, a recording or files). The pipeline runs on them (the surface fit
    with `scalp` when there are head points). Accepted: the attempt's files become the
    session's fiducials_head.csv / head_points.csv and its registration the session's
    (session.json saved); returns (new session, result). Refused (RegistrationError) or aborted
    (OperatorStopped, the source ended, Ctrl-C, any error): the attempt is recorded with what
    was collected and the error re-raised; the session's registration and files are untouched.
    check(result): called before an accepted result is kept; an error it raises refuses the attempt."""
    from navcore.errors import RegistrationError
    from navtms.attempts import AttemptStatus, finish_attempt, new_attempt, save_points

    folder = new_attempt(session.folder)
    fids = head = None
    try:
        fids, head = collect()
        result = session_registration(session, fiducials_mri, fids, head, scalp if head is not None else None,
                                      settings or session_settings())
        if check is not None and result.accepted:
            try:
                check(result)
            except NavtmsError as e:
                raise RegistrationError(str(e)) from None
    except BaseException as e:
        partial = getattr(e, "points", None) if isinstance(e, OperatorStopped) else fids
        save_points(folder, partial, head)
        status = AttemptStatus.REFUSED if isinstance(e, RegistrationError) else AttemptStatus.ABORTED
        finish_attempt(folder, status, str(e) or e.__class__.__name__, source)
        raise
    return keep_attempt(session, result, fids, head, source, folder), result


def keep_attempt(session: Session, result: RegistrationResult, fiducials_head: NamedPoints,
                 head_points, source: str = "", folder=None) -> Session:
    """Record a computed registration as an attempt (attempts/NNN, a new one unless `folder` is
    given) with its points (head frame, mm). Accepted: the attempt's files become the session's
    and its registration the session's (session.json saved); the new Session is returned.
    Refused: recorded as refused and RegistrationError raised; the session is untouched.
    The CLI (register_attempt) and the workbench's Register workspace both keep attempts here."""
    from navtms.attempts import AttemptStatus, finish_attempt, new_attempt, promote, save_points

    folder = new_attempt(session.folder) if folder is None else folder
    save_points(folder, fiducials_head, head_points)
    summary = {"method": result.method, "fre_mm": result.fre_mm, "fle_mm": result.fle_mm,
               "fiducial_errors_mm": dict(result.fiducial_errors_mm), "predicted_tre_mm": dict(result.predicted_tre_mm),
               "T_mri_from_head": result.T_mri_from_b, "warnings": list(result.warnings),
               "overridden": result.overridden}
    if not result.accepted:
        finish_attempt(folder, AttemptStatus.REFUSED, result.refusal, source, summary)
        result.raise_if_refused()
    finish_attempt(folder, AttemptStatus.ACCEPTED, result.warning, source, summary)
    promote(folder, session.folder)
    rec = record_from_result(result)
    new = session.with_(registration=RegistrationRecord(**{**rec.__dict__, "attempt": f"attempts/{folder.name}"}))
    new.save()
    return new


def session_registration(session: Session, fiducials_mri: NamedPoints, fiducials_head: NamedPoints,
                         head_points: Optional[np.ndarray] = None, scalp=None,
                         settings: RegistrationSettings = None) -> RegistrationResult:
    """The pipeline's result for the session's targets (nothing saved)."""
    targets = {t.name: t.target_mri_mm for t in session.targets}
    return register(fiducials_mri, fiducials_head, head_points, scalp, settings or session_settings(), targets)


def record_from_result(r: RegistrationResult) -> RegistrationRecord:
    """The session's RegistrationRecord of an accepted pipeline result."""
    return RegistrationRecord(r.T_mri_from_b, r.method, r.fre_mm, r.fle_mm, tuple(r.names),
                              tuple(float(r.fiducial_errors_mm[n]) for n in r.names), dict(r.predicted_tre_mm),
                              r.warning, r.overridden)


def registration_report(rec: RegistrationRecord) -> str:
    """Lines for the operator: FRE, per-fiducial errors, predicted TRE per target, warning."""
    lines = [f"registration ({rec.method}): FRE {rec.fre_mm:.2f} mm (FLE used {rec.fle_mm:.2f} mm)"]
    lines += [f"  {n}: {e:.2f} mm" for n, e in zip(rec.names, rec.errors_mm)]
    lines += [f"  predicted TRE at {n}: {v:.2f} mm" for n, v in rec.predicted_tre_mm.items()]
    if rec.warning:
        lines.append(f"WARNING: {rec.warning}")
    return "\n".join(lines)


def collect_fiducials_interactive(read_poses: PoseReader, tip_pointer_mm, names: Sequence[str],
                                  input_fn: Optional[Callable[[str], str]] = None,
                                  print_fn: Callable[[str], None] = print, n: int = 20) -> NamedPoints:
    """Prompt for each fiducial: Enter samples it (touch the point first), 's' skips it, 'q'
    (or Ctrl-D) stops: OperatorStopped, carrying the points collected so far. A refused point
    (body hidden, pointer moving) is asked again. Returns the points in the head frame.
    input_fn defaults to the built-in input()."""
    got: dict[str, np.ndarray] = {}
    for name in names:
        while True:
            ans = ask(input_fn, f"Touch {name} with the pointer and press Enter (s = skip, q = stop): ",
                      "fiducial collection", NamedPoints.from_dict(got, "head") if got else None)
            if ans == "s":
                break
            try:
                pt = collect_point(read_poses, tip_pointer_mm, n=n)
            except SessionError as e:
                print_fn(f"refused: {e}")
                continue
            got[name] = pt.position_mm
            print_fn(f"{name}: {np.round(pt.position_mm, 1).tolist()} mm (spread {pt.spread_mm:.2f} mm, "
                     f"{pt.refused} samples refused)")
            break
    return NamedPoints.from_dict(got, "head")



def pose_reader(source, estimator=None) -> PoseReader:
    """read_poses() over a FrameSource: the frame's poses (pose sources) or the estimator's;
    None when the source has ended."""
    def read():
        frame = source.read()
        if frame is None:
            return None
        if frame.poses is not None:
            return dict(frame.poses)
        if estimator is None:
            raise SessionError("the source delivers images but there is no camera/tracker in the session")
        return estimator.estimate(frame)
    return read


def collect_pivot(read_poses: PoseReader, n: int = 150, tool: str = "pointer", min_poses: int = 100):
    """Pivot calibration: up to n poses of `tool` (camera frame) while it swings about its tip in
    a divot (the workbench's and `session calibrate --pivot-poses` count), or all poses until the
    source ends when that comes first
    (at least `min_poses`); returns registration.pivot.PivotResult from
    `pivot_calibration_robust` over ALL the poses collected (deterministic, threshold from the
    data; the result carries the inlier fraction, the RMS over all poses and over the inliers
    and the tip's covariance). Hidden frames are skipped; raises SessionError when the source
    ends before min_poses."""
    from registration.pivot import pivot_calibration_robust

    min_poses = min(min_poses, n)
    poses = []
    while len(poses) < n:
        p = read_poses()
        if p is None:
            if len(poses) >= min_poses:
                break
            raise SessionError(f"the source ended after {len(poses)} {tool} poses; the pivot calibration needs at "
                               f"least {min_poses}")
        b = p.get(tool)
        if b is not None and b.visible:
            poses.append(b.T_camera_from_body)
    return pivot_calibration_robust(np.asarray(poses))


def calibrate_coil_interactive(read_poses: PoseReader, tip_pointer_mm,
                               input_fn: Optional[Callable[[str], str]] = None,
                               print_fn: Callable[[str], None] = print, n: int = 20) -> np.ndarray:
    """Touch the coil centre, a point along the handle and a point on the +x (left) side with
    the pointer; returns T_coilbody_from_coil (registration.coil_calibration)."""
    from registration.coil_calibration import coil_frame_from_points

    pts = {}
    for name, what in (("centre", "the centre of the coil face"), ("handle", "a point along the handle"),
                       ("side", "a point on the coil face to the LEFT of the handle (+x)")):
        while name not in pts:
            ask(input_fn, f"Touch {what} and press Enter (q = stop): ", "coil calibration")
            try:
                pts[name] = collect_point(read_poses, tip_pointer_mm, n=n, head="coil").position_mm
            except SessionError as e:
                print_fn(f"refused: {e}")
    return coil_frame_from_points(pts["centre"], pts["handle"], pts["side"])


def collect_head_points(read_poses: PoseReader, tip_pointer_mm, n: int = 200, min_step_mm: float = 3.0,
                        max_frames: int = 100_000) -> np.ndarray:
    """Head surface points (N, 3) in the head frame while the operator sweeps the pointer over
    the scalp: one point per frame with both bodies seen, kept when at least min_step_mm from
    the previous kept point."""
    out: list[np.ndarray] = []
    for _ in range(max_frames):
        poses = read_poses()
        if poses is None:
            break
        p = tip_in_head(poses, tip_pointer_mm)
        if p is None or (out and np.linalg.norm(p - out[-1]) < min_step_mm):
            continue
        out.append(p)
        if len(out) >= n:
            break
    return np.asarray(out).reshape(-1, 3)
