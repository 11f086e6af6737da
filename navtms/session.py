"""The operator's session folder.

Layout:
    session.json       index (format_version 1), written atomically:
        created_utc, plan (path of the plan folder or null), camera (path or null),
        bodies {coil, head, pointer: path of a body file or null; names as tracked},
        pointer_tip_mm (3,) tip in the pointer body frame (from pivot calibration) or null,
        targets [{name, target_mri_mm (3,), T_mri_from_coil 4x4}] copied from the plan
            (so the log keeps its meaning if the plan changes later), active_target,
        registration null or {T_mri_from_head 4x4, method, fre_mm, fle_mm, names, errors_mm,
            predicted_tre_mm {target: mm}, predicted_tre_max_mm, warning, overridden,
            attempt (the attempts/NNN folder it came from, "" before attempts were kept)},
        T_coilbody_from_coil 4x4 (coil calibration, identity if not calibrated),
        tolerances {distance_mm, angle_deg, twist_deg, leave_margin_mm, leave_margin_deg},
        lock_to_target, filter (One-Euro on/off)
        coil_model (optional): {"model": a coil library name or a mesh file path,
        "T_coil_from_mesh": 4x4 or null}: what the viewer draws as the planned and live coil
    fiducials_head.csv  the ACCEPTED registration's fiducials (pointer, head-body frame, navcore.points CSV)
    head_points.csv     the accepted registration's head surface points, head-body frame
    attempts/NNN/       every registration attempt apart, accepted, refused or aborted (001, 002, ...):
        attempt.json {status accepted|refused|aborted, message, source, registration or null},
        fiducials_head.csv and head_points.csv as collected; a refused or aborted attempt never
        replaces the accepted files above (navtms.attempts)
    frames.csv          per-frame navigation log (navigation.records.FRAME_COLUMNS), flushed per frame
    timing.csv          per-frame latency figures (navigation.records.TIMING_COLUMNS)
    pulses.csv          per-pulse log (navigation.pulses.PULSE_COLUMNS), flushed per row
All positions mm; transforms 4x4 `T_a_from_b`; angles in the JSON are `*_deg`.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import InputFileError, SessionError
from navcore.fileio import read_json, require_matrix, write_json
from navcore.transforms import check_rigid
from navigation.navigator import NavTarget, Tolerances

FORMAT_VERSION = 1
SESSION_FILE = "session.json"
FRAMES_FILE, TIMING_FILE, PULSES_FILE = "frames.csv", "timing.csv", "pulses.csv"
FIDUCIALS_FILE, HEAD_POINTS_FILE = "fiducials_head.csv", "head_points.csv"


@dataclass(frozen=True)
class RegistrationRecord:
    """A registration as kept in the session. T_mri_from_head: 4x4 mm. fre_mm: RMS fiducial
    error; fle_mm: localisation error used for the TRE prediction; predicted_tre_mm: per target
    name (mm). warning: text shown to the operator ("" when none)."""

    T_mri_from_head: np.ndarray
    method: str
    fre_mm: float
    fle_mm: float
    names: tuple[str, ...] = ()
    errors_mm: tuple[float, ...] = ()
    predicted_tre_mm: dict = field(default_factory=dict)
    warning: str = ""
    overridden: bool = False
    attempt: str = ""

    @property
    def predicted_tre_max_mm(self) -> float:
        return max(self.predicted_tre_mm.values()) if self.predicted_tre_mm else math.nan

    def to_json(self) -> dict:
        return {"T_mri_from_head": self.T_mri_from_head, "method": self.method, "fre_mm": self.fre_mm,
                "fle_mm": self.fle_mm, "names": list(self.names), "errors_mm": list(self.errors_mm),
                "predicted_tre_mm": dict(self.predicted_tre_mm),
                "predicted_tre_max_mm": self.predicted_tre_max_mm,
                "warning": self.warning, "overridden": self.overridden, "attempt": self.attempt}


@dataclass(frozen=True)
class Session:
    """A session folder's index. See the module docstring for the fields."""

    folder: Path
    targets: tuple[NavTarget, ...]
    plan: Optional[str] = None
    camera: Optional[str] = None
    bodies: dict = field(default_factory=lambda: {"coil": None, "head": None, "pointer": None})
    pointer_tip_mm: Optional[np.ndarray] = None
    registration: Optional[RegistrationRecord] = None
    T_coilbody_from_coil: np.ndarray = field(default_factory=lambda: np.eye(4))
    tolerances: Tolerances = Tolerances()
    lock_to_target: bool = False
    filter: bool = False
    active_target: Optional[str] = None
    created_utc: str = ""
    coil_model: Optional[dict] = None

    def path(self, name: str) -> Path:
        return self.folder / name

    def resolve(self, p: Optional[str]) -> Optional[Path]:
        """A path stored in session.json, resolved against the session folder."""
        if p is None:
            return None
        q = Path(p)
        return q if q.is_absolute() else (self.folder / q)

    def with_(self, **changes) -> "Session":
        return replace(self, **changes)

    def to_json(self) -> dict:
        return {
            "created_utc": self.created_utc, "plan": self.plan, "camera": self.camera,
            "bodies": dict(self.bodies), "pointer_tip_mm": self.pointer_tip_mm,
            "targets": [{"name": t.name, "target_mri_mm": t.target_mri_mm, "T_mri_from_coil": t.T_mri_from_coil}
                        for t in self.targets],
            "active_target": self.active_target,
            "registration": None if self.registration is None else self.registration.to_json(),
            "T_coilbody_from_coil": self.T_coilbody_from_coil,
            "tolerances": self.tolerances.to_dict(), "lock_to_target": self.lock_to_target,
            "filter": self.filter, "coil_model": self.coil_model}

    def save(self) -> Path:
        """Write session.json atomically."""
        return write_json(self.folder / SESSION_FILE, self.to_json(), format_version=FORMAT_VERSION)

    def target_index(self) -> int:
        if self.active_target is None:
            return 0
        for i, t in enumerate(self.targets):
            if t.name == self.active_target:
                return i
        raise SessionError(f"{self.folder / SESSION_FILE}: active target {self.active_target!r} is not among the targets")


