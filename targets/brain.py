"""Brain (cortex envelope) surface from a T1 MRI, or from a brain mask the planner already has.

Frames and units: mask arrays are (I, J, K) on the MRI's voxel grid; surfaces are in `mri`
(scanner RAS+, mm) with outward normals (targets.surfaces.Surface).

Skull stripping by intensity and morphology (no atlas needed):
 1. head mask (targets.surfaces.head_mask) and the depth of every voxel below the skin (mm);
 2. tissue = intensity above the Otsu threshold of the head's voxels, deeper than 8 mm;
 3. opening with a 4 mm ball cuts the thin bridges to the scalp, eyes and neck muscles; the
    largest component is the brain core;
 4. the core is grown back by 4 mm within a lower threshold (0.6 x Otsu, grey matter) and at
    least 5 mm below the skin, closed (3 mm) and hole-filled.
Steps 1-4 run on a ~2 mm grid (speed); the mask is interpolated back to the MRI grid and trimmed
with the grey-matter threshold there.
This finds the brain of a normal adult T1 with a visible skull gap; give a mask from a dedicated
tool (FSL BET, SynthStrip, FreeSurfer) with `brain_mask_path` for anything else.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from navcore.errors import GeometryError, InputFileError
from navcore.mri import MRIVolume, load_mri
from targets.skin_edge import skin_edge_field
from targets.surfaces import (Surface, head_mask, isosurface, isosurface_from_mask, largest_component, otsu_threshold,
                              SCALP_SMOOTHING_ITERATIONS)

MIN_BRAIN_ML = 400.0
MAX_BRAIN_ML = 2500.0


def _ball(radius_mm: float, voxel_mm: float) -> np.ndarray:
    r = max(1, int(round(radius_mm / voxel_mm)))
    g = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
    return (g ** 2).sum(0) <= r * r


def downsample(mri: MRIVolume, factor: int) -> MRIVolume:
    """Block-mean downsampling by an integer factor (the border that does not fill a block is
    dropped); the affine is adjusted so every block maps to its centre."""
    if factor <= 1:
        return mri
    f = int(factor)
    n = (np.array(mri.shape) // f) * f
    d = mri.data[:n[0], :n[1], :n[2]]
    small = d.reshape(n[0] // f, f, n[1] // f, f, n[2] // f, f).mean(axis=(1, 3, 5), dtype=np.float32)
    S = np.diag([f, f, f, 1.0])
    S[:3, 3] = (f - 1) / 2.0
    return MRIVolume(small, mri.T_mri_from_voxel @ S, mri.path)


def _strip(mri: MRIVolume, depth_mm: float, open_mm: float) -> tuple[np.ndarray, float]:
    head = head_mask(mri)
    d = mri.data
    inside = d[head]
    if inside.size < 200:
        raise GeometryError(f"{mri.path}: the head is too small to hold a brain")
    t = otsu_threshold(inside)
    vs = float(np.min(mri.voxel_size_mm))
    depth = ndimage.distance_transform_edt(head, sampling=mri.voxel_size_mm)
    cand = (d > t) & (depth > depth_mm)
    op = ndimage.binary_opening(cand, _ball(open_mm, vs))
    core = largest_component(op)
    if core is None:
        raise GeometryError(f"{mri.path}: no brain tissue found under the scalp")
    brain = ndimage.binary_dilation(core, _ball(open_mm, vs)) & (d > 0.6 * t) & (depth > depth_mm - 3.0)
    brain = ndimage.binary_closing(brain, _ball(3.0, vs))
    return ndimage.binary_fill_holes(brain), t


def brain_mask(mri: MRIVolume, depth_mm: float = 8.0, open_mm: float = 4.0, working_mm: float = 2.0) -> np.ndarray:
    """Boolean (I, J, K) brain mask by thresholding and morphology (see the module docstring).

    The morphology runs on a grid of about `working_mm` (block-mean downsampled: 8x fewer voxels
    for a 1 mm MRI); the result is interpolated back onto the MRI's grid and trimmed there with
    the grey-matter threshold. Raises GeometryError when no brain-sized component is found."""
    f = max(1, int(round(working_mm / float(np.min(mri.voxel_size_mm)))))
    small = downsample(mri, f)
    brain, t = _strip(small, depth_mm, open_mm)
    if f > 1:
        # full-res index x <-> small index (x - (f-1)/2) / f
        M = np.diag([1.0 / f] * 3)
        up = ndimage.affine_transform(brain.astype(np.float32), M, [-(f - 1) / (2.0 * f)] * 3,
                                      output_shape=mri.shape, order=1, mode="constant")
        brain = (up > 0.5) & (mri.data > 0.6 * t)
        brain = ndimage.binary_fill_holes(brain)
        lab, n = ndimage.label(brain)
        if n > 1:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            brain = lab == int(np.argmax(sizes))
    ml = brain.sum() * float(np.prod(mri.voxel_size_mm)) / 1000.0
    if not MIN_BRAIN_ML <= ml <= MAX_BRAIN_ML:
        raise GeometryError(f"{mri.path}: the brain found has an implausible volume of {ml:.0f} ml; "
                            "give a brain mask instead")
    return brain


def load_brain_mask(path: str | Path, mri: MRIVolume) -> np.ndarray:
    """A brain mask image (non-zero = brain) resampled (nearest) onto the MRI's voxel grid."""
    m = load_mri(path)
    data = m.data > 0.5 * float(m.data.max()) if m.data.max() > 0 else m.data > 0
    if not data.any():
        raise InputFileError(path, "the brain mask is empty")
    if m.shape == mri.shape and np.allclose(m.T_mri_from_voxel, mri.T_mri_from_voxel, atol=1e-3):
        return data
    M = m.T_voxel_from_mri @ mri.T_mri_from_voxel  # MRI voxel -> mask voxel
    out = ndimage.affine_transform(data.astype(np.uint8), M[:3, :3], M[:3, 3], output_shape=mri.shape, order=0)
    if not out.any():
        raise InputFileError(path, "the brain mask does not overlap the MRI")
    return out.astype(bool)


