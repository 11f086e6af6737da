"""Coil placement for a cortical target: scalp entry, coil pose, handle direction.

Frames and units: everything is in `mri` (scanner RAS+, mm). The result is `T_mri_from_coil`,
a rigid 4x4 whose coil frame has its origin at the coil centre on the coil face, +z into the
head (along the inward scalp normal) and +y along the handle.

Handle rule: the handle angle is measured in the scalp tangent plane from the posterior
midline direction (the direction from nasion towards the back of the head, projected onto
the tangent plane), positive towards lateral (away from the midline, "outwards"). The DLPFC
convention, 45 degrees backwards-outwards, is `handle_angle_deg=45`.

Midline: from fiducials (anterior = nasion - midpoint(LPA, RPA), right = RPA - LPA), or, when
none are known, the MRI's own axes (anterior +y, right +x of scanner RAS).

Surfaces are any object with `vertices` (N, 3) mm, `faces` (M, 3) int and `normals` (N, 3)
unit outward (targets.surfaces.Surface).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from navcore.errors import GeometryError
from navcore.transforms import angle_between, make_transform

DEFAULT_OFFSET_MM = 5.0
DEFAULT_HANDLE_ANGLE_DEG = 45.0
NORMAL_PATCH_RADIUS_MM = 10.0


@dataclass(frozen=True)
class HeadAxes:
    """Anatomical directions in `mri` (unit (3,) vectors) and a point on the midline plane (mm)."""

    anterior: np.ndarray
    right: np.ndarray
    midline_point: np.ndarray

    @classmethod
    def from_fiducials(cls, nasion, lpa, rpa) -> "HeadAxes":
        """From nasion, LPA, RPA (3,) mm in `mri`. Raises GeometryError when degenerate."""
        nasion, lpa, rpa = (np.asarray(p, dtype=np.float64).reshape(3) for p in (nasion, lpa, rpa))
        mid = (lpa + rpa) / 2.0
        r = rpa - lpa
        if np.linalg.norm(r) < 20.0:
            raise GeometryError("LPA and RPA are less than 20 mm apart; the fiducials cannot define the midline")
        r = r / np.linalg.norm(r)
        a = nasion - mid
        a = a - r * (a @ r)
        if np.linalg.norm(a) < 20.0:
            raise GeometryError("the nasion lies less than 20 mm in front of the ear line; the fiducials cannot define the midline")
        return cls(anterior=a / np.linalg.norm(a), right=r, midline_point=mid)

    @classmethod
    def from_mri_axes(cls, centre_mm=(0.0, 0.0, 0.0)) -> "HeadAxes":
        """Scanner RAS+ axes: anterior +y, right +x, midline plane x = centre_mm[0]."""
        return cls(anterior=np.array([0.0, 1.0, 0.0]), right=np.array([1.0, 0.0, 0.0]),
                   midline_point=np.asarray(centre_mm, dtype=np.float64).reshape(3))

    @property
    def superior(self) -> np.ndarray:
        s = np.cross(self.right, self.anterior)
        return s / np.linalg.norm(s)


@dataclass(frozen=True)
class CoilPlacement:
    """A planned coil pose for one target (all mm, frame `mri`).

    target_mri_mm: (3,) the cortical target.
    entry_mri_mm: (3,) the scalp point under the coil centre.
    T_mri_from_coil: 4x4 rigid coil pose (origin on the coil face, +z inward, +y handle).
    offset_mm: coil face to scalp distance along -z (hair, coil casing).
    handle_angle_deg: handle angle from the posterior midline, positive outwards.
    scalp_target_distance_mm: entry to target.
    scalp_cortex_distance_mm: entry to the nearest brain-surface point (NaN without a brain surface).
    scalp_cortex_axis_mm: scalp to cortex along the coil axis (depth_along_coil_axis; NaN without a
        brain surface or when the axis reaches none): the distance the depth-adjusted dose uses.
    axis_target_angle_deg: angle between coil +z and the entry->target direction.
    axis_miss_mm: distance of the target from the coil axis line.
    entry_method: "closest", "normal" or "given" (a scalp rule chose the entry).
    """

    target_mri_mm: np.ndarray
    entry_mri_mm: np.ndarray
    T_mri_from_coil: np.ndarray
    offset_mm: float
    handle_angle_deg: float
    scalp_target_distance_mm: float
    scalp_cortex_distance_mm: float
    axis_target_angle_deg: float
    axis_miss_mm: float
    entry_method: str
    scalp_cortex_axis_mm: float = float("nan")


def _check_surface(surface, what: str) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(surface.vertices, dtype=np.float64)
    n = np.asarray(surface.normals, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) < 4 or n.shape != v.shape:
        raise GeometryError(f"the {what} surface is empty or malformed")
    return v, n


def closest_point_on_mesh(surface, point) -> tuple[np.ndarray, int]:
    """Closest point (3,) mm on the triangle mesh to `point`, and the nearest vertex index.

    Exact over the triangles around the 16 nearest vertices (enough for a mesh whose edges are
    short compared with the query distance)."""
    v = np.asarray(surface.vertices, dtype=np.float64)
    f = np.asarray(surface.faces, dtype=np.int64)
    p = np.asarray(point, dtype=np.float64).reshape(3)
    tree = _tree(surface)
    _, idx = tree.query(p, k=min(16, len(v)))
    idx = np.atleast_1d(idx)
    cand = np.isin(f, idx).any(axis=1) if len(f) < 400_000 else None
    tris = f[cand] if cand is not None else f
    best, best_d = v[idx[0]], np.linalg.norm(v[idx[0]] - p)
    if len(tris):
        q = _closest_on_triangles(p, v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]])
        d = np.linalg.norm(q - p, axis=1)
        k = int(np.argmin(d))
        if d[k] < best_d:
            best, best_d = q[k], d[k]
    return best, int(idx[0])


def _closest_on_triangles(p, a, b, c) -> np.ndarray:
    """Closest points to p on triangles (a, b, c) (each (T, 3)); Ericson's region tests, vectorised."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("ij,ij->i", ab, ap), np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3, d4 = np.einsum("ij,ij->i", ab, bp), np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5, d6 = np.einsum("ij,ij->i", ab, cp), np.einsum("ij,ij->i", ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = va + vb + vc
    denom = np.where(np.abs(denom) < 1e-30, 1e-30, denom)
    v = vb / denom
    w = vc / denom
    out = a + ab * v[:, None] + ac * w[:, None]  # interior
    with np.errstate(divide="ignore", invalid="ignore"):
        # edges
        m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        t = np.where(m, d1 / np.where(d1 - d3 == 0, 1, d1 - d3), 0)
        out = np.where(m[:, None], a + ab * t[:, None], out)
        m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        t = np.where(m, d2 / np.where(d2 - d6 == 0, 1, d2 - d6), 0)
        out = np.where(m[:, None], a + ac * t[:, None], out)
        m = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
        den = (d4 - d3) + (d5 - d6)
        t = np.where(m, (d4 - d3) / np.where(den == 0, 1, den), 0)
        out = np.where(m[:, None], b + (c - b) * t[:, None], out)
    # vertices
    out = np.where(((d1 <= 0) & (d2 <= 0))[:, None], a, out)
    out = np.where(((d3 >= 0) & (d4 <= d3))[:, None], b, out)
    out = np.where(((d6 >= 0) & (d5 <= d6))[:, None], c, out)
    return out


