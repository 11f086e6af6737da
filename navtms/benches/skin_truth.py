"""Independent models of where the skin is, for benches and tests (not used by navtms itself).

Written apart from targets.surfaces on purpose: a figure that compares the scalp surface with
these models compares two different ways of finding the skin, not the code with itself.

- `ray_half_max_edges`: rays from the head's centre outwards through the T1 volume; along each
  ray, walking in from the air, the first intensity maximum of the tissue is the skin's peak, and
  the skin/air edge is where the profile crosses half way between the air level and that peak
  (linear interpolation between 0.25 mm samples). Points in frame `mri`, mm.
- `layered_phantom`: a digital head of nested layers (skin, fat, skull, CSF, brain) whose outer
  boundary is an ellipsoid known exactly, rendered with partial volumes, blurred with a Gaussian
  point spread function and given Rician-like noise; `ellipsoid_signed_distance` gives the true
  signed distance (mm, positive outside) of any point from the skin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


def fibonacci_directions(n: int) -> np.ndarray:
    """(n, 3) unit vectors spread evenly over the sphere (golden-angle spiral)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    phi = k * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


@dataclass(frozen=True)
class RayEdges:
    """Skin/air edges found along rays.

    points_mri: (M, 3) mm, the half-maximum crossing on each ray that gave one (frame mri).
    directions: (M, 3) unit ray directions (frame mri) of those rays.
    normals: (M, 3) unit outward normals of the edge (minus the smoothed image gradient there).
    peaks, backgrounds: (M,) the skin peak and air level of each ray (image intensity units).
    centre_mri: (3,) mm, where the rays start.
    """

    points_mri: np.ndarray
    directions: np.ndarray
    normals: np.ndarray
    peaks: np.ndarray
    backgrounds: np.ndarray
    centre_mri: np.ndarray


