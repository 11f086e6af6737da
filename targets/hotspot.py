"""Motor hotspot search: a grid of coil sites on the scalp around the M1 hand knob, pulses
assigned to sites, responses (MEP amplitude or twitch) per site, and the hotspot.

Frames and units: every position is `mri` (scanner RAS+) mm; coil poses are `T_mri_from_coil`
4x4 (coil frame: origin at the coil centre on its face, +z into the head, +y along the
handle); MEP amplitudes are peak-to-peak microvolts (uV); times are integer nanoseconds
(the session's monotonic clock, as in pulses.csv) and tolerances ms at the edges.

Grid: the centre is the scalp entry over the hand knob. The tangent plane there is spanned by
`e_anterior` (the anterior direction projected onto the plane) and `e_lateral` (outwards,
away from the midline). Site (row, col) sits at (u, v) = ((centre_row - row) * spacing,
(col - centre_col) * spacing) mm in that plane (row A is the most anterior, column 1 the
most medial) and is projected back onto the scalp (closest point of the mesh). Each site
gets the coil placement of targets.placement.coil_frame (handle 45 deg posterior-lateral by
default, the motor convention). Sites are named "hs-A1" ... and carry name, target_mri_mm,
entry_mri_mm and T_mri_from_coil, so they can be navigated (navtms sessions) and drawn
(viewer SceneSpec.targets) as they are.

Pulse -> site: the site whose planned coil centre (entry lifted by the coil offset along the
outward normal) is closest to the pulse's coil centre, when that distance is at most
`max_distance_mm`; otherwise "no site" (-1).

hotspot.json (beside plan.json, format_version 1, atomic): grid parameters and sites, per-site
response statistics, the chosen site, how it was chosen ("max-mean" or "operator") and when.
The hotspot is also added to plan.json as a target named "hotspot" (add_plan_target).
"""
from __future__ import annotations

import csv
import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from navcore.errors import GeometryError, InputFileError, PlanError
from navcore.fileio import read_json, write_json
from targets.placement import DEFAULT_OFFSET_MM, HeadAxes, closest_point_on_mesh, coil_frame, patch_normal
from targets.plan import PLAN_FILE, PlannedTarget

FORMAT_VERSION = 1
HOTSPOT_FILE = "hotspot.json"
MOTOR_HANDLE_ANGLE_DEG = 45.0
ROW_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class GridSite:
    """One grid site. u_mm, v_mm: position in the tangent plane (anterior, lateral) mm.
    entry_mri_mm: (3,) scalp point; target_mri_mm: (3,) the point `depth_mm` under the entry
    along the inward normal; T_mri_from_coil: 4x4 planned coil pose (all `mri` mm)."""

    name: str
    row: int
    col: int
    u_mm: float
    v_mm: float
    entry_mri_mm: np.ndarray
    target_mri_mm: np.ndarray
    T_mri_from_coil: np.ndarray

    @property
    def coil_centre_mri_mm(self) -> np.ndarray:
        return self.T_mri_from_coil[:3, 3]


@dataclass(frozen=True)
class HotspotGrid:
    """A hotspot search grid. centre_mri_mm: (3,) scalp centre; e_anterior, e_lateral, normal:
    (3,) unit vectors (tangent plane axes and outward scalp normal at the centre), `mri`."""

    centre_mri_mm: np.ndarray
    e_anterior: np.ndarray
    e_lateral: np.ndarray
    normal: np.ndarray
    rows: int
    cols: int
    spacing_mm: float
    handle_angle_deg: float
    offset_mm: float
    depth_mm: float
    sites: tuple[GridSite, ...]

    def site(self, name: str) -> GridSite:
        for s in self.sites:
            if s.name == name:
                return s
        raise PlanError(f"the hotspot grid has no site '{name}'")

    def to_json(self) -> dict:
        return {"centre_mri_mm": self.centre_mri_mm, "e_anterior": self.e_anterior, "e_lateral": self.e_lateral,
                "normal": self.normal, "rows": self.rows, "cols": self.cols, "spacing_mm": self.spacing_mm,
                "handle_angle_deg": self.handle_angle_deg, "offset_mm": self.offset_mm, "depth_mm": self.depth_mm,
                "sites": [{"name": s.name, "row": s.row, "col": s.col, "u_mm": s.u_mm, "v_mm": s.v_mm,
                           "entry_mri_mm": s.entry_mri_mm, "target_mri_mm": s.target_mri_mm,
                           "T_mri_from_coil": s.T_mri_from_coil} for s in self.sites]}