_TREES: dict[int, tuple[object, cKDTree]] = {}


def _tree(surface) -> cKDTree:
    key = id(surface)
    hit = _TREES.get(key)
    if hit is not None and hit[0] is surface:
        return hit[1]
    tree = cKDTree(np.asarray(surface.vertices, dtype=np.float64))
    if len(_TREES) > 8:
        _TREES.clear()
    _TREES[key] = (surface, tree)
    return tree


def patch_normal(surface, point, radius_mm: float = NORMAL_PATCH_RADIUS_MM) -> np.ndarray:
    """Unit outward normal (3,) of the scalp averaged over vertices within `radius_mm` of `point`
    (the coil face is flat and spans a patch, so the local normal is averaged over it)."""
    v, n = _check_surface(surface, "scalp")
    idx = _tree(surface).query_ball_point(np.asarray(point, dtype=np.float64), radius_mm)
    if not idx:
        idx = [int(_tree(surface).query(point)[1])]
    m = n[idx].sum(axis=0)
    if np.linalg.norm(m) < 1e-9:
        raise GeometryError("the scalp normals around the entry point cancel out; the surface is not usable there")
    return m / np.linalg.norm(m)


def entry_point(scalp, target_mri_mm, method: str = "closest", search_radius_mm: float = 40.0,
                patch_radius_mm: float = NORMAL_PATCH_RADIUS_MM) -> np.ndarray:
    """Scalp entry point (3,) mm for a target (3,) mm.

    "closest": the closest point of the scalp mesh.
    "normal": the scalp point within `search_radius_mm` of the closest one whose (patch-averaged)
    normal line passes nearest to the target, so that the coil axis goes through the target."""
    v, n = _check_surface(scalp, "scalp")
    t = np.asarray(target_mri_mm, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(t)):
        raise GeometryError("the target position is not finite")
    p0, _ = closest_point_on_mesh(scalp, t)
    if method == "closest":
        return p0
    if method != "normal":
        raise GeometryError(f"unknown entry method {method!r}; use 'closest' or 'normal'")
    idx = np.array(_tree(scalp).query_ball_point(p0, search_radius_mm), dtype=np.int64)
    if len(idx) == 0:
        return p0
    tree = _tree(scalp)
    # patch-averaged normals of candidate vertices (sum of neighbours' normals)
    nb = tree.query_ball_point(v[idx], patch_radius_mm)
    nn = np.array([n[j].sum(axis=0) for j in nb])
    nn /= np.linalg.norm(nn, axis=1, keepdims=True)
    d = t - v[idx]
    along = np.einsum("ij,ij->i", d, -nn)
    miss = np.linalg.norm(d + along[:, None] * nn, axis=1)
    miss = np.where(along > 0, miss, np.inf)  # target must lie inside (along the inward normal)
    k = int(np.argmin(miss))
    z0 = -patch_normal(scalp, p0, patch_radius_mm)
    d0 = t - p0
    miss0 = np.linalg.norm(d0 - z0 * (d0 @ z0))
    return v[idx[k]] if np.isfinite(miss[k]) and miss[k] < miss0 else p0


