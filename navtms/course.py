"""A treatment course: one plan, many daily session folders, and how well day N matched day 1.

Sessions of a course: every session folder under PLAN_DIR/sessions/ plus folders given
explicitly (a session folder, or a folder of session folders). A session must name this plan
(session.json "plan"); a session naming another existing plan is refused (SessionError). A
session under PLAN_DIR/sessions/ whose recorded plan path no longer exists is taken as this
plan's (the plan folder was moved with its sessions).

Each session folder may hold protocol.json, what the operator entered (navtms.session_protocol);
without it the date is session.json's created_utc and the protocol is unknown.

Pulses come from the session's pulses.csv (navtms navigate writes it), else from the newest
sub-folder holding one (a replay report, navtms replay --out SESSION/replay).

Figures (mm, deg; positions `mri` mm; offsets in the planned coil frame of the course target):
- per session and per day: pulses requested/fired/with a pose, on-target fraction (fired
  pulses the operator saw on target), within-tolerance fraction, median and 95th percentile of
  distance, tilt and |twist|;
- repositioning: per session the mean delivered coil centre (mri mm) and mean orientation
  (chordal L2 mean of the pulse rotations, scipy Rotation.mean); across sessions the RMS
  distance of the session means from the course mean and the largest pairwise distance
  between session means; the same for orientation (deg, angle of the relative rotation).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.errors import InputFileError, SessionError
from navcore.transforms import invert
from navigation.csvlog import read_log
from navtms.session import PULSES_FILE, SESSION_FILE, load_session
from navtms.session_protocol import Protocol, read_protocol

SESSIONS_DIR = "sessions"


# ----------------------------------------------------------------------------- sessions
def find_sessions(plan_dir: str | Path, extra: Sequence[str | Path] = ()) -> list[Path]:
    """Session folders of a course: PLAN_DIR/sessions/* (except hotspot-search sessions) and
    `extra` (session folders or folders of them), each once, sorted by path. InputFileError for an extra path holding no session."""
    found: list[Path] = []
    base = Path(plan_dir) / SESSIONS_DIR
    if base.is_dir():   # hotspot-search sessions (with hotspot_grid.json) are not treatment sessions
        found += [p for p in base.iterdir() if (p / SESSION_FILE).is_file() and not (p / "hotspot_grid.json").exists()]
    for e in extra:
        e = Path(e)
        if (e / SESSION_FILE).is_file():
            found.append(e)
        elif e.is_dir():
            sub = [p for p in e.iterdir() if (p / SESSION_FILE).is_file()]
            if not sub:
                raise InputFileError(e, "holds no session folder (no session.json in it or its sub-folders)")
            found += sub
        else:
            raise InputFileError(e, "the session folder does not exist")
    out, seen = [], set()
    for p in sorted(found, key=lambda q: str(q)):
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            out.append(p)
    return out


def pulses_file(session_dir: str | Path) -> Optional[Path]:
    """The session's pulses.csv, else the newest sub-folder's (a replay report), else None."""
    folder = Path(session_dir)
    if (folder / PULSES_FILE).is_file():
        return folder / PULSES_FILE
    subs = sorted((p for p in folder.iterdir() if p.is_dir() and (p / PULSES_FILE).is_file()),
                  key=lambda p: (p.stat().st_mtime, p.name))
    return subs[-1] / PULSES_FILE if subs else None


def _plan_folder(p: Path) -> Path:
    return (p.parent if p.name == "plan.json" else p).resolve()


@dataclass
class SessionSummary:
    """One session's delivered pulses to the course target.

    distance_mm, tilt_deg, twist_deg: (N,) per fired pulse with a pose. centres_mri_mm: (N, 3)
    delivered coil centres; rotations: scipy Rotation (N) of T_mri_from_coil. mean_centre_mri_mm
    (3,) and mean_rotation (Rotation) or None without pulses. T_mri_from_plannedcoil: 4x4."""

    name: str
    folder: Path
    date: str
    protocol: Optional[Protocol]
    target: str
    T_mri_from_plannedcoil: np.ndarray
    requested: int
    fired: int
    on_target: int
    within_tolerance: int
    distance_mm: np.ndarray
    tilt_deg: np.ndarray
    twist_deg: np.ndarray
    centres_mri_mm: np.ndarray
    rotations: Optional[Rotation]
    fre_mm: float = math.nan
    pulses_path: Optional[Path] = None
    tolerances: dict = field(default_factory=dict)
    first_pulse_ns: Optional[int] = None    # fired pulses' clock (monotonic ns of the navigating machine)
    last_pulse_ns: Optional[int] = None

    @property
    def with_pose(self) -> int:
        return int(len(self.distance_mm))

    @property
    def mean_centre_mri_mm(self) -> Optional[np.ndarray]:
        return self.centres_mri_mm.mean(axis=0) if len(self.centres_mri_mm) else None

    @property
    def mean_rotation(self) -> Optional[Rotation]:
        return self.rotations.mean() if self.rotations is not None and len(self.rotations) else None


def _f(row, key) -> float:
    v = row.get(key, "")
    return float(v) if v not in ("", None) else math.nan


def summarize_session(session_dir: str | Path, plan_dir: Optional[str | Path] = None,
                      target: Optional[str] = None) -> SessionSummary:
    """Read one session folder's pulses (fired, with a pose, aimed at `target`; default: the
    target most of its pulses were aimed at). SessionError when it names another plan."""
    folder = Path(session_dir)
    s = load_session(folder)
    if plan_dir is not None and s.plan:
        recorded = _plan_folder(s.resolve(s.plan))
        inside = folder.resolve().parent == (Path(plan_dir) / SESSIONS_DIR).resolve()
        moved = inside and not (recorded / "plan.json").exists()     # plan folder moved with its sessions
        if recorded != _plan_folder(Path(plan_dir)) and not moved:
            raise SessionError(f"{folder}: the session was made with the plan {s.plan} ({recorded}), "
                               f"not {plan_dir}")
    proto = read_protocol(folder)
    date = proto.date if proto else (s.created_utc[:10] or "unknown")
    pf = pulses_file(folder)
    rows = read_log(pf, "pulse") if pf else []
    fired = [r for r in rows if r.get("fired") == "1"]
    if target is None:
        names = Counter(r["target"] for r in fired) or Counter([proto.target if proto and proto.target
                                                                else s.targets[s.target_index()].name])
        target = names.most_common(1)[0][0]
    tl = [t for t in s.targets if t.name == target]
    if not tl:
        raise SessionError(f"{folder}: the session has no target '{target}'")
    mine = [r for r in fired if r["target"] == target]
    posed = [r for r in mine if r.get("visible") == "1" and r.get("tx_mm", "") != ""]
    centres = np.array([[_f(r, "tx_mm"), _f(r, "ty_mm"), _f(r, "tz_mm")] for r in posed]).reshape(-1, 3)
    quats = np.array([[_f(r, k) for k in ("qx", "qy", "qz", "qw")] for r in posed]).reshape(-1, 4)
    rot = Rotation.from_quat(quats) if len(quats) else None
    fre = s.registration.fre_mm if s.registration is not None else math.nan
    return SessionSummary(name=folder.name, folder=folder, date=date, protocol=proto, target=target,
                          T_mri_from_plannedcoil=tl[0].T_mri_from_coil, requested=len([r for r in rows if r["target"] == target]),
                          fired=len(mine), on_target=sum(r.get("on_target") == "1" for r in mine),
                          within_tolerance=sum(r.get("within_tolerance") == "1" for r in mine),
                          distance_mm=np.array([_f(r, "distance_mm") for r in posed]),
                          tilt_deg=np.array([_f(r, "tilt_deg") for r in posed]),
                          twist_deg=np.array([_f(r, "twist_deg") for r in posed]),
                          centres_mri_mm=centres, rotations=rot, fre_mm=fre, pulses_path=pf,
                          tolerances=s.tolerances.to_dict(), first_pulse_ns=_pulse_time(mine, 0),
                          last_pulse_ns=_pulse_time(mine, -1))


def _pulse_time(rows, i) -> Optional[int]:
    from tracking.poselog import parse_time_ns

    try:
        return parse_time_ns(rows[i]["time_s"]) if rows else None
    except (KeyError, ValueError):
        return None


# ----------------------------------------------------------------------------- figures
def stats(x) -> dict:
    """n, median, p95, max of the finite values (None when empty)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0, "median": None, "p95": None, "max": None}
    return {"n": int(len(x)), "median": float(np.median(x)), "p95": float(np.percentile(x, 95)),
            "max": float(np.max(x))}


def _frac(a: int, b: int) -> Optional[float]:
    return a / b if b else None


def delivery_figures(parts: Sequence[SessionSummary]) -> dict:
    """Pulse counts and error statistics pooled over sessions (one session, or one day's)."""
    fired = sum(p.fired for p in parts)
    cat = lambda k: np.concatenate([getattr(p, k) for p in parts]) if parts else np.zeros(0)  # noqa: E731
    return {"requested": sum(p.requested for p in parts), "fired": fired,
            "with_pose": sum(p.with_pose for p in parts),
            "on_target_fraction": _frac(sum(p.on_target for p in parts), fired),
            "within_tolerance_fraction": _frac(sum(p.within_tolerance for p in parts), fired),
            "distance_mm": stats(cat("distance_mm")), "tilt_deg": stats(cat("tilt_deg")),
            "abs_twist_deg": stats(np.abs(cat("twist_deg")))}


@dataclass(frozen=True)
class Repositioning:
    """Day-to-day spread of delivered coil poses. centres_mri_mm: (S, 3) session means;
    offsets_mm: (S, 3) the same in the planned coil frame (x, y in the scalp tangent plane,
    z along the planned normal); angle_from_mean_deg: (S,) each session's mean orientation vs
    the course mean; rms/max_pairwise in mm and deg."""

    centres_mri_mm: np.ndarray
    offsets_mm: np.ndarray
    distance_from_mean_mm: np.ndarray
    rms_mm: float
    max_pairwise_mm: float
    angle_from_mean_deg: np.ndarray
    rms_deg: float
    max_pairwise_deg: float

    def to_json(self) -> dict:
        return {"rms_mm": self.rms_mm, "max_pairwise_mm": self.max_pairwise_mm, "rms_deg": self.rms_deg,
                "max_pairwise_deg": self.max_pairwise_deg, "centres_mri_mm": self.centres_mri_mm,
                "offsets_in_planned_coil_mm": self.offsets_mm,
                "distance_from_mean_mm": self.distance_from_mean_mm, "angle_from_mean_deg": self.angle_from_mean_deg}


def repositioning(centres_mri_mm, rotations: Sequence[Rotation], T_mri_from_plannedcoil) -> Repositioning:
    """Spread of per-session mean coil centres (S, 3) mri mm and mean orientations (S Rotations)."""
    c = np.asarray(centres_mri_mm, dtype=np.float64).reshape(-1, 3)
    S = len(c)
    if S == 0:
        nan = math.nan
        return Repositioning(c, c.copy(), np.zeros(0), nan, nan, np.zeros(0), nan, nan)
    m = c.mean(axis=0)
    d = np.linalg.norm(c - m, axis=1)
    pair = np.linalg.norm(c[:, None] - c[None, :], axis=2)
    T_inv = invert(np.asarray(T_mri_from_plannedcoil, dtype=np.float64))
    off = c @ T_inv[:3, :3].T + T_inv[:3, 3]
    R = Rotation.concatenate(list(rotations))
    Rm = R.mean()
    ang = np.rad2deg((Rm.inv() * R).magnitude())
    pa = np.array([[np.rad2deg((R[i].inv() * R[j]).magnitude()) for j in range(S)] for i in range(S)])
    return Repositioning(c, off, d, float(np.sqrt(np.mean(d ** 2))), float(pair.max()), ang,
                         float(np.sqrt(np.mean(ang ** 2))), float(pa.max()))


@dataclass
class Course:
    """A course: plan facts, the session summaries (by date, then name), figures per session,
    per day and repositioning, the motor threshold history (navtms.threshold)."""

    plan_dir: Path
    plan_name: str
    patient: str
    target: str
    sessions: list[SessionSummary]
    thresholds: list
    repositioning: Repositioning
    per_day: dict
    hotspot: Optional[dict] = None   # PLAN/hotspot.json (targets.hotspot), None when there is none

    def to_json(self) -> dict:
        thr = [{"date": m.date, "threshold_pct": m.threshold_pct, "site": m.site} for m in self.thresholds]
        hs = None if self.hotspot is None else {k: self.hotspot.get(k) for k in ("hotspot", "method", "unit",
                                                                                   "created_utc")}
        return {"plan": str(self.plan_dir), "plan_name": self.plan_name, "patient": self.patient,
                "target": self.target, "thresholds": thr, "hotspot": hs,
                "sessions": [{"name": s.name, "folder": str(s.folder), "date": s.date, "fre_mm": s.fre_mm,
                              "protocol": None if s.protocol is None else s.protocol.to_json(),
                              "pulses_file": None if s.pulses_path is None else str(s.pulses_path),
                              "mean_centre_mri_mm": s.mean_centre_mri_mm, **delivery_figures([s])}
                             for s in self.sessions],
                "per_day": self.per_day, "repositioning": self.repositioning.to_json()}


def load_course(plan_dir: str | Path, sessions: Sequence[str | Path] = (), target: Optional[str] = None) -> Course:
    """Read a course: the plan folder's sessions and `sessions` (see find_sessions). target:
    the course target (default: the one most pulses were aimed at). SessionError when no
    session is found."""
    import warnings

    from navtms.threshold import load_thresholds
    from targets.hotspot import HOTSPOT_FILE, load_hotspot
    from targets.plan import load_plan

    plan_dir = Path(plan_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_plan(plan_dir, checksum="skip", load_surfaces=False)   # a readable plan folder, or InputFileError
    folders = find_sessions(plan_dir, sessions)
    if not folders:
        raise SessionError(f"{plan_dir}: no session folders found (none under {SESSIONS_DIR}/ and none given with --sessions)")
    parts = [summarize_session(f, plan_dir) for f in folders]
    if target is None:
        votes = Counter()
        for p in parts:
            votes[p.target] += p.fired
        target = votes.most_common(1)[0][0]
    parts = [p if p.target == target else summarize_session(p.folder, plan_dir, target) for p in parts]
    parts.sort(key=lambda p: (p.date, p.name))
    days: dict[str, list[SessionSummary]] = {}
    for p in parts:
        days.setdefault(p.date, []).append(p)
    per_day = {d: {"sessions": [p.name for p in ps], **delivery_figures(ps)} for d, ps in days.items()}
    posed = [p for p in parts if p.with_pose]
    rep = repositioning([p.mean_centre_mri_mm for p in posed], [p.mean_rotation for p in posed],
                        posed[0].T_mri_from_plannedcoil if posed else np.eye(4))
    patient = next((p.protocol.patient for p in parts if p.protocol and p.protocol.patient), "")
    return Course(plan_dir=plan_dir, plan_name=plan_dir.resolve().name, patient=patient or plan_dir.resolve().name,
                  target=target, sessions=parts, thresholds=load_thresholds(plan_dir), repositioning=rep,
                  per_day=per_day, hotspot=load_hotspot(plan_dir) if (plan_dir / HOTSPOT_FILE).exists() else None)
