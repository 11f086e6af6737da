"""Plan folder: the planner's output, read by the operator's session every day of a course.

Layout of a plan folder:
    plan.json     index (format_version 1), see below
    scalp.npz     scalp surface (targets.surface_cache format), mri mm
    brain.npz     brain surface (optional), mri mm

plan.json fields:
    format_version, created_utc, navtms_version
    mri: {path (relative to the plan folder when possible), sha256}
    fiducials: {name: [x, y, z]} in mri mm (nasion, lpa, rpa, ...), may be empty
    T_mri_from_mni: 4x4 affine (12 dof, NOT rigid) or null; mni_transform_source: text
    surfaces: {"scalp": "scalp.npz", "brain": "brain.npz" or null}
    targets: list of {name, target_mri_mm, entry_mri_mm, T_mri_from_coil (4x4 rigid, coil frame:
             origin on the coil face, +z into the head, +y along the handle), source, notes,
             mni_mm (or null), handle_angle_deg, offset_mm, entry_method,
             scalp_target_distance_mm, scalp_cortex_distance_mm (null when unknown)}
All positions are `mri` (scanner RAS+) mm.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError, PlanError
from navcore.fileio import read_json, require_matrix, write_json
from navcore.points import NamedPoints, read_points, write_points
from navcore.transforms import is_rigid
from targets.surface_cache import file_sha256, load_surface, save_surface
from targets.surfaces import Surface

FORMAT_VERSION = 1
PLAN_FILE = "plan.json"


class ChecksumWarning(UserWarning):
    """The MRI a plan refers to is not the file it was planned on."""


@dataclass(frozen=True)
class PlannedTarget:
    """One target of a plan (all mm, frame `mri`).

    name, source (citation or rule), notes: text.
    target_mri_mm, entry_mri_mm: (3,). T_mri_from_coil: 4x4 rigid.
    mni_mm: (3,) MNI152 mm when the target came from MNI, else None.
    """

    name: str
    target_mri_mm: np.ndarray
    entry_mri_mm: np.ndarray
    T_mri_from_coil: np.ndarray
    source: str = ""
    notes: str = ""
    mni_mm: np.ndarray | None = None
    handle_angle_deg: float = 45.0
    offset_mm: float = 5.0
    entry_method: str = "closest"
    scalp_target_distance_mm: float = float("nan")
    scalp_cortex_distance_mm: float = float("nan")

    def to_json(self) -> dict:
        return {"name": self.name, "target_mri_mm": self.target_mri_mm, "entry_mri_mm": self.entry_mri_mm,
                "T_mri_from_coil": self.T_mri_from_coil, "source": self.source, "notes": self.notes,
                "mni_mm": self.mni_mm, "handle_angle_deg": self.handle_angle_deg, "offset_mm": self.offset_mm,
                "entry_method": self.entry_method, "scalp_target_distance_mm": self.scalp_target_distance_mm,
                "scalp_cortex_distance_mm": self.scalp_cortex_distance_mm}


@dataclass(frozen=True)
class Plan:
    """A whole plan. mri_path: absolute path of the MRI; mri_sha256: its content hash.
    fiducials: NamedPoints in `mri` (may be empty). T_mri_from_mni: 4x4 affine or None.
    scalp, brain: surfaces (brain may be None). folder: where it was loaded from (or None)."""

    mri_path: Path
    mri_sha256: str
    targets: tuple[PlannedTarget, ...]
    fiducials: NamedPoints = field(default_factory=lambda: NamedPoints((), np.zeros((0, 3)), "mri"))
    T_mri_from_mni: np.ndarray | None = None
    mni_transform_source: str = ""
    scalp: Surface | None = None
    brain: Surface | None = None
    created_utc: str = ""
    folder: Path | None = None

    def target(self, name: str) -> PlannedTarget:
        for t in self.targets:
            if t.name == name:
                return t
        raise PlanError(f"the plan has no target '{name}'; it has {', '.join(t.name for t in self.targets) or 'none'}")


def _rel_or_abs(path: Path, folder: Path) -> str:
    """The MRI path relative to the plan folder when they share a project (at most two levels
    up), else absolute, so a plan moved with its MRI still finds it."""
    path = Path(path).resolve()
    try:
        rel = os.path.relpath(path, folder.resolve())
    except ValueError:  # other drive
        return str(path)
    return rel if Path(rel).parts[:3].count("..") <= 2 else str(path)


def save_plan(plan: Plan, folder: str | Path, force: bool = False, exports: bool = True) -> Path:
    """Write the plan folder atomically: everything goes into a temporary folder beside it, which
    is renamed into place. An existing folder is refused (PlanError) unless `force`, in which case
    only the plan's own files (PLAN_OWNED_FILES) are replaced, after the new ones are complete;
    the course's files in the folder (sessions/, threshold.json, hotspot.json) are kept. exports: also write targets.csv,
    targets.mrk.json, entries.mrk.json and fiducials.mrk.json (3D Slicer, RAS). Returns the
    plan.json path."""
    folder = Path(folder)
    if folder.exists() and not force:
        raise PlanError(f"{folder}: the plan folder already exists; give --force to replace it")
    if folder.exists() and not (folder / PLAN_FILE).is_file():
        raise PlanError(f"{folder}: exists and is not a plan folder; refusing to replace it")
    parent = folder.resolve().parent
    if not parent.is_dir():
        raise InputFileError(parent, "the folder that should hold the plan does not exist")
    if plan.scalp is None:
        raise PlanError("a plan needs a scalp surface")
    names = [t.name for t in plan.targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PlanError(f"the plan names the target(s) {', '.join(dup)} more than once")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    try:
        save_surface(tmp / "scalp.npz", plan.scalp, {"kind": "scalp", "mri_sha256": plan.mri_sha256})
        if plan.brain is not None:
            save_surface(tmp / "brain.npz", plan.brain, {"kind": "brain", "mri_sha256": plan.mri_sha256})
        body = {
            "created_utc": plan.created_utc or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "navtms_version": _version(),
            "mri": {"path": _rel_or_abs(plan.mri_path, folder.resolve()), "sha256": plan.mri_sha256},
            "fiducials": {n: plan.fiducials[n] for n in plan.fiducials.names},
            "T_mri_from_mni": plan.T_mri_from_mni,
            "mni_transform_source": plan.mni_transform_source,
            "surfaces": {"scalp": "scalp.npz", "brain": "brain.npz" if plan.brain is not None else None},
            "targets": [t.to_json() for t in plan.targets],
        }
        write_json(tmp / PLAN_FILE, body, format_version=FORMAT_VERSION)
        if exports and plan.targets:
            write_points(tmp / "targets.csv", targets_as_points(plan, "target"))
            write_points(tmp / "targets.mrk.json", targets_as_points(plan, "target"))
            write_points(tmp / "entries.mrk.json", targets_as_points(plan, "entry"))
        if exports and len(plan.fiducials):
            write_points(tmp / "fiducials.mrk.json", plan.fiducials)
        os.chmod(tmp, 0o755)
        if folder.exists():
            _replace_owned_files(tmp, folder)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder / PLAN_FILE


#: The files a plan folder's plan owns; everything else in it (sessions/, threshold.json,
#: hotspot.json, the user's own files) belongs to the course and is never touched.
PLAN_OWNED_FILES = ("scalp.npz", "brain.npz", "targets.csv", "targets.mrk.json", "entries.mrk.json",
                    "fiducials.mrk.json", PLAN_FILE)


def _replace_owned_files(new: Path, folder: Path) -> None:
    """Move the plan's own files from `new` into the existing `folder`, each by an atomic
    rename, plan.json last (so until then the old index stays whole); owned files the new plan
    no longer has are removed. Nothing else in the folder is touched."""
    for name in PLAN_OWNED_FILES:
        src, dst = new / name, folder / name
        if src.exists():
            os.replace(src, dst)
        elif name != PLAN_FILE and dst.exists():
            dst.unlink()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("navtms")
    except Exception:  # noqa: BLE001 - not installed: still write a plan
        return "unknown"


def _vec(path: Path, obj: dict, key: str, what: str) -> np.ndarray:
    return require_matrix(path, obj, key, (3,), what)


def load_plan(path: str | Path, checksum: str = "warn", load_surfaces: bool = True) -> Plan:
    """Load a plan folder (or its plan.json). Malformed content raises InputFileError naming the
    file and the field. checksum: "raise" (PlanError), "warn" (ChecksumWarning) or "skip" when
    the MRI file is missing or its SHA-256 differs from the plan's."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    pj = folder / PLAN_FILE if path.is_dir() else path
    obj = read_json(pj, what="plan", supported_versions=(FORMAT_VERSION,))
    mri = obj.get("mri")
    if not isinstance(mri, dict) or not isinstance(mri.get("path"), str) or not isinstance(mri.get("sha256"), str):
        raise InputFileError(pj, "the plan has no valid 'mri' entry with 'path' and 'sha256'")
    mri_path = Path(mri["path"])
    if not mri_path.is_absolute():
        mri_path = (folder / mri_path).resolve()
    if checksum not in ("raise", "warn", "skip"):
        raise ValueError(f"checksum must be 'raise', 'warn' or 'skip', not {checksum!r}")
    if checksum != "skip":
        problem = None
        if not mri_path.exists():  # a file, or a DICOM series folder
            problem = f"the plan's MRI {mri_path} is missing"
        elif file_sha256(mri_path) != mri["sha256"]:
            problem = f"the MRI {mri_path} differs from the one this plan was made on (SHA-256 mismatch)"
        if problem:
            if checksum == "raise":
                raise PlanError(f"{pj}: {problem}")
            warnings.warn(f"{pj}: {problem}", ChecksumWarning, stacklevel=2)
    fid = obj.get("fiducials", {})
    if not isinstance(fid, dict):
        raise InputFileError(pj, "'fiducials' in the plan must be an object {name: [x, y, z]}")
    fpos = [_vec(pj, fid, n, "plan's fiducials") for n in fid]
    fiducials = NamedPoints(tuple(fid), np.array(fpos).reshape(-1, 3), "mri")
    T_mni = None
    if obj.get("T_mri_from_mni") is not None:
        T_mni = require_matrix(pj, obj, "T_mri_from_mni", (4, 4), "plan")
    tl = obj.get("targets")
    if not isinstance(tl, list):
        raise InputFileError(pj, "the plan has no 'targets' list")
    targets = []
    for i, t in enumerate(tl):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            raise InputFileError(pj, f"target {i} of the plan has no name")
        what = f"plan's target '{t['name']}'"
        T = require_matrix(pj, t, "T_mri_from_coil", (4, 4), what)
        if not is_rigid(T, tol=1e-5):
            raise InputFileError(pj, f"T_mri_from_coil of the {what} is not a rigid transform")
        mni = _vec(pj, t, "mni_mm", what) if t.get("mni_mm") is not None else None
        num = {}
        for k, default in (("handle_angle_deg", 45.0), ("offset_mm", 5.0), ("scalp_target_distance_mm", np.nan),
                           ("scalp_cortex_distance_mm", np.nan)):
            v = t.get(k, default)
            v = np.nan if v is None else v
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InputFileError(pj, f"'{k}' of the {what} is not a number")
            try:
                num[k] = float(v)
            except OverflowError:
                raise InputFileError(pj, f"'{k}' of the {what} is too large a number") from None
        targets.append(PlannedTarget(
            name=t["name"], target_mri_mm=_vec(pj, t, "target_mri_mm", what),
            entry_mri_mm=_vec(pj, t, "entry_mri_mm", what), T_mri_from_coil=T,
            source=str(t.get("source", "")), notes=str(t.get("notes", "")), mni_mm=mni,
            entry_method=str(t.get("entry_method", "closest")), **num))
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise InputFileError(pj, "the plan names a target more than once")
    scalp = brain = None
    surf = obj.get("surfaces", {}) or {}
    if not isinstance(surf, dict):
        raise InputFileError(pj, "'surfaces' in the plan must be an object")
    for kind in ("scalp", "brain"):
        if surf.get(kind) is not None and not isinstance(surf.get(kind), str):
            raise InputFileError(pj, f"surfaces.{kind} in the plan must be a file name or null")
    if load_surfaces:
        try:
            if surf.get("scalp"):
                scalp = load_surface(folder / surf["scalp"])
            if surf.get("brain"):
                brain = load_surface(folder / surf["brain"])
        except OSError as e:  # e.g. a file name too long for the file system
            raise InputFileError(pj, f"a surface file named in the plan cannot be opened ({e.strerror})") from None
    return Plan(mri_path=mri_path, mri_sha256=mri["sha256"], targets=tuple(targets), fiducials=fiducials,
                T_mri_from_mni=T_mni, mni_transform_source=str(obj.get("mni_transform_source", "")),
                scalp=scalp, brain=brain, created_utc=str(obj.get("created_utc", "")), folder=folder)


# ----------------------------------------------------------------------------- interop
def targets_as_points(plan: Plan, which: str = "target") -> NamedPoints:
    """The plan's targets as NamedPoints in `mri`: which="target" (cortical) or "entry" (scalp)."""
    if which not in ("target", "entry"):
        raise ValueError("which must be 'target' or 'entry'")
    pos = [t.target_mri_mm if which == "target" else t.entry_mri_mm for t in plan.targets]
    return NamedPoints(tuple(t.name for t in plan.targets), np.array(pos).reshape(-1, 3), "mri")


def export_targets(plan: Plan, path: str | Path, which: str = "target") -> Path:
    """Write targets as CSV or 3D Slicer .mrk.json (by extension), RAS mm."""
    return write_points(path, targets_as_points(plan, which))


def export_fiducials(plan: Plan, path: str | Path) -> Path:
    """Write the plan's fiducials as CSV or .mrk.json (by extension)."""
    return write_points(path, plan.fiducials)


def import_points(path: str | Path) -> NamedPoints:
    """Read targets or fiducials (CSV or Slicer .mrk.json; LPS turned into RAS) in `mri`."""
    return read_points(path, frame="mri")


def with_targets(plan: Plan, targets) -> Plan:
    return replace(plan, targets=tuple(targets))
