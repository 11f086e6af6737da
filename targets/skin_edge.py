"""Where the skin is in a T1: a volume whose zero level set is the skin/air boundary at the
half-maximum of the LOCAL outer intensity edge (sub-voxel), for the scalp surface.

Frames and units: arrays are (I, J, K) on the MRI's voxel grid; lengths are mm (voxel_mm per
axis); intensities are the image's own units.

The half-maximum is measured on intensity profiles, one per voxel of the head mask's boundary,
taken along the mask's inward normal from EDGE_SEARCH_OUT_MM outside to EDGE_SEARCH_IN_MM inside:
walking in from the air, the profile's first maximum is the skin's peak (the first tissue the
pointer meets), and the edge's level is half way between the air (the image's background level)
and that peak. The levels are spread over a Gaussian neighbourhood of EDGE_REGION_MM, so each
region of the head (scalp, forehead, eyelids, nose, ears) is contoured at its own level.
Why profiles and not an average over the region's edges: around the eyes and the nose bridge a
faint, slow edge (eyelid, thin skin over the nasal bone) lies next to the forehead's strong one;
an average weighted by gradient strength takes the strong edge's level and puts the surface
1-4 mm inside the faint skin. A profile's first maximum also stops a bright layer behind a dim
skin (orbital fat, the diploe) from raising the level.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from navcore.errors import GeometryError
from targets.masks import largest_component

#: Gaussian width (mm) over which the profiles' edge levels are spread (per region, not global).
EDGE_REGION_MM = 3.0
#: How far (mm) inside and outside the threshold mask's boundary the skin edge is looked for.
EDGE_SEARCH_IN_MM = 10.0
EDGE_SEARCH_OUT_MM = 4.0
#: Half-width (mm) of the band about the edge where the intensities place the surface.
EDGE_BAND_MM = 2.5
#: The skin's peak: the first sample where the profile, having risen by PEAK_RISE of its range,
#: falls PEAK_DROP of the rise below its running maximum (the running maximum there is the peak).
PEAK_RISE = 0.2
PEAK_DROP = 0.03
#: Air: voxels at least this far (mm) outside the head mask.
AIR_GAP_MM = 6.0


def signed_depth(mask: np.ndarray, voxel_mm: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(signed distance (I, J, K) float32 mm below the mask's boundary, positive inside; its
    gradient, 3 arrays), computed on a 2x coarser grid and trilinearly interpolated back (good to
    about a voxel, several times faster than at full size)."""
    small = mask[::2, ::2, ::2]
    vs2 = 2.0 * np.asarray(voxel_mm, dtype=np.float64)
    sd = (ndimage.distance_transform_edt(small, sampling=vs2)
          - ndimage.distance_transform_edt(~small, sampling=vs2)).astype(np.float32)
    # small index j sits at full index 2 j
    coords = [np.arange(n, dtype=np.float32) / 2.0 for n in mask.shape]
    up = lambda a: _upsample2(a, coords)  # noqa: E731
    return up(sd), [up(gk) for gk in np.gradient(sd, *vs2)]


def _upsample2(a: np.ndarray, coords) -> np.ndarray:
    """Separable linear interpolation of a coarse (2x) array at full-grid coordinates."""
    out = a
    for axis, c in enumerate(coords):
        i0 = np.clip(np.floor(c).astype(int), 0, a.shape[axis] - 1)
        i1 = np.clip(i0 + 1, 0, a.shape[axis] - 1)
        t = (c - i0).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = -1
        t = t.reshape(shape)
        out = np.take(out, i0, axis=axis) * (1 - t) + np.take(out, i1, axis=axis) * t
    return out