def site_name(row: int, col: int) -> str:
    """'hs-A1' for row 0, column 0."""
    return f"hs-{ROW_LETTERS[row]}{col + 1}"


def make_grid(scalp, centre_mri_mm, axes: Optional[HeadAxes] = None, rows: int = 5, cols: int = 5,
              spacing_mm: float = 10.0, handle_angle_deg: float = MOTOR_HANDLE_ANGLE_DEG,
              offset_mm: float = DEFAULT_OFFSET_MM, depth_mm: float = 20.0) -> HotspotGrid:
    """A rows x cols grid of coil sites, `spacing_mm` apart in the scalp's tangent plane at
    `centre_mri_mm` (snapped onto the scalp first; give the M1 entry or the hand-knob target),
    projected back onto the scalp. axes: anatomical directions (default: MRI axes, midline
    through the scalp centroid). Raises GeometryError for a bad size or spacing."""
    if not (1 <= rows <= len(ROW_LETTERS)) or not (1 <= cols <= 99):
        raise GeometryError(f"a hotspot grid of {rows} x {cols} sites is not possible (1-26 rows, 1-99 columns)")
    if not (math.isfinite(spacing_mm) and 0.5 <= spacing_mm <= 50.0):
        raise GeometryError(f"the hotspot grid spacing {spacing_mm} mm must lie between 0.5 and 50 mm")
    v = np.asarray(scalp.vertices, dtype=np.float64)
    if axes is None:
        axes = HeadAxes.from_mri_axes(v.mean(axis=0))
    c, _ = closest_point_on_mesh(scalp, np.asarray(centre_mri_mm, dtype=np.float64).reshape(3))
    n = patch_normal(scalp, c)
    ant = axes.anterior - n * (axes.anterior @ n)
    if np.linalg.norm(ant) < 1e-3:
        raise GeometryError("the scalp normal at the grid centre points anteriorly; no tangent grid can be laid out")
    ant /= np.linalg.norm(ant)
    lat = np.cross(n, ant)
    side = (c - axes.midline_point) @ axes.right
    out_dir = axes.right if side > 1.0 else -axes.right
    if lat @ out_dir < 0:
        lat = -lat
    r0, c0 = (rows - 1) / 2.0, (cols - 1) / 2.0
    sites = []
    for i in range(rows):
        for j in range(cols):
            u, w = (r0 - i) * spacing_mm, (j - c0) * spacing_mm
            e, _ = closest_point_on_mesh(scalp, c + u * ant + w * lat)
            z = -patch_normal(scalp, e)
            T = coil_frame(e, z, axes, handle_angle_deg, offset_mm)
            sites.append(GridSite(site_name(i, j), i, j, float(u), float(w), e, e + depth_mm * z, T))
    return HotspotGrid(c, ant, lat, n, rows, cols, float(spacing_mm), float(handle_angle_deg), float(offset_mm),
                       float(depth_mm), tuple(sites))


def grid_from_target(scalp, target: PlannedTarget, axes: Optional[HeadAxes] = None, **kw) -> HotspotGrid:
    """A grid centred on a planned target's scalp entry (e.g. the plan's 'm1-hand'), with the
    target's depth under the scalp for the sites' target points."""
    depth = float(np.linalg.norm(np.asarray(target.target_mri_mm) - np.asarray(target.entry_mri_mm)))
    kw.setdefault("depth_mm", depth if depth > 1.0 else 20.0)
    kw.setdefault("offset_mm", target.offset_mm)
    return make_grid(scalp, target.entry_mri_mm, axes, **kw)


