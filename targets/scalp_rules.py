"""Scalp rules on the subject's own scalp mesh: 10-20 positions, Beam F3, the 5 cm rule.

Everything is measured ON THE SCALP SURFACE (not a sphere): a rule's curve is the intersection
of the scalp mesh with a plane (VTK vtkCutter + vtkStripper), and distances are arc lengths
along that curve. Inputs and outputs are `mri` (scanner RAS+) mm; tape measurements for Beam
F3 are in cm, as clinicians take them.

10-20 (Jasper 1958): the midsagittal arc nasion -> inion over the vertex gives Fpz, Fz, Cz, Pz,
Oz at 10/30/50/70/90 %; the coronal arc LPA -> RPA through Cz gives T7, C3, (Cz), C4, T8; the
circumference through Fpz, T7, Oz, T8 gives Fp1, F7, T7, P7, O1 (left) and Fp2, F8, T8, P8, O2
at 10/30/50/70/90 % of each half; F3/F4 are at 25/75 % of the arc F7 -> Fz -> F8, P3/P4 of
P7 -> Pz -> P8. Cz is iterated until the sagittal and coronal midpoints agree.

Inion: given, or estimated as the point of the back midline lying in the plane of the nasion,
LPA and RPA (an approximation; the external occipital protuberance is not visible on a T1
skin surface; give the measured inion when you have it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from navcore.errors import GeometryError
from targets.placement import HeadAxes, closest_point_on_mesh, patch_normal

TEN_TWENTY_SAGITTAL = {"Fpz": 0.1, "Fz": 0.3, "Cz": 0.5, "Pz": 0.7, "Oz": 0.9}
TEN_TWENTY_CORONAL = {"T7": 0.1, "C3": 0.3, "C4": 0.7, "T8": 0.9}
LEFT_RING = {"Fp1": 0.1, "F7": 0.3, "T7ring": 0.5, "P7": 0.7, "O1": 0.9}
RIGHT_RING = {"Fp2": 0.1, "F8": 0.3, "T8ring": 0.5, "P8": 0.7, "O2": 0.9}


# ----------------------------------------------------------------------------- curves
def _polydata(surface):
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    pts = vtkPoints()
    pts.SetData(numpy_to_vtk(np.ascontiguousarray(surface.vertices, dtype=np.float64), deep=True))
    f = np.ascontiguousarray(np.asarray(surface.faces, dtype=np.int64).ravel())
    cells = vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, len(f) + 1, 3, dtype=np.int64), deep=True),
                  numpy_to_vtkIdTypeArray(f, deep=True))
    poly = vtkPolyData()
    poly.SetPoints(pts)
    poly.SetPolys(cells)
    return poly


_POLY: dict[int, tuple[object, object]] = {}


def _cached_poly(surface):
    hit = _POLY.get(id(surface))
    if hit is not None and hit[0] is surface:
        return hit[1]
    if len(_POLY) > 4:
        _POLY.clear()
    poly = _polydata(surface)
    _POLY[id(surface)] = (surface, poly)
    return poly


def plane_sections(surface, point, normal) -> list[np.ndarray]:
    """Ordered polylines (each (K, 3) mm; closed loops repeat their first point at the end) where
    the plane through `point` with `normal` cuts the surface."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkCommonDataModel import vtkPlane
    from vtkmodules.vtkFiltersCore import vtkCutter, vtkStripper

    n = np.asarray(normal, dtype=np.float64)
    if np.linalg.norm(n) < 1e-9:
        raise GeometryError("a cutting plane needs a non-zero normal")
    plane = vtkPlane()
    plane.SetOrigin(*np.asarray(point, dtype=np.float64))
    plane.SetNormal(*(n / np.linalg.norm(n)))
    cut = vtkCutter()
    cut.SetInputData(_cached_poly(surface))
    cut.SetCutFunction(plane)
    strip = vtkStripper()
    strip.SetInputConnection(cut.GetOutputPort())
    strip.JoinContiguousSegmentsOn()
    strip.Update()
    out = strip.GetOutput()
    if out.GetNumberOfPoints() == 0:
        return []
    pts = vtk_to_numpy(out.GetPoints().GetData()).astype(np.float64)
    lines = out.GetLines()
    conn = vtk_to_numpy(lines.GetConnectivityArray())
    offs = vtk_to_numpy(lines.GetOffsetsArray())
    return [pts[conn[offs[i]:offs[i + 1]]] for i in range(len(offs) - 1) if offs[i + 1] - offs[i] >= 2]