def _smooth_coarse(arrays: list[np.ndarray], sigma_vox: np.ndarray) -> list[np.ndarray]:
    """Wide Gaussian smoothing (sigma_vox per axis, >= ~2 voxels) done on 2x2x2 block means and
    interpolated back: the result is smooth on that scale, so little is lost and it is ~8x cheaper."""
    shape = arrays[0].shape
    n = [(k // 2) * 2 for k in shape]
    coords = [np.clip((np.arange(k, dtype=np.float32) - 0.5) / 2.0, 0, None) for k in shape]  # block j centre: 2j + 0.5
    out = []
    for a in arrays:
        b = a[: n[0], : n[1], : n[2]].reshape(n[0] // 2, 2, n[1] // 2, 2, n[2] // 2, 2).mean(axis=(1, 3, 5))
        out.append(_upsample2(ndimage.gaussian_filter(b, np.asarray(sigma_vox) / 2.0, truncate=3.0), coords))
    return out


def air_level(g: np.ndarray, sdepth: np.ndarray) -> float:
    """The background's intensity: the median of the voxels at least AIR_GAP_MM outside the head
    mask (the 1st percentile of the image when the head fills the field of view)."""
    air = g[sdepth < -AIR_GAP_MM]
    return float(np.median(air)) if air.size >= 100 else float(np.percentile(g, 1))


def profile_half_max(profiles: np.ndarray, s_mm: np.ndarray, air: float,
                     min_rise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outer edge of each intensity profile (P, S), sampled at s_mm (S,) mm increasing inwards.

    Returns (ok (P,) bool, level (P,) the half-maximum intensity between `air` and the first peak,
    depth (P,) mm, the s where the profile last crosses that level before the peak, linearly
    interpolated). A profile is not ok when its peak rises less than `min_rise` above the air or it
    starts above its own half-maximum (the edge lies outside the profile)."""
    p = np.asarray(profiles, dtype=np.float64)
    P, S = p.shape
    top = p.max(axis=1)
    run = np.maximum.accumulate(p, axis=1)
    risen = run >= air + PEAK_RISE * (top - air)[:, None]
    drop = risen & (p < run - PEAK_DROP * (run - air))
    k_end = np.where(drop.any(axis=1), np.argmax(drop, axis=1), S - 1)
    peak = run[np.arange(P), k_end]
    level = 0.5 * (air + peak)
    idx = np.arange(S)[None, :]
    k_peak = np.argmax(np.where(idx <= k_end[:, None], p, -np.inf), axis=1)
    below = (p <= level[:, None]) & (idx < k_peak[:, None])
    has = below.any(axis=1)
    j = S - 1 - np.argmax(below[:, ::-1], axis=1)  # the last sample at or below the level before the peak
    j = np.minimum(j, S - 2)
    p0, p1 = p[np.arange(P), j], p[np.arange(P), j + 1]
    frac = np.clip((level - p0) / np.where(p1 > p0, p1 - p0, 1.0), 0.0, 1.0)
    step = s_mm[1] - s_mm[0]
    depth = s_mm[j] + frac * step
    ok = has & (peak - air >= min_rise)
    return ok, level, depth


def skin_edge_field(data: np.ndarray, mask: np.ndarray, voxel_mm) -> np.ndarray:
    """A volume (I, J, K) whose zero level set is the skin/air boundary: the lightly smoothed
    intensity minus the local half-maximum level of the outer edge (see the module docstring),
    positive inside.

    Topology comes from the mask: one connected inside, no holes (sinuses, ear canals), nothing
    floating outside; only voxels within EDGE_BAND_MM of the local edge depth keep their
    intensities, and only next to that inside's boundary do they keep sub-voxel values."""
    vs = np.asarray(voxel_mm, dtype=np.float64).reshape(-1)
    vs = np.broadcast_to(vs, (3,)) if vs.size == 1 else vs
    g = ndimage.gaussian_filter(np.asarray(data, dtype=np.float32), 0.6)
    sdepth, dir_in = signed_depth(mask, vs)
    air = air_level(g, sdepth)
    # profiles along the inward normal from every voxel of the mask's boundary
    seeds = np.argwhere(mask & ~ndimage.binary_erosion(mask))
    u = np.stack([gk[tuple(seeds.T)] for gk in dir_in], axis=1).astype(np.float64)  # d(depth)/d(mm): inwards
    un = np.linalg.norm(u, axis=1)
    seeds, u = seeds[un > 1e-6], u[un > 1e-6] / un[un > 1e-6, None]
    step = 0.25 * float(np.min(vs))
    s = np.arange(-EDGE_SEARCH_OUT_MM, EDGE_SEARCH_IN_MM + 0.5 * step, step)
    pos = seeds[:, None, :] + s[None, :, None] * (u / vs)[:, None, :]  # voxel index coordinates
    prof = ndimage.map_coordinates(g, pos.reshape(-1, 3).T, order=1, mode="nearest").reshape(len(seeds), len(s))
    inner = g[sdepth > EDGE_SEARCH_IN_MM]
    tissue = float(np.percentile(inner, 90)) if inner.size else float(np.percentile(g, 99))
    ok, level, depth = profile_half_max(prof, s, air, 0.1 * (tissue - air))
    seeds, level, depth = seeds[ok], level[ok], depth[ok]
    # spread the profiles' levels and edge depths (below the mask's boundary) over the region
    den = np.zeros(mask.shape, np.float32)
    wl = np.zeros(mask.shape, np.float32)
    wd = np.zeros(mask.shape, np.float32)
    at = tuple(seeds.T)
    den[at], wl[at], wd[at] = 1.0, level, depth + sdepth[at]
    den, wl, wd = _smooth_coarse([den, wl, wd], EDGE_REGION_MM / vs)
    seen = den > 1e-3 * float(den.max())
    f = g - wl / np.maximum(den, 1e-12)
    edge_depth = wd / np.maximum(den, 1e-12)
    edge_depth[~seen] = 0.0  # no edge seen nearby: fall back to the mask's boundary
    f[~seen] = sdepth[~seen]  # ... and the surface at that boundary
    # only a band of EDGE_BAND_MM about the edge is left to the intensities; deeper is inside (dark
    # skull, sinuses and ear canals do not make holes), farther out is air (no floating shells)
    rel = sdepth - edge_depth
    inside = (rel > EDGE_BAND_MM) | ((f > 0) & (rel >= -EDGE_BAND_MM))
    inside = largest_component(inside)
    if inside is None:
        raise GeometryError("no skin edge was found around the head mask")
    inside = ndimage.binary_fill_holes(inside)
    near = ndimage.binary_dilation(inside, iterations=2) & ~ndimage.binary_erosion(inside, iterations=2)
    scale = float(np.percentile(np.abs(f[near]), 95)) if np.any(near) else 1.0
    out = np.where(inside, scale, -scale).astype(np.float32)
    keep = near & ((f > 0) == inside)  # sub-voxel values where they agree with the topology
    out[keep] = f[keep]
    return out
