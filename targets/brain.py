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
This finds the brain of a normal adult T1 with a visible skull gap; give a mask from a dedicated
tool (FSL BET, SynthStrip, FreeSurfer) with `brain_mask_path` for anything else.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from navcore.errors import GeometryError, InputFileError
from navcore.mri import MRIVolume, load_mri
from targets.surfaces import Surface, head_mask, isosurface_from_mask, otsu_threshold

MIN_BRAIN_ML = 400.0
MAX_BRAIN_ML = 2500.0


def _ball(radius_mm: float, voxel_mm: float) -> np.ndarray:
    r = max(1, int(round(radius_mm / voxel_mm)))
    g = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
    return (g ** 2).sum(0) <= r * r


def brain_mask(mri: MRIVolume, depth_mm: float = 8.0, open_mm: float = 4.0) -> np.ndarray:
    """Boolean (I, J, K) brain mask by thresholding and morphology (see the module docstring).
    Raises GeometryError when no brain-sized component is found."""
    head = head_mask(mri)
    d = mri.data
    inside = d[head]
    if inside.size < 1000:
        raise GeometryError(f"{mri.path}: the head is too small to hold a brain")
    t = otsu_threshold(inside)
    vs = float(np.min(mri.voxel_size_mm))
    depth = ndimage.distance_transform_edt(head, sampling=mri.voxel_size_mm)
    cand = (d > t) & (depth > depth_mm)
    op = ndimage.binary_opening(cand, _ball(open_mm, vs))
    lab, n = ndimage.label(op)
    if n == 0:
        raise GeometryError(f"{mri.path}: no brain tissue found under the scalp")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    core = lab == int(np.argmax(sizes))
    brain = ndimage.binary_dilation(core, _ball(open_mm, vs)) & (d > 0.6 * t) & (depth > depth_mm - 3.0)
    brain = ndimage.binary_closing(brain, _ball(3.0, vs))
    brain = ndimage.binary_fill_holes(brain)
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


def brain_surface(mri: MRIVolume, brain_mask_path: str | Path | None = None,
                  target_triangles: int = 60_000) -> Surface:
    """Closed brain (cortex envelope) surface in `mri` mm, from a mask file or by skull stripping."""
    mask = load_brain_mask(brain_mask_path, mri) if brain_mask_path else brain_mask(mri)
    return isosurface_from_mask(mask, mri.T_mri_from_voxel, target_triangles)


def inside_mask(mask: np.ndarray, T_mri_from_voxel: np.ndarray, points_mri) -> np.ndarray:
    """Boolean (N,) whether points (N, 3) mri mm fall in a voxel mask (nearest voxel)."""
    p = np.atleast_2d(np.asarray(points_mri, dtype=np.float64))
    ijk = np.rint(p @ np.linalg.inv(T_mri_from_voxel)[:3, :3].T + np.linalg.inv(T_mri_from_voxel)[:3, 3]).astype(int)
    ok = np.all((ijk >= 0) & (ijk < np.array(mask.shape)), axis=1)
    out = np.zeros(len(p), dtype=bool)
    out[ok] = mask[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]]
    return out