def _nearest_on_polyline(line: np.ndarray, p: np.ndarray) -> tuple[int, float, np.ndarray, float]:
    """(segment index, fraction within it, point, distance) of the polyline point nearest p."""
    a, b = line[:-1], line[1:]
    ab = b - a
    L2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-18)
    t = np.clip(np.einsum("ij,ij->i", p - a, ab) / L2, 0.0, 1.0)
    q = a + ab * t[:, None]
    d = np.linalg.norm(q - p, axis=1)
    k = int(np.argmin(d))
    return k, float(t[k]), q[k], float(d[k])


def section_through(surface, point, normal, near) -> np.ndarray:
    """The closed section loop (K, 3) passing nearest to `near`."""
    loops = plane_sections(surface, point, normal)
    if not loops:
        raise GeometryError("the cutting plane misses the scalp surface")
    near = np.asarray(near, dtype=np.float64)
    best = min(loops, key=lambda ln: _nearest_on_polyline(ln, near)[3])
    if np.linalg.norm(best[0] - best[-1]) > 1e-6:
        best = np.vstack([best, best[:1]])  # close it
    return best


def arc_between(loop: np.ndarray, a, b, prefer) -> np.ndarray:
    """The path (K, 3) along a closed loop from the point nearest `a` to the point nearest `b`
    that reaches further along direction `prefer` (e.g. superior: "over the top"), or the
    shorter of the two when `prefer` is None."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ka, ta, qa, _ = _nearest_on_polyline(loop, a)
    kb, tb, qb, _ = _nearest_on_polyline(loop, b)
    ring = loop[:-1]
    n = len(ring)
    if (ka, ta) == (kb, tb):
        raise GeometryError("the two end points of an arc coincide on the scalp")

    def walk(step):
        # vertices strictly between qa and qb going forward (+1) or backward (-1) around the ring
        idx = []
        i = (ka + 1) % n if step > 0 else ka % n
        stop = (kb + 1) % n if step > 0 else kb % n
        guard = 0
        while True:
            if step > 0 and i == stop and not (ka == kb and tb < ta and guard == 0):
                break
            if step < 0 and i == stop and not (ka == kb and tb > ta and guard == 0):
                break
            idx.append(i)
            i = (i + step) % n
            guard += 1
            if guard > n + 1:
                break
        return np.vstack([qa, ring[idx].reshape(-1, 3), qb]) if idx else np.vstack([qa, qb])

    p1, p2 = walk(+1), walk(-1)
    if prefer is None:
        return p1 if arc_length(p1) <= arc_length(p2) else p2
    pr = np.asarray(prefer, dtype=np.float64)
    return p1 if (p1 @ pr).max() >= (p2 @ pr).max() else p2


def arc_length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def point_along(path: np.ndarray, distance_mm: float) -> np.ndarray:
    """The point `distance_mm` along a path from its start (clamped to its ends)."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    d = float(np.clip(distance_mm, 0.0, cum[-1]))
    k = int(np.clip(np.searchsorted(cum, d, side="right") - 1, 0, len(seg) - 1))
    t = 0.0 if seg[k] == 0 else (d - cum[k]) / seg[k]
    return path[k] + t * (path[k + 1] - path[k])


def point_at_fraction(path: np.ndarray, fraction: float) -> np.ndarray:
    return point_along(path, fraction * arc_length(path))