def coil_frame(entry_mri_mm, inward_z, axes: HeadAxes, handle_angle_deg: float,
               offset_mm: float = DEFAULT_OFFSET_MM) -> np.ndarray:
    """T_mri_from_coil for a coil centred `offset_mm` outside `entry_mri_mm` along -z, with +z =
    `inward_z` and the handle `handle_angle_deg` from the posterior midline, positive outwards."""
    e = np.asarray(entry_mri_mm, dtype=np.float64).reshape(3)
    z = np.asarray(inward_z, dtype=np.float64).reshape(3)
    z = z / np.linalg.norm(z)
    post = -axes.anterior - z * (-axes.anterior @ z)
    if np.linalg.norm(post) < 1e-3:  # coil axis along the anterior-posterior line: use superior
        post = axes.superior - z * (axes.superior @ z)
    post /= np.linalg.norm(post)
    side = (e - axes.midline_point) @ axes.right
    out_dir = axes.right if side > 1.0 else -axes.right  # on the midline: left counts as outwards
    q = np.cross(z, post)
    if q @ out_dir < 0:
        q = -q
    th = np.deg2rad(handle_angle_deg)
    y = np.cos(th) * post + np.sin(th) * q
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    R = np.column_stack([x, y, z])
    return make_transform(R, e - offset_mm * z)