# ----------------------------------------------------------------------------- pulses -> sites
def assign_pulses(grid: HotspotGrid, coil_centres_mri_mm, max_distance_mm: float = 5.0) -> np.ndarray:
    """Site index (int, (N,)) of each pulse's coil centre ((N, 3) mri mm; NaN rows = no pose);
    -1 when the closest site's planned coil centre is farther than max_distance_mm."""
    p = np.asarray(coil_centres_mri_mm, dtype=np.float64).reshape(-1, 3)
    centres = np.array([s.coil_centre_mri_mm for s in grid.sites])
    d = np.linalg.norm(p[:, None, :] - centres[None, :, :], axis=2)
    out = np.full(len(p), -1, dtype=np.int64)
    ok = np.all(np.isfinite(p), axis=1)
    if ok.any():
        k = np.argmin(d[ok], axis=1)
        near = d[ok][np.arange(len(k)), k] <= max_distance_mm
        out[np.nonzero(ok)[0][near]] = k[near]
    return out


# ----------------------------------------------------------------------------- EMG
def read_emg_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """An EMG amplitude file: a CSV with a header naming `time_s` (the pulse clock, seconds,
    as in pulses.csv) and one of `p2p_uv`, `mep_uv`, `peak_to_peak_uv` (uV); '#' lines are
    comments. Returns (times_ns int64 (N,), amplitudes_uv float64 (N,)). InputFileError names
    the file and the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the EMG file does not exist")
    try:
        lines = [(i + 1, ln) for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines())
                 if ln.strip() and not ln.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"the EMG file cannot be read as UTF-8 text ({e.__class__.__name__})") from None
    if not lines:
        raise InputFileError(path, "the EMG file is empty")
    try:
        return _emg_rows(path, lines)
    except csv.Error as e:  # e.g. a field over the csv module's size limit
        raise InputFileError(path, f"the EMG file is not CSV navtms can read ({e})") from None


def _emg_rows(path: Path, lines: list[tuple[int, str]]) -> tuple[np.ndarray, np.ndarray]:
    try:
        header = [h.strip().lower() for h in next(csv.reader([lines[0][1]]))]
    except csv.Error as e:
        raise InputFileError(path, f"the EMG file's header is not CSV ({e})") from None
    amp_col = next((h for h in ("p2p_uv", "mep_uv", "peak_to_peak_uv") if h in header), None)
    if "time_s" not in header or amp_col is None:
        raise InputFileError(path, "the EMG file's header must name 'time_s' and one of 'p2p_uv', 'mep_uv', "
                                   f"'peak_to_peak_uv' (found {', '.join(header) or 'nothing'})")
    it, ia = header.index("time_s"), header.index(amp_col)
    times, amps = [], []
    for lineno, ln in lines[1:]:
        try:
            row = next(csv.reader([ln]))
        except csv.Error:
            raise InputFileError(path, f"line {lineno} of the EMG file is not CSV") from None
        try:
            t = float(row[it])
            a = float(row[ia])
        except (IndexError, ValueError):
            raise InputFileError(path, f"line {lineno} of the EMG file does not hold a time and an amplitude") from None
        if not (math.isfinite(t) and t >= 0 and math.isfinite(a) and a >= 0 and t < 1e10):
            raise InputFileError(path, f"line {lineno} of the EMG file has a negative or non-finite time or amplitude")
        times.append(int(round(t * 1e9)))
        amps.append(a)
    if not times:
        raise InputFileError(path, "the EMG file has a header but no rows")
    return np.array(times, dtype=np.int64), np.array(amps, dtype=np.float64)


def match_emg(pulse_times_ns, emg_times_ns, emg_uv, tolerance_ms: float = 5.0, source: str | Path = "EMG file",
              require_all: bool = True) -> np.ndarray:
    """MEP amplitude (uV, (N,)) per pulse: the EMG row nearest in time within tolerance_ms.
    A pulse with no row within tolerance gets NaN, or, with require_all, InputFileError naming
    the pulse time; one EMG row matching two pulses is always refused (ambiguous)."""
    pt = np.asarray(pulse_times_ns, dtype=np.int64).reshape(-1)
    et = np.asarray(emg_times_ns, dtype=np.int64).reshape(-1)
    ev = np.asarray(emg_uv, dtype=np.float64).reshape(-1)
    tol_ns = int(round(tolerance_ms * 1e6))
    order = np.argsort(et, kind="stable")
    et, ev = et[order], ev[order]
    out = np.full(len(pt), np.nan)
    used: dict[int, int] = {}
    for i, t in enumerate(pt):
        j = int(np.searchsorted(et, t))
        cands = [k for k in (j - 1, j) if 0 <= k < len(et)]
        if not cands:
            k = -1
        else:
            k = min(cands, key=lambda q: abs(int(et[q]) - int(t)))
        if k < 0 or abs(int(et[k]) - int(t)) > tol_ns:
            if require_all:
                raise InputFileError(source, f"no EMG row lies within {tolerance_ms:g} ms of pulse {i + 1} "
                                             f"(time {t / 1e9:.6f} s); check the file belongs to this session")
            continue
        if k in used:
            raise InputFileError(source, f"EMG row at {et[k] / 1e9:.6f} s matches both pulse {used[k] + 1} and "
                                         f"pulse {i + 1}; lower the tolerance (now {tolerance_ms:g} ms)")
        used[k] = i
        out[i] = ev[k]
    return out


# ----------------------------------------------------------------------------- site statistics
@dataclass(frozen=True)
class SiteStats:
    """Responses per site (index = grid site index): n pulses, mean and median (uV, or the
    response fraction 0..1 for yes/no twitches), NaN where a site got no pulse."""

    n: np.ndarray
    mean: np.ndarray
    median: np.ndarray


def site_stats(n_sites: int, assignment, responses) -> SiteStats:
    """Per-site statistics of responses (N,) (uV or 0/1) by assignment (N,) (-1 ignored; NaN
    responses ignored)."""
    a = np.asarray(assignment, dtype=np.int64).reshape(-1)
    r = np.asarray(responses, dtype=np.float64).reshape(-1)
    if a.shape != r.shape:
        raise ValueError("assignment and responses must have the same length")
    n = np.zeros(n_sites, dtype=np.int64)
    mean = np.full(n_sites, np.nan)
    med = np.full(n_sites, np.nan)
    for k in range(n_sites):
        x = r[(a == k) & np.isfinite(r)]
        n[k] = len(x)
        if len(x):
            mean[k], med[k] = float(np.mean(x)), float(np.median(x))
    return SiteStats(n, mean, med)


@dataclass(frozen=True)
class HotspotResult:
    """The chosen site (index into grid.sites), how it was chosen and the per-site stats."""

    index: int
    name: str
    method: str
    stats: SiteStats
    unit: str


def pick_hotspot(grid: HotspotGrid, stats: SiteStats, operator_pick: Optional[str] = None,
                 unit: str = "uV") -> HotspotResult:
    """The site with the largest mean response (ties: the one with more pulses, then the one
    nearer the grid centre), or the operator's pick by name. PlanError when no site responded."""
    if operator_pick is not None:
        names = [s.name for s in grid.sites]
        if operator_pick not in names:
            raise PlanError(f"the hotspot grid has no site '{operator_pick}'")
        k = names.index(operator_pick)
        return HotspotResult(k, operator_pick, "operator", stats, unit)
    m = np.where(np.isfinite(stats.mean), stats.mean, -np.inf)
    if not np.any(np.isfinite(stats.mean)) or np.max(m) <= 0:
        raise PlanError("no grid site has a response; the hotspot cannot be chosen (pick one by hand)")
    r = np.array([math.hypot(s.u_mm, s.v_mm) for s in grid.sites])
    k = int(np.lexsort((r, -stats.n, -m))[0])
    return HotspotResult(k, grid.sites[k].name, "max-mean", stats, unit)


