"""Navigator: body poses of one frame -> live coil pose in MRI space and its target errors.

Chain (head reference body, so the head may move during the session):
    T_mri_from_coil = T_mri_from_head @ inv(T_camera_from_head) @ T_camera_from_coilbody
                      @ T_coilbody_from_coil
T_mri_from_head comes from the registration, T_coilbody_from_coil from the coil calibration
(coil body markers -> coil centre frame). All 4x4 float64, mm. Times are monotonic ns.

Safety: when the coil body or the head body is not visible in a frame, that frame's output
has no coil pose and no errors (never an old pose), and the on-target state is cleared.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from navcore.errors import PlanError
from navcore.transforms import check_rigid, invert
from targets.alignment import Alignment, alignment
from tracking.types import BodyPose

STALE_NS = 100_000_000  # no fresh frame for more than 100 ms -> stale


@dataclass(frozen=True)
class NavTarget:
    """The navigation target type: name, cortical target (3,) mri mm, planned T_mri_from_coil 4x4
    mm. from_any() takes a targets.plan.PlannedTarget (or anything with those fields)."""

    name: str
    target_mri_mm: np.ndarray
    T_mri_from_coil: np.ndarray

    @staticmethod
    def from_any(t: object, index: int = 0) -> "NavTarget":
        name = str(getattr(t, "name", f"target{index + 1}"))
        T = getattr(t, "T_mri_from_coil", None)
        if T is None:
            raise PlanError(f"target {name!r} has no planned coil pose (T_mri_from_coil)")
        T = check_rigid(T, f"planned coil pose of target {name!r}")
        p = getattr(t, "target_mri_mm", None)
        p = T[:3, 3].copy() if p is None else np.asarray(p, dtype=np.float64).reshape(3)
        return NavTarget(name, p, T)


class Metric(str, Enum):
    """An error the on-target verdict checks (the screen's rows use the same names)."""

    DISTANCE = "distance"
    TILT = "tilt"
    TWIST = "twist"


def _num(v: float, limit: float) -> str:
    """One decimal, two when one would print the value equal to its limit."""
    a, b = f"{v:.1f}", f"{limit:.1f}"
    return (f"{v:.2f}", f"{limit:.2f}") if a == b else (a, b)


@dataclass(frozen=True)
class OffTargetReason:
    """Why a frame is not on target: `metric`'s value (mm or deg, absolute) beyond `limit` (its
    enter limit: what must change to be on target again)."""

    metric: Metric
    value: float
    limit: float
    unit: str

    @property
    def text(self) -> str:
        """E.g. 'TILT 4.2 deg > 3.0 deg' (what the screen shows)."""
        v, lim = _num(self.value, self.limit)
        return f"{self.metric.value.upper()} {v} {self.unit} > {lim} {self.unit}"


@dataclass(frozen=True)
class Tolerances:
    """The one on-target tolerance, with hysteresis: enter when distance <= distance_mm and
    tilt <= angle_deg (and |twist| <= twist_deg when set); leave when distance > distance_mm +
    leave_margin_mm or tilt > angle_deg + leave_margin_deg (or |twist| beyond twist_deg + margin).

    It drives the navigator's on-target state, lock-to-target (navigation.pulses) and, copied
    as plain numbers into every ViewState by the viewer's sink, the screen's colour bands and
    the bullseye rings. Comparisons are made on the screen values (mm, deg) so the screen's
    colours and the loop's verdict use the very same numbers."""

    distance_mm: float = 3.0
    angle_deg: float = 3.0
    twist_deg: Optional[float] = None
    leave_margin_mm: float = 1.0
    leave_margin_deg: float = 1.0

    def to_dict(self) -> dict:
        return {"distance_mm": self.distance_mm, "angle_deg": self.angle_deg, "twist_deg": self.twist_deg,
                "leave_margin_mm": self.leave_margin_mm, "leave_margin_deg": self.leave_margin_deg}

    @staticmethod
    def from_dict(d: Mapping) -> "Tolerances":
        return Tolerances(**{k: d[k] for k in ("distance_mm", "angle_deg", "twist_deg",
                                                 "leave_margin_mm", "leave_margin_deg") if k in d})

    def limit(self, metric: Metric, margin: bool) -> Optional[float]:
        """The limit of `metric` (mm or deg): the enter limit (margin=False) or the leave
        limit (margin=True, i.e. while on target); None for an unchecked twist."""
        if metric is Metric.DISTANCE:
            return self.distance_mm + (self.leave_margin_mm if margin else 0.0)
        base = self.angle_deg if metric is Metric.TILT else self.twist_deg
        return None if base is None else base + (self.leave_margin_deg if margin else 0.0)

    def reasons(self, a: Alignment, margin: bool) -> tuple[OffTargetReason, ...]:
        """The errors of `a` beyond their limits (empty when inside); see limit()."""
        out = []
        for metric, value, unit in ((Metric.DISTANCE, a.distance_mm, "mm"), (Metric.TILT, a.tilt_deg, "deg"),
                                    (Metric.TWIST, a.twist_deg, "deg")):
            lim = self.limit(metric, margin)
            if lim is not None and not abs(value) <= lim:   # NaN counts as beyond
                out.append(OffTargetReason(metric, abs(float(value)), float(lim), unit))
        return tuple(out)

    def inside(self, a: Alignment, margin: bool) -> bool:
        """Inside the enter tolerance (margin=False) or the leave tolerance (margin=True)."""
        return not self.reasons(a, margin)


@dataclass(frozen=True)
class NavOutput:
    """Navigation result of one frame.

    T_mri_from_coil: live coil pose (4x4, mri mm) or None when the coil or head body is not
    visible in this frame. errors: alignment to the current target, None when no pose.
    pose_age_ns: output time minus capture time on the loop's clock (replays use the recorded
    clock). latency_ns: capture->errors on the monotonic clock (time the frame entered the
    loop to the time this output was made). stale: pose_age_ns > stale limit."""

    frame_number: int
    capture_ns: int
    coil_visible: bool
    head_visible: bool
    target_index: int
    target_name: str
    T_mri_from_coil: Optional[np.ndarray]
    errors: Optional[Alignment]
    on_target: bool
    pose_age_ns: int
    latency_ns: int
    stale: bool
    predicted_tre_mm: float = math.nan
    poses: Mapping[str, BodyPose] = field(default_factory=dict)
    reasons: tuple[OffTargetReason, ...] = ()
    tolerances: Tolerances = Tolerances()

    @property
    def visible(self) -> bool:
        return self.T_mri_from_coil is not None


class Navigator:
    """Turns per-frame body poses into NavOutput (coil pose in mri, errors, on-target state).

    targets: planned targets (objects with name, target_mri_mm, T_mri_from_coil) or NavTarget.
    T_mri_from_head: registration (4x4 mm). T_coilbody_from_coil: coil calibration (4x4 mm).
    predicted_tre_mm: from the registration, copied to each output: one figure (mm) or a
    mapping target name -> mm (targets not in it get NaN). clock: the clock pose age is
    measured on (monotonic ns by default)."""

    def __init__(self, targets: Sequence[object], T_mri_from_head: np.ndarray,
                 T_coilbody_from_coil: np.ndarray = None, predicted_tre_mm: float | Mapping[str, float] = math.nan,
                 tolerances: Tolerances = Tolerances(), coil_body: str = "coil", head_body: str = "head",
                 stale_ns: int = STALE_NS, clock: Callable[[], int] = time.monotonic_ns):
        self.targets = [NavTarget.from_any(t, i) for i, t in enumerate(targets)]
        if not self.targets:
            raise PlanError("the plan has no targets to navigate to")
        self.T_mri_from_head = check_rigid(T_mri_from_head, "registration T_mri_from_head")
        self.T_coilbody_from_coil = (np.eye(4) if T_coilbody_from_coil is None
                                     else check_rigid(T_coilbody_from_coil, "coil calibration T_coilbody_from_coil"))
        if isinstance(predicted_tre_mm, Mapping):
            self._tre = {str(k): float(v) for k, v in predicted_tre_mm.items()}
        else:
            self._tre = {t.name: float(predicted_tre_mm) for t in self.targets}
        self.tolerances = tolerances
        self.coil_body, self.head_body = coil_body, head_body
        self.stale_ns = int(stale_ns)
        self.clock = clock
        self.target_index = 0
        self.on_target = False
        self.last: Optional[NavOutput] = None

    @property
    def predicted_tre_mm(self) -> float:
        """Predicted TRE (mm) at the current target, NaN when unknown."""
        return self._tre.get(self.target.name, math.nan)

    @property
    def target(self) -> NavTarget:
        return self.targets[self.target_index]

    def select_target(self, index: int) -> NavTarget:
        """Switch to target `index` (wraps around); the on-target state restarts."""
        self.target_index = int(index) % len(self.targets)
        self.on_target = False
        return self.target

    def next_target(self) -> NavTarget:
        return self.select_target(self.target_index + 1)

    def coil_pose(self, poses: Mapping[str, BodyPose]) -> Optional[np.ndarray]:
        """T_mri_from_coil (4x4 mm) from one frame's poses, or None if coil or head is unseen."""
        coil, head = poses.get(self.coil_body), poses.get(self.head_body)
        if coil is None or head is None or not coil.visible or not head.visible:
            return None
        return (self.T_mri_from_head @ invert(head.T_camera_from_body)
                @ coil.T_camera_from_body @ self.T_coilbody_from_coil)

    def errors_for(self, T_mri_from_coil: np.ndarray, target_index: Optional[int] = None) -> Alignment:
        t = self.targets[self.target_index if target_index is None else target_index]
        return alignment(t.T_mri_from_coil, T_mri_from_coil, t.target_mri_mm)

    def update(self, poses: Mapping[str, BodyPose], frame_number: int, capture_ns: int,
               entered_ns: Optional[int] = None) -> NavOutput:
        """One frame's output. entered_ns: monotonic time the frame entered the loop (for the
        latency figure; defaults to capture_ns)."""
        T = self.coil_pose(poses)
        coil, head = poses.get(self.coil_body), poses.get(self.head_body)
        errs, reasons = None, ()
        if T is None:
            self.on_target = False
        else:
            errs = self.errors_for(T)
            # the verdict has hysteresis (leave limits while on target); the reasons name every
            # error beyond its enter limit, i.e. what must change to be on target again
            self.on_target = self.tolerances.inside(errs, margin=self.on_target)
            reasons = () if self.on_target else self.tolerances.reasons(errs, margin=False)
        age = int(self.clock()) - int(capture_ns)
        latency = time.monotonic_ns() - int(capture_ns if entered_ns is None else entered_ns)
        out = NavOutput(
            frame_number=int(frame_number), capture_ns=int(capture_ns),
            coil_visible=bool(coil is not None and coil.visible),
            head_visible=bool(head is not None and head.visible),
            target_index=self.target_index, target_name=self.target.name,
            T_mri_from_coil=T, errors=errs, on_target=self.on_target,
            pose_age_ns=age, latency_ns=latency, stale=age > self.stale_ns,
            predicted_tre_mm=self.predicted_tre_mm, poses=dict(poses), reasons=reasons,
            tolerances=self.tolerances)
        self.last = out
        return out

    def is_stale(self, now_ns: Optional[int] = None) -> bool:
        """True when no output has been made or the last one is older than the stale limit."""
        if self.last is None:
            return True
        now = int(self.clock() if now_ns is None else now_ns)
        return now - self.last.capture_ns > self.stale_ns