def _plane_normal(*pts) -> np.ndarray:
    p = np.array(pts, dtype=np.float64)
    c = p.mean(0)
    n = np.linalg.svd(p - c)[2][-1]
    return n


# ----------------------------------------------------------------------------- landmarks
def estimate_inion(scalp, nasion, lpa, rpa) -> np.ndarray:
    """Inion estimate (3,) mm: the back-midline scalp point in the nasion-LPA-RPA plane."""
    ax = HeadAxes.from_fiducials(nasion, lpa, rpa)
    mid = ax.midline_point
    loop = section_through(scalp, mid, ax.right, mid - 80.0 * ax.anterior)
    # the midline loop crossing the fiducial plane behind the ears
    s = (loop - mid) @ ax.superior
    cross = np.nonzero(np.sign(s[:-1]) != np.sign(s[1:]))[0]
    cands = []
    for k in cross:
        t = s[k] / (s[k] - s[k + 1])
        cands.append(loop[k] + t * (loop[k + 1] - loop[k]))
    back = [c for c in cands if (c - mid) @ ax.anterior < -20.0]
    if not back:
        raise GeometryError("no inion found behind the ears on the scalp midline; give the inion")
    return min(back, key=lambda c: (c - mid) @ ax.anterior)


@dataclass(frozen=True)
class TenTwenty:
    """10-20 positions (name -> (3,) scalp point, mri mm) and the arcs measured (mm)."""

    positions: dict
    nasion_inion_mm: float
    tragus_tragus_mm: float
    circumference_mm: float
    inion: np.ndarray
    inion_estimated: bool


def ten_twenty(scalp, nasion, lpa, rpa, inion=None, iterations: int = 3) -> TenTwenty:
    """10-20 positions on the scalp mesh (see the module docstring)."""
    nz, lp, rp = (np.asarray(p, dtype=np.float64).reshape(3) for p in (nasion, lpa, rpa))
    ax = HeadAxes.from_fiducials(nz, lp, rp)
    est = inion is None
    iz = estimate_inion(scalp, nz, lp, rp) if est else np.asarray(inion, dtype=np.float64).reshape(3)
    up = ax.superior
    # start: Cz guess straight above the ear midpoint
    cz = closest_point_on_mesh(scalp, ax.midline_point + 200.0 * up)[0]
    for _ in range(max(1, iterations)):
        n_s = np.cross(iz - nz, cz - nz)
        sag = arc_between(section_through(scalp, nz, n_s, cz), nz, iz, up)
        cz_s = point_at_fraction(sag, 0.5)
        n_c = np.cross(rp - lp, cz_s - lp)
        cor = arc_between(section_through(scalp, lp, n_c, cz_s), lp, rp, up)
        cz_c = point_at_fraction(cor, 0.5)
        new = closest_point_on_mesh(scalp, (cz_s + cz_c) / 2.0)[0]
        moved = np.linalg.norm(new - cz)
        cz = new
        if moved < 0.2:
            break
    pos = {k: point_at_fraction(sag, f) for k, f in TEN_TWENTY_SAGITTAL.items()}
    pos.update({k: point_at_fraction(cor, f) for k, f in TEN_TWENTY_CORONAL.items()})
    pos["Cz"] = cz
    fpz, oz, t7, t8 = pos["Fpz"], pos["Oz"], pos["T7"], pos["T8"]
    n_r = _plane_normal(fpz, oz, t7, t8)
    ring = section_through(scalp, (fpz + oz + t7 + t8) / 4.0, n_r, fpz)
    left = arc_between(ring, fpz, oz, -ax.right)
    right = arc_between(ring, fpz, oz, ax.right)
    pos.update({k: point_at_fraction(left, f) for k, f in LEFT_RING.items()})
    pos.update({k: point_at_fraction(right, f) for k, f in RIGHT_RING.items()})
    for a, mid, b, la, lb in (("F7", "Fz", "F8", "F3", "F4"), ("P7", "Pz", "P8", "P3", "P4")):
        n = np.cross(pos[b] - pos[a], pos[mid] - pos[a])
        arc = arc_between(section_through(scalp, pos[a], n, pos[mid]), pos[a], pos[b], up)
        pos[la], pos[lb] = point_at_fraction(arc, 0.25), point_at_fraction(arc, 0.75)
    return TenTwenty(positions=pos, nasion_inion_mm=arc_length(sag), tragus_tragus_mm=arc_length(cor),
                     circumference_mm=arc_length(left) + arc_length(right), inion=iz, inion_estimated=est)