def hotspot_target(grid: HotspotGrid, result: HotspotResult, name: str = "hotspot") -> PlannedTarget:
    """A plan target at the chosen site (its entry, coil pose and the point under it)."""
    s = grid.sites[result.index]
    return PlannedTarget(name=name, target_mri_mm=s.target_mri_mm, entry_mri_mm=s.entry_mri_mm,
                         T_mri_from_coil=s.T_mri_from_coil, source="motor hotspot search",
                         notes=f"grid site {s.name} ({result.method}; mean response "
                               f"{result.stats.mean[result.index]:.4g} {result.unit})",
                         handle_angle_deg=grid.handle_angle_deg, offset_mm=grid.offset_mm, entry_method="given",
                         scalp_target_distance_mm=grid.depth_mm)


# ----------------------------------------------------------------------------- files
def add_plan_target(plan_dir: str | Path, target: PlannedTarget, replace_existing: bool = True) -> Path:
    """Add (or replace) one target in PLAN_DIR/plan.json, atomically, leaving everything else of
    the plan folder (surfaces, sessions, threshold.json) untouched. Returns the plan.json path."""
    pj = Path(plan_dir) / PLAN_FILE
    obj = read_json(pj, what="plan")
    tl = obj.get("targets")
    if not isinstance(tl, list):
        raise InputFileError(pj, "the plan has no 'targets' list")
    names = [t.get("name") if isinstance(t, dict) else None for t in tl]
    if target.name in names:
        if not replace_existing:
            raise PlanError(f"{pj}: the plan already has a target '{target.name}'")
        tl = [t for t, n in zip(tl, names) if n != target.name]
    tl.append(target.to_json())
    obj["targets"] = tl
    return write_json(pj, obj, format_version=obj["format_version"])