def create_session(folder: str | Path, targets, plan: Optional[str | Path] = None,
                   camera: Optional[str | Path] = None, bodies: Optional[dict] = None,
                   pointer_tip_mm=None, T_coilbody_from_coil=None, tolerances: Tolerances = Tolerances(),
                   lock_to_target: bool = False, filter: bool = False, coil_model: Optional[dict] = None) -> Session:
    """Make a new session folder (refused if it already holds a session) and save session.json.
    targets: planned targets (targets.plan.PlannedTarget or anything with name,
    target_mri_mm, T_mri_from_coil)."""
    folder = Path(folder)
    if (folder / SESSION_FILE).exists():
        raise SessionError(f"{folder}: already holds a session; choose a new folder to start another")
    if folder.exists() and not folder.is_dir():
        raise SessionError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    navt = tuple(NavTarget.from_any(t, i) for i, t in enumerate(targets))
    if not navt:
        raise SessionError(f"{folder}: a session needs at least one target")
    s = Session(folder=folder, targets=navt, plan=None if plan is None else str(plan),
                camera=None if camera is None else str(camera),
                bodies=dict(bodies or {"coil": None, "head": None, "pointer": None}),
                pointer_tip_mm=None if pointer_tip_mm is None else np.asarray(pointer_tip_mm, float).reshape(3),
                T_coilbody_from_coil=(np.eye(4) if T_coilbody_from_coil is None
                                      else check_rigid(T_coilbody_from_coil, "coil calibration")),
                tolerances=tolerances, lock_to_target=lock_to_target, filter=filter,
                active_target=navt[0].name, coil_model=coil_model,
                created_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    s.save()
    return s


def _registration(path: Path, obj) -> Optional[RegistrationRecord]:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise InputFileError(path, "'registration' in the session file must be an object or null")
    T = require_matrix(path, obj, "T_mri_from_head", (4, 4), "session file")
    try:
        check_rigid(T, "registration")
        fre = float(obj.get("fre_mm", math.nan) if obj.get("fre_mm") is not None else math.nan)
        fle = float(obj.get("fle_mm", math.nan) if obj.get("fle_mm") is not None else math.nan)
        tre = {str(k): float(v) for k, v in (obj.get("predicted_tre_mm") or {}).items()}
        names = tuple(str(n) for n in obj.get("names", ()))
        errors = tuple(float(v) for v in obj.get("errors_mm", ()))
    except (TypeError, ValueError, Exception) as e:
        raise InputFileError(path, f"the registration in the session file is malformed ({e})") from None
    return RegistrationRecord(T, str(obj.get("method", "")), fre, fle, names, errors, tre,
                              str(obj.get("warning", "")), bool(obj.get("overridden", False)),
                              str(obj.get("attempt") or ""))


def _optional_text(path: Path, obj: dict, key: str) -> Optional[str]:
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        raise InputFileError(path, f"'{key}' in the session file must be text or null")
    return v


def _check_fields(path: Path, obj: dict, tolerances: Tolerances) -> dict:
    """Type checks of the plain fields of session.json; returns the bodies mapping."""
    bodies = obj.get("bodies") or {}
    if not isinstance(bodies, dict) or not all(v is None or isinstance(v, str) for v in bodies.values()):
        raise InputFileError(path, "'bodies' in the session file must map coil/head/pointer to a file name or null")
    for k, v in tolerances.to_dict().items():
        if v is None and k == "twist_deg":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v < 1e300):  # also NaN
            raise InputFileError(path, f"tolerance '{k}' in the session file must be a non-negative number")
    return bodies