def handle_angle_of(T_mri_from_coil, axes: HeadAxes) -> float:
    """The handle angle (deg) of a coil pose under the module's rule (inverse of coil_frame)."""
    T = np.asarray(T_mri_from_coil, dtype=np.float64)
    z, y = T[:3, 2], T[:3, 1]
    post = -axes.anterior - z * (-axes.anterior @ z)
    if np.linalg.norm(post) < 1e-3:
        post = axes.superior - z * (axes.superior @ z)
    post /= np.linalg.norm(post)
    centre = T[:3, 3]
    side = (centre - axes.midline_point) @ axes.right
    out_dir = axes.right if side > 1.0 else -axes.right
    q = np.cross(z, post)
    if q @ out_dir < 0:
        q = -q
    return float(np.rad2deg(np.arctan2(y @ q, y @ post)))


def place_coil(target_mri_mm, scalp, axes: HeadAxes | None = None, *, brain=None,
               entry_method: str = "closest", offset_mm: float = DEFAULT_OFFSET_MM,
               handle_angle_deg: float | None = None,
               patch_radius_mm: float = NORMAL_PATCH_RADIUS_MM, entry_mri_mm=None) -> CoilPlacement:
    """Plan the coil for a cortical target (3,) mm in `mri` on a scalp surface.

    axes: anatomical directions (HeadAxes.from_fiducials); default: the MRI axes with the
    midline through the scalp's centroid. handle_angle_deg: None -> 45 (DLPFC convention).
    brain: optional brain surface for the scalp-to-cortex distance.
    entry_mri_mm: a scalp entry chosen by a rule (snapped onto the scalp); overrides entry_method."""
    if not np.isfinite(offset_mm) or offset_mm < 0:
        raise GeometryError(f"the coil offset {offset_mm} mm must be a finite non-negative distance")
    v, _ = _check_surface(scalp, "scalp")
    t = np.asarray(target_mri_mm, dtype=np.float64).reshape(3)
    if axes is None:
        axes = HeadAxes.from_mri_axes(v.mean(axis=0))
    angle = DEFAULT_HANDLE_ANGLE_DEG if handle_angle_deg is None else float(handle_angle_deg)
    if not np.isfinite(angle):
        raise GeometryError("the handle angle is not finite")
    if entry_mri_mm is not None:
        e, entry_method = closest_point_on_mesh(scalp, entry_mri_mm)[0], "given"
    else:
        e = entry_point(scalp, t, entry_method, patch_radius_mm=patch_radius_mm)
    z = -patch_normal(scalp, e, patch_radius_mm)
    T = coil_frame(e, z, axes, angle, offset_mm)
    d = t - e
    dist = float(np.linalg.norm(d))
    ang = float(np.rad2deg(angle_between(z, d))) if dist > 1e-9 else 0.0
    miss = float(np.linalg.norm(d - z * (d @ z)))
    sc = sca = float("nan")
    if brain is not None:
        _check_surface(brain, "brain")
        pb, _ = closest_point_on_mesh(brain, e)
        sc = float(np.linalg.norm(pb - e))
        try:
            sca = depth_along_coil_axis(T, scalp, brain).scalp_cortex_mm
        except GeometryError:
            pass
    return CoilPlacement(target_mri_mm=t, entry_mri_mm=e, T_mri_from_coil=T, offset_mm=float(offset_mm),
                         handle_angle_deg=angle, scalp_target_distance_mm=dist, scalp_cortex_distance_mm=sc,
                         axis_target_angle_deg=ang, axis_miss_mm=miss, entry_method=entry_method,
                         scalp_cortex_axis_mm=sca)