def save_hotspot(plan_dir: str | Path, grid: HotspotGrid, result: HotspotResult,
                 assignment: Sequence[int] = (), responses: Sequence[float] = (), pulse_times_ns: Sequence[int] = (),
                 session: str = "", add_to_plan: bool = True, target_name: str = "hotspot") -> Path:
    """Write PLAN_DIR/hotspot.json (atomic) and add the hotspot to plan.json. Returns hotspot.json."""
    plan_dir = Path(plan_dir)
    if not (plan_dir / PLAN_FILE).is_file():
        raise InputFileError(plan_dir, "is not a plan folder (no plan.json)")
    st = result.stats
    body = {"created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "session": session, "unit": result.unit, "hotspot": result.name, "method": result.method,
            "target_name": target_name if add_to_plan else None, "grid": grid.to_json(),
            "site_stats": [{"name": s.name, "n": int(st.n[i]), "mean": st.mean[i], "median": st.median[i]}
                           for i, s in enumerate(grid.sites)],
            "pulses": [{"time_ns": int(t), "site": (grid.sites[a].name if a >= 0 else None), "response": r}
                       for t, a, r in zip(pulse_times_ns, assignment, responses)]}
    out = write_json(plan_dir / HOTSPOT_FILE, body, format_version=FORMAT_VERSION)
    if add_to_plan:
        add_plan_target(plan_dir, hotspot_target(grid, result, target_name))
    return out


def load_hotspot(plan_dir: str | Path) -> dict:
    """PLAN_DIR/hotspot.json as a dict (InputFileError when missing or malformed)."""
    path = Path(plan_dir) / HOTSPOT_FILE
    obj = read_json(path, what="hotspot file", supported_versions=(FORMAT_VERSION,))
    if not isinstance(obj.get("hotspot"), str) or not isinstance(obj.get("site_stats"), list):
        raise InputFileError(path, "the hotspot file has no 'hotspot' name or 'site_stats' list")
    return obj