# ----------------------------------------------------------------------------- Beam F3
def beam_f3_distances(tragus_tragus_cm: float, nasion_inion_cm: float, circumference_cm: float) -> tuple[float, float]:
    """Beam F3 (Beam et al. 2009, Brain Stimulation 2(1):50-54) X and Y distances in cm.

    X: along the head circumference from the front midline (Fpz) towards the side of the target;
    Y: from the vertex (Cz) towards that circumference point, along the scalp. This is the
    formula of the authors' online BeamF3 calculator, which reproduces the published worked
    example (tragus-tragus 36, nasion-inion 38, circumference 60 cm -> X = 6.95 cm); the
    paper's printed variant gives X = 23.9 cm for that example (see docs/planning.md)."""
    TT, NI, CF = (float(v) for v in (tragus_tragus_cm, nasion_inion_cm, circumference_cm))
    if not all(np.isfinite(v) and v > 0 for v in (TT, NI, CF)):
        raise GeometryError("Beam F3 needs three positive tape measurements in cm")
    if not (20 <= TT <= 50 and 20 <= NI <= 50 and 40 <= CF <= 75):
        raise GeometryError(f"Beam F3 measurements {TT:g}, {NI:g}, {CF:g} cm are outside adult head sizes "
                            "(tragus-tragus and nasion-inion 20-50 cm, circumference 40-75 cm)")
    R2, R1 = 0.4 * TT, 0.4 * NI
    s324, s298, c298 = np.sin(np.deg2rad(324)), np.sin(np.deg2rad(298)), np.cos(np.deg2rad(298))
    A = (R2 * s324 + R1 / 2.0) / R2
    B = R1 * s298 / (R1 * c298 - R2 / 2.0)
    x = 0.5 * (R1 - R2 * B) / (A - B)
    y = A * x - R1 / 2.0
    r = np.hypot(x, y)
    theta_deg = np.rad2deg(np.arctan(y / x))
    return float(CF / 4.0 * (90.0 + theta_deg) / 90.0), float(0.91 * r)


@dataclass(frozen=True)
class ScalpRuleResult:
    """A scalp rule's outcome (mri mm): scalp point, the cortical point under it (closest brain
    point, or `depth_mm` along the inward normal without a brain), and what was measured."""

    scalp_mri_mm: np.ndarray
    cortex_mri_mm: np.ndarray
    notes: str
    measurements: dict = field(default_factory=dict)


def _cortex_under(scalp, point, brain=None, depth_mm: float = 15.0) -> np.ndarray:
    if brain is not None:
        return closest_point_on_mesh(brain, point)[0]
    return point + depth_mm * (-patch_normal(scalp, point))