# ----------------------------------------------------------------------------- depth along the coil axis
@dataclass(frozen=True)
class AxisDepth:
    """Where the coil axis (the coil's +z line through its centre) crosses the head, `mri` mm.

    scalp_mri_mm: (3,) first scalp crossing; cortex_mri_mm: (3,) first brain-surface crossing
    beyond it; scalp_cortex_mm: their distance (the scalp-to-cortex distance of Stokes et al.
    2005, J Neurophysiol 94:4520-4527, measured along the axis the coil stimulates);
    coil_cortex_mm: coil centre to cortex crossing."""

    scalp_mri_mm: np.ndarray
    cortex_mri_mm: np.ndarray
    scalp_cortex_mm: float
    coil_cortex_mm: float


def _ray_hits(surface, origin, direction, length_mm: float) -> np.ndarray:
    """Parameters t (mm, ascending, distinct) where origin + t * direction crosses the mesh,
    0 <= t <= length_mm. Moller & Trumbore 1997 (J Graphics Tools 2(1):21-28) ray-triangle test
    over the triangles with a vertex near the line; edges and vertices count as inside, so a
    ray through a mesh vertex is not lost between its triangles (VTK's OBB tree misses those)."""
    v = np.asarray(surface.vertices, dtype=np.float64)
    f = np.asarray(surface.faces, dtype=np.int64)
    o = np.asarray(origin, dtype=np.float64).reshape(3)
    d = np.asarray(direction, dtype=np.float64).reshape(3)
    d = d / np.linalg.norm(d)
    rel = v - o
    off_line = np.linalg.norm(rel - np.outer(rel @ d, d), axis=1)
    edge = np.linalg.norm(v[f[:, 1]] - v[f[:, 0]], axis=1).max() if len(f) else 0.0
    near = off_line <= edge + 1e-6
    tri = f[near[f].any(axis=1)]
    if not len(tri):
        return np.zeros(0)
    a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    e1, e2 = b - a, c - a
    p = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = o - a
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, e1)
    w = (q @ d) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    eps = 1e-9
    hit = ok & (u >= -eps) & (w >= -eps) & (u + w <= 1 + eps) & (t >= -eps) & (t <= length_mm + eps)
    ts = np.sort(t[hit])
    if len(ts) > 1:   # one crossing through an edge or vertex is found by each triangle sharing it
        ts = ts[np.concatenate([[True], np.diff(ts) > 1e-6])]
    return ts


def depth_along_coil_axis(T_mri_from_coil, scalp, brain, behind_mm: float = 40.0,
                          max_depth_mm: float = 100.0) -> AxisDepth:
    """Scalp-to-cortex distance along the coil axis of a planned coil pose.

    T_mri_from_coil: 4x4 (origin at the coil centre on its face, +z into the head). The axis
    is searched from `behind_mm` behind the coil face (a coil resting on or slightly in the
    scalp mesh still finds the scalp) to `max_depth_mm` in front of it. GeometryError when the
    axis misses the scalp or reaches no brain surface."""
    T = np.asarray(T_mri_from_coil, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise GeometryError("the coil pose is not a finite 4x4 transform")
    _check_surface(scalp, "scalp")
    _check_surface(brain, "brain")
    c, z = T[:3, 3], T[:3, 2] / np.linalg.norm(T[:3, 2])
    start = c - behind_mm * z
    ts = _ray_hits(scalp, start, z, behind_mm + max_depth_mm)
    if not len(ts):
        raise GeometryError("the coil axis does not cross the scalp within "
                            f"{behind_mm:g} mm behind and {max_depth_mm:g} mm in front of the coil")
    p_scalp = start + ts[0] * z
    tb = _ray_hits(brain, p_scalp, z, max_depth_mm)
    tb = tb[tb > 1e-6]
    if not len(tb):
        raise GeometryError(f"the coil axis reaches no brain surface within {max_depth_mm:g} mm of the scalp")
    p_brain = p_scalp + tb[0] * z
    return AxisDepth(p_scalp, p_brain, float(tb[0]), float((p_brain - c) @ z))
