"""Predicted target registration error (TRE) and expected FRE of a paired-point fit.

Fitzpatrick, West & Maurer, "Predicting error in rigid-body point-based registration",
IEEE Trans. Med. Imaging 17(5):694-702, 1998:

    <TRE^2(r)> = <FLE^2>/N * (1 + 1/3 * sum_k d_k^2 / f_k^2)
    <FRE^2>    = (1 - 2/N) <FLE^2>

N fiducials; k runs over the three principal axes of the fiducial configuration; d_k is the
distance of the target r from principal axis k, f_k the RMS distance of the fiducials from
principal axis k. FLE is the RMS 3D fiducial localisation error (isotropic, independent,
identical at every fiducial), so for per-axis standard deviation sigma, FLE = sqrt(3) sigma.
All lengths are mm, in the frame the fiducials are written in (usually mri).
"""
from __future__ import annotations

import numpy as np

from navcore.errors import RegistrationError


def _fiducials(fiducials: np.ndarray) -> np.ndarray:
    f = np.asarray(fiducials, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 3 or len(f) < 3:
        raise RegistrationError(f"TRE needs at least 3 fiducials as an (N, 3) array, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise RegistrationError("fiducials for the TRE prediction hold NaN or infinite coordinates")
    return f


def principal_axes(fiducials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centroid (3,) mm, axes (3, 3) with one unit principal axis per row) of the fiducials."""
    f = _fiducials(fiducials)
    c = f.mean(axis=0)
    _, _, Vt = np.linalg.svd(f - c)
    return c, Vt


def _axis_distances_sq(points: np.ndarray, centroid: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(M, 3) squared distance of each point from each principal axis (a line through the centroid)."""
    q = (np.asarray(points, dtype=np.float64).reshape(-1, 3) - centroid) @ axes.T  # coordinates along axes
    sq = q ** 2
    total = sq.sum(axis=1, keepdims=True)
    return total - sq  # distance from axis k^2 = |q|^2 - q_k^2


def predicted_tre(fiducials: np.ndarray, targets: np.ndarray, fle_mm: float) -> np.ndarray:
    """RMS TRE (mm) expected at each target.

    fiducials: (N, 3) mm, N >= 3, the fiducial configuration (any frame).
    targets: (M, 3) or (3,) mm in the same frame.
    fle_mm: RMS 3D fiducial localisation error, mm.
    Returns (M,) mm (a float array even for one target). Raises RegistrationError when the
    fiducials are collinear (the prediction is unbounded)."""
    f = _fiducials(fiducials)
    if not np.isfinite(fle_mm) or fle_mm < 0:
        raise RegistrationError(f"FLE must be a finite, non-negative number of mm, got {fle_mm}")
    c, axes = principal_axes(f)
    f_sq = _axis_distances_sq(f, c, axes).mean(axis=0)  # (3,) mean squared distance from each axis
    if np.min(f_sq) < 1e-6:
        raise RegistrationError("the fiducials are collinear; the target error cannot be bounded")
    d_sq = _axis_distances_sq(targets, c, axes)
    tre_sq = fle_mm ** 2 / len(f) * (1.0 + (d_sq / f_sq).sum(axis=1) / 3.0)
    return np.sqrt(tre_sq)


def expected_fre(n_fiducials: int, fle_mm: float) -> float:
    """RMS FRE (mm) expected for N fiducials with RMS localisation error FLE: sqrt(1 - 2/N) FLE."""
    if n_fiducials < 3:
        raise RegistrationError(f"{n_fiducials} fiducials: a rigid fit needs at least 3")
    return float(np.sqrt(1.0 - 2.0 / n_fiducials) * fle_mm)


def fle_from_fre(n_fiducials: int, fre_mm: float) -> float:
    """Estimate RMS FLE (mm) from an observed RMS FRE: FRE / sqrt(1 - 2/N)."""
    if n_fiducials < 3:
        raise RegistrationError(f"{n_fiducials} fiducials: a rigid fit needs at least 3")
    return float(fre_mm / np.sqrt(1.0 - 2.0 / n_fiducials))