def ray_half_max_edges(data: np.ndarray, T_mri_from_voxel: np.ndarray, n_rays: int = 2000, step_mm: float = 0.25,
                       min_z: float = -0.35, centre_mri: np.ndarray | None = None,
                       min_cos: float = 0.7) -> RayEdges:
    """Half-maximum skin edges on `n_rays` rays (see the module docstring).

    data: (I, J, K) T1 intensities; T_mri_from_voxel: its 4x4 affine (mm).
    min_z: rays pointing lower than this (z of the unit direction in mri) are skipped (neck cut).
    centre_mri: the rays' start (default: the centroid of the voxels above a quarter of the
    99th-percentile intensity, shifted 20 mm up so rays leave through the scalp, not the neck).
    Rays whose profile has no clear peak (less than 4x the air level's spread) are dropped, and so
    are rays that cross the edge at a grazing angle (cosine to the image gradient below min_cos:
    the side of the nose, the ear's rim), where a ray's crossing is ill-defined."""
    A = np.asarray(T_mri_from_voxel, dtype=np.float64)
    Ainv = np.linalg.inv(A)
    vol = np.asarray(data, dtype=np.float32)
    if centre_mri is None:
        hi = vol > 0.25 * float(np.percentile(vol, 99))
        ijk = np.argwhere(hi).mean(axis=0)
        centre_mri = A[:3, :3] @ ijk + A[:3, 3] + np.array([0.0, 0.0, 20.0])
    c = np.asarray(centre_mri, dtype=np.float64)
    dirs = fibonacci_directions(n_rays)
    dirs = dirs[dirs[:, 2] >= min_z]
    vs = float(np.min(np.linalg.norm(A[:3, :3], axis=0)))
    extent = float(np.linalg.norm(np.array(vol.shape) * np.linalg.norm(A[:3, :3], axis=0)))
    t = np.arange(0.0, extent, step_mm)
    pts = c[None, None, :] + dirs[:, None, :] * t[None, :, None]  # (R, S, 3)
    vox = pts.reshape(-1, 3) @ Ainv[:3, :3].T + Ainv[:3, 3]
    prof = ndimage.map_coordinates(vol, vox.T, order=1, mode="constant", cval=np.nan).reshape(len(dirs), len(t))
    # a light smoothing along the ray (about half a voxel) so single noisy samples make no peak
    sm = max(1, int(round(0.5 * vs / step_mm)))
    kernel = np.ones(2 * sm + 1) / (2 * sm + 1)
    out_pts, out_dirs, peaks, bgs = [], [], [], []
    for r in range(len(dirs)):
        p = prof[r]
        valid = np.isfinite(p)
        if not valid.any():
            continue
        last = int(np.nonzero(valid)[0][-1])
        p = p[: last + 1]
        if not np.all(np.isfinite(p)):
            continue
        p = np.convolve(np.pad(p, sm, mode="edge"), kernel, mode="valid")
        # walk inwards from the outer end: air level = median of the outermost 10 mm
        rev = p[::-1]
        n_air = int(10.0 / step_mm)
        air = rev[:n_air]
        bg = float(np.median(air))
        spread = float(np.percentile(air, 90) - np.percentile(air, 10)) + 1e-6
        tissue = float(np.percentile(p, 99))
        rise = np.nonzero(rev > bg + 0.2 * (tissue - bg))[0]
        if len(rise) == 0:
            continue
        k = int(rise[0])
        # climb to the first maximum (stop when the profile falls by 3 % of the rise below the best so far)
        best, kb = rev[k], k
        for j in range(k, len(rev)):
            if rev[j] > best:
                best, kb = rev[j], j
            elif rev[j] < best - 0.03 * (best - bg):
                break
        if best - bg < 4.0 * spread:
            continue
        half = 0.5 * (bg + best)
        # last crossing of `half` before the peak, walking inwards
        j = kb
        while j > 0 and rev[j] > half:
            j -= 1
        if j == 0:
            continue
        frac = (half - rev[j]) / (rev[j + 1] - rev[j])
        s_in = j + frac  # samples from the outer end
        tt = t[last] - s_in * step_mm
        out_pts.append(c + dirs[r] * tt)
        out_dirs.append(dirs[r])
        peaks.append(best)
        bgs.append(bg)
    P = np.array(out_pts).reshape(-1, 3)
    D = np.array(out_dirs).reshape(-1, 3)
    # outward normal: minus the gradient of the lightly smoothed image at the crossing
    g = ndimage.gaussian_filter(vol, 1.0)
    vp = (P @ Ainv[:3, :3].T + Ainv[:3, 3]).T
    grad_vox = np.stack([ndimage.map_coordinates(gk, vp, order=1) for gk in np.gradient(g)], axis=1)
    grad = grad_vox @ Ainv[:3, :3]  # d/d(mri) = d/d(voxel) @ d(voxel)/d(mri)
    N = -grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-12)
    keep = np.sum(N * D, axis=1) >= min_cos
    return RayEdges(P[keep], D[keep], N[keep], np.array(peaks)[keep], np.array(bgs)[keep], c)


# ----------------------------------------------------------------------------- phantom
#: (name, thickness mm, intensity) from the skin inwards; the brain fills the rest.
PHANTOM_LAYERS = (("skin", 3.0, 0.9), ("fat", 3.5, 1.0), ("skull", 6.0, 0.12), ("csf", 2.0, 0.3))
PHANTOM_BRAIN = 0.65


@dataclass(frozen=True)
class Phantom:
    """A layered digital head.

    data: (I, J, K) float32 intensities (air ~0, fat 1).
    T_mri_from_voxel: 4x4 affine (mm) of the grid.
    centre_mri, semi_axes_mm: the skin ellipsoid (axis-aligned in mri).
    psf_sigma_mm, noise_sigma: the blur and the noise it was made with.
    """

    data: np.ndarray
    T_mri_from_voxel: np.ndarray
    centre_mri: np.ndarray
    semi_axes_mm: np.ndarray
    psf_sigma_mm: float
    noise_sigma: float