def surface_on_grid(mask: np.ndarray, mri: MRIVolume, contour_mm: float, target_triangles: int) -> Surface:
    """Isosurface of a mask contoured on a grid of about `contour_mm` (block-mean of the mask,
    cut at 0.5). On a 1 mm MRI a 2 mm grid gives ~50-100k triangles directly, so the slow
    decimation step is skipped; the surface moves by well under a millimetre (docs/planning.md)."""
    f = max(1, int(round(contour_mm / float(np.min(mri.voxel_size_mm)))))
    small = downsample(MRIVolume(mask.astype(np.float32), mri.T_mri_from_voxel, mri.path), f)
    return isosurface_from_mask(small.data > 0.5, small.T_mri_from_voxel, target_triangles)


def brain_surface(mri: MRIVolume, brain_mask_path: str | Path | None = None,
                  target_triangles: int = 60_000, contour_mm: float = 2.0) -> Surface:
    """Closed brain (cortex envelope) surface in `mri` mm, from a mask file or by skull stripping,
    contoured on a ~`contour_mm` grid (see surface_on_grid)."""
    mask = load_brain_mask(brain_mask_path, mri) if brain_mask_path else brain_mask(mri)
    return surface_on_grid(mask, mri, contour_mm, target_triangles)


def scalp_surface_on_grid(mri: MRIVolume, contour_mm: float = 2.0, threshold: float | None = None,
                          target_triangles: int = 100_000) -> Surface:
    """The scalp at the skin (targets.skin_edge.skin_edge_field: the half-maximum of the local
    skin/air edge) computed on a ~`contour_mm` block-mean downsampled copy of the MRI: for a 1 mm
    head this is well under a second instead of several (no decimation needed), nose and ears
    included. The block mean is a symmetric filter, so the edge's half-maximum stays in place."""
    f = max(1, int(round(contour_mm / float(np.min(mri.voxel_size_mm)))))
    small = downsample(mri, f)
    mask = head_mask(small, threshold)
    return isosurface(skin_edge_field(small.data, mask, small.voxel_size_mm), 0.0, small.T_mri_from_voxel,
                      target_triangles, SCALP_SMOOTHING_ITERATIONS)


def inside_mask(mask: np.ndarray, T_mri_from_voxel: np.ndarray, points_mri) -> np.ndarray:
    """Boolean (N,) whether points (N, 3) mri mm fall in a voxel mask (nearest voxel)."""
    p = np.atleast_2d(np.asarray(points_mri, dtype=np.float64))
    ijk = np.rint(p @ np.linalg.inv(T_mri_from_voxel)[:3, :3].T + np.linalg.inv(T_mri_from_voxel)[:3, 3]).astype(int)
    ok = np.all((ijk >= 0) & (ijk < np.array(mask.shape)), axis=1)
    out = np.zeros(len(p), dtype=bool)
    out[ok] = mask[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]]
    return out