def beam_f3_on_scalp(scalp, nasion, lpa, rpa, tragus_tragus_cm=None, nasion_inion_cm=None, circumference_cm=None,
                     inion_mri_mm=None, side: str = "left", brain=None) -> ScalpRuleResult:
    """Beam F3 (or F4 with side="right") placed on the subject's scalp mesh. Tape measurements
    in cm; any left None is measured on the mesh (arc lengths of the 10-20 curves)."""
    tt = ten_twenty(scalp, nasion, lpa, rpa, inion_mri_mm)
    TT = tt.tragus_tragus_mm / 10.0 if tragus_tragus_cm is None else float(tragus_tragus_cm)
    NI = tt.nasion_inion_mm / 10.0 if nasion_inion_cm is None else float(nasion_inion_cm)
    CF = tt.circumference_mm / 10.0 if circumference_cm is None else float(circumference_cm)
    X, Y = beam_f3_distances(TT, NI, CF)
    ax = HeadAxes.from_fiducials(nasion, lpa, rpa)
    sgn = -1.0 if side == "left" else 1.0
    p = tt.positions
    n_r = _plane_normal(p["Fpz"], p["Oz"], p["T7"], p["T8"])
    ring = section_through(scalp, (p["Fpz"] + p["Oz"] + p["T7"] + p["T8"]) / 4.0, n_r, p["Fpz"])
    half = arc_between(ring, p["Fpz"], p["Oz"], sgn * ax.right)
    a_pt = point_along(half, X * 10.0)
    # Cz -> A along the scalp: the section by the plane through Cz, A and the head centre
    c = ax.midline_point
    n = np.cross(p["Cz"] - c, a_pt - c)
    arc = arc_between(section_through(scalp, p["Cz"], n, (p["Cz"] + a_pt) / 2.0), p["Cz"], a_pt, None)
    f3 = point_along(arc, Y * 10.0)
    notes = (f"Beam F3 ({side}): X = {X:.2f} cm along the circumference from Fpz, Y = {Y:.2f} cm from Cz; "
             f"measurements TT {TT:.1f}, NI {NI:.1f}, CF {CF:.1f} cm"
             + (" (inion estimated)" if tt.inion_estimated else ""))
    return ScalpRuleResult(f3, _cortex_under(scalp, f3, brain), notes,
                           {"X_cm": X, "Y_cm": Y, "TT_cm": TT, "NI_cm": NI, "CF_cm": CF})


# ----------------------------------------------------------------------------- 5 cm rule
def five_cm_rule(scalp, hotspot_mri_mm, axes: HeadAxes, distance_mm: float = 50.0, brain=None) -> ScalpRuleResult:
    """The point `distance_mm` (default 5 cm) anterior of a motor hotspot along the scalp, in the
    parasagittal plane through the hotspot (normal = the head's left-right axis)."""
    h = closest_point_on_mesh(scalp, hotspot_mri_mm)[0]
    loop = section_through(scalp, h, axes.right, h)
    front = loop[int(np.argmax(loop @ axes.anterior))]
    path = arc_between(loop, h, front, None)
    p = point_along(path, distance_mm)
    return ScalpRuleResult(p, _cortex_under(scalp, p, brain),
                           f"{distance_mm / 10:g} cm rule: {distance_mm:g} mm anterior of the hotspot along the scalp "
                           "(parasagittal plane)", {"distance_mm": distance_mm})


# ----------------------------------------------------------------------------- one 10-20 position
def ten_twenty_point(scalp, nasion, lpa, rpa, label: str, inion_mri_mm=None, brain=None) -> ScalpRuleResult:
    """The 10-20 position `label` (e.g. "F3", case-insensitive) on the scalp mesh and the
    cortex under it (closest brain point, or 15 mm along the inward normal)."""
    tt = ten_twenty(scalp, nasion, lpa, rpa, inion_mri_mm)
    names = {k.lower(): k for k in tt.positions if not k.endswith("ring")}
    key = names.get(str(label).strip().lower())
    if key is None:
        raise GeometryError(f"'{label}' is not a 10-20 position; use one of {', '.join(sorted(names.values()))}")
    p = tt.positions[key]
    return ScalpRuleResult(p, _cortex_under(scalp, p, brain),
                           f"10-20 position {key} on the scalp" + (" (inion estimated)" if tt.inion_estimated else ""),
                           {"nasion_inion_mm": tt.nasion_inion_mm, "tragus_tragus_mm": tt.tragus_tragus_mm})


TEN_TWENTY_LABELS = ("Fp1", "Fpz", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
                     "P7", "P3", "Pz", "P4", "P8", "O1", "Oz", "O2")