def load_session(folder: str | Path) -> Session:
    """Read a session folder (or its session.json). Malformed content raises InputFileError."""
    folder = Path(folder)
    if folder.name == SESSION_FILE:
        folder = folder.parent
    path = folder / SESSION_FILE
    if not folder.is_dir():
        raise InputFileError(folder, "the session folder does not exist")
    obj = read_json(path, "session file", supported_versions=(FORMAT_VERSION,))
    raw = obj.get("targets")
    if not isinstance(raw, list) or not raw:
        raise InputFileError(path, "the session file has no 'targets' list")
    targets = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise InputFileError(path, f"target {i + 1} in the session file has no name")
        T = require_matrix(path, t, "T_mri_from_coil", (4, 4), "session file")
        p = require_matrix(path, t, "target_mri_mm", (3,), "session file")
        try:
            targets.append(NavTarget.from_any(NavTarget(t["name"], p, T), i))
        except Exception as e:
            raise InputFileError(path, f"target {t['name']!r} in the session file: {e}") from None
    T_cal = require_matrix(path, obj, "T_coilbody_from_coil", (4, 4), "session file")
    tip = obj.get("pointer_tip_mm")
    tol = obj.get("tolerances") or {}
    if not isinstance(tol, dict):
        raise InputFileError(path, "'tolerances' in the session file must be an object")
    try:
        check_rigid(T_cal, "coil calibration")
        tolerances = Tolerances.from_dict(tol)
        tip_arr = None if tip is None else require_matrix(path, obj, "pointer_tip_mm", (3,), "session file")
    except InputFileError:
        raise
    except Exception as e:
        raise InputFileError(path, f"the session file is malformed ({e})") from None
    bodies = _check_fields(path, obj, tolerances)
    return Session(folder=folder, targets=tuple(targets), plan=_optional_text(path, obj, "plan"),
                   camera=_optional_text(path, obj, "camera"), bodies=dict(bodies), pointer_tip_mm=tip_arr,
                   registration=_registration(path, obj.get("registration")),
                   T_coilbody_from_coil=T_cal, tolerances=tolerances,
                   lock_to_target=bool(obj.get("lock_to_target", False)), filter=bool(obj.get("filter", False)),
                   active_target=_optional_text(path, obj, "active_target"), created_utc=str(obj.get("created_utc", "")),
                   coil_model=_coil_model(path, obj.get("coil_model")))


def _coil_model(path: Path, obj) -> Optional[dict]:
    """The session's coil model entry, checked: {"model": str, "T_coil_from_mesh": rigid 4x4 or null}."""
    if obj is None:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), str) or not obj["model"]:
        raise InputFileError(path, "'coil_model' in the session file must be {\"model\": NAME or FILE, \"T_coil_from_mesh\": 4x4 or null}")
    T = None
    if obj.get("T_coil_from_mesh") is not None:
        T = require_matrix(path, obj, "T_coil_from_mesh", (4, 4), "session file's coil_model")
        try:
            check_rigid(T, "coil model transform", tol=1e-4)
        except Exception:
            raise InputFileError(path, "the coil model's T_coil_from_mesh is not a rigid transform") from None
    return {"model": obj["model"], "T_coil_from_mesh": T}


REPO_BODIES = Path(__file__).resolve().parents[1] / "data" / "bodies"


def body_paths(session: Session, names=("coil", "head", "pointer")) -> dict:
    """{body name: marker body file}: the session's, else the repository's data/bodies/NAME.json."""
    out = {}
    for name in names:
        p = (session.bodies or {}).get(name)
        out[name] = session.resolve(p) if p else REPO_BODIES / f"{name}.json"
    return out


def navigation_setup(session: Session):
    """navigation.wiring.NavigationSetup of a registered session (raises SessionError if unregistered)."""
    from navigation.wiring import NavigationSetup

    if session.registration is None:
        raise SessionError(f"{session.folder}: the session is not registered yet; collect fiducials and register first")
    rec = session.registration
    tre = rec.predicted_tre_mm if rec.predicted_tre_mm else rec.predicted_tre_max_mm
    return NavigationSetup(targets=tuple(session.targets), T_mri_from_head=rec.T_mri_from_head,
                           T_coilbody_from_coil=session.T_coilbody_from_coil, tolerances=session.tolerances,
                           predicted_tre_mm=tre, fre_mm=rec.fre_mm, active_target=session.target_index(),
                           lock_to_target=session.lock_to_target, filter=session.filter,
                           camera_path=session.resolve(session.camera), body_paths=body_paths(session))


def make_navigator(session: Session, **kw):
    """A navigation.navigator.Navigator for a registered session (raises SessionError if unregistered)."""
    from navigation.wiring import make_navigator as _make

    return _make(navigation_setup(session), **kw)