def ellipsoid_signed_distance(points: np.ndarray, centre: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """Signed distance (mm, positive outside) of points (N, 3) mm from an axis-aligned ellipsoid,
    found as the exact closest point (Newton on the Lagrange multiplier of the projection)."""
    q = np.abs(np.asarray(points, dtype=np.float64).reshape(-1, 3) - centre)
    a = np.asarray(semi_axes, dtype=np.float64)
    inside = np.sum((q / a) ** 2, axis=1) < 1.0
    # closest point x_i = a_i^2 q_i / (a_i^2 + s); solve g(s) = sum (a_i q_i / (a_i^2 + s))^2 - 1 = 0
    s = np.zeros(len(q))
    s_lo = np.full(len(q), -a.min() ** 2 + 1e-9)
    for _ in range(60):
        den = a[None, :] ** 2 + s[:, None]
        g = np.sum((a * q / den) ** 2, axis=1) - 1.0
        dg = -2.0 * np.sum((a * q) ** 2 / den ** 3, axis=1)
        s_new = s - g / np.where(dg == 0, -1e-12, dg)
        s = np.maximum(s_new, 0.5 * (s + s_lo))  # stay right of the pole
    x = (a ** 2)[None, :] * q / (a[None, :] ** 2 + s[:, None])
    d = np.linalg.norm(q - x, axis=1)
    return np.where(inside, -d, d)


def layered_phantom(voxel_mm: float = 1.25, semi_axes_mm=(68.0, 85.0, 75.0), psf_sigma_mm: float = 0.8,
                    noise_sigma: float = 0.02, seed: int = 0, margin_mm: float = 12.0,
                    faint_cone_deg: float = 0.0, faint_gain: float = 0.35) -> Phantom:
    """Render the layered head (see the module docstring) on an axis-aligned grid of `voxel_mm`.

    Partial volumes come from 4x supersampling along each axis of the signed distance; the blur is
    a Gaussian of `psf_sigma_mm`; noise is the magnitude of complex Gaussian noise of
    `noise_sigma` per channel (Rician, as magnitude MRI is). Deterministic for a seed.
    faint_cone_deg > 0: within that angle of +y (the face) the skin and fat are `faint_gain` times
    as bright (a faint edge beside the strong one, as over closed eyes); the skin stays where it is."""
    a = np.asarray(semi_axes_mm, dtype=np.float64)
    shape = np.ceil(2 * (a + margin_mm) / voxel_mm).astype(int)
    centre_vox = (shape - 1) / 2.0
    T = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    T[:3, 3] = -centre_vox * voxel_mm  # centre of the grid at the mri origin
    centre = np.zeros(3)
    # partial volumes from a 2x supersampled signed distance (first order f/|grad f|, exact to
    # ~0.01 mm within a voxel of the skin; the inner layers need not be exact offsets)
    sub = 2
    grids = [((np.arange(n * sub) + 0.5) / sub - 0.5) * voxel_mm - centre_vox[i] * voxel_mm for i, n in enumerate(shape)]
    acc = np.zeros(tuple(shape), dtype=np.float64)
    X, Y = np.meshgrid(grids[0] / a[0], grids[1] / a[1], indexing="ij")
    for kz, z in enumerate(grids[2]):
        Z = z / a[2]
        rho = np.sqrt(X ** 2 + Y ** 2 + Z ** 2) + 1e-12
        grad = np.sqrt((X / a[0]) ** 2 + (Y / a[1]) ** 2 + (Z / a[2]) ** 2) / rho
        sd = (rho - 1.0) / np.maximum(grad, 1e-12)
        val = np.where(sd > 0, 0.0, PHANTOM_BRAIN)
        gain = 1.0
        if faint_cone_deg > 0:
            cos_y = (Y * a[1]) / np.sqrt((X * a[0]) ** 2 + (Y * a[1]) ** 2 + z ** 2 + 1e-12)
            gain = np.where(cos_y > np.cos(np.radians(faint_cone_deg)), faint_gain, 1.0)
        depth = 0.0
        for name, thick, inten in PHANTOM_LAYERS:
            level = inten * gain if name in ("skin", "fat") else inten
            val = np.where((sd <= -depth) & (sd > -(depth + thick)), level, val)
            depth += thick
        acc[:, :, kz // sub] += val.reshape(shape[0], sub, shape[1], sub).sum(axis=(1, 3))
    img = acc / sub ** 3
    img = ndimage.gaussian_filter(img, psf_sigma_mm / voxel_mm)
    rng = np.random.default_rng(seed)
    noisy = np.hypot(img + rng.normal(0, noise_sigma, img.shape), rng.normal(0, noise_sigma, img.shape))
    return Phantom(noisy.astype(np.float32), T, centre, a, float(psf_sigma_mm), float(noise_sigma))
