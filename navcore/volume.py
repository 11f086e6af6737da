"""The MRI volume: voxel data and the affine that puts it in the `mri` frame (scanner RAS+ mm).

Every reader (navcore.mri for NIfTI/MGZ, navcore.dicom for DICOM series) returns one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class MRIVolume:
    """A 3D scalar volume.

    data: (I, J, K) float32 array indexed by voxel (i, j, k).
    T_mri_from_voxel: 4x4 affine mapping voxel indices to scanner RAS+ mm.
    path: the file it came from.
    """

    data: np.ndarray
    T_mri_from_voxel: np.ndarray
    path: Path

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    @property
    def voxel_size_mm(self) -> np.ndarray:
        """Length in mm of one voxel step along i, j, k (3,)."""
        return np.linalg.norm(self.T_mri_from_voxel[:3, :3], axis=0)

    @property
    def T_voxel_from_mri(self) -> np.ndarray:
        return np.linalg.inv(self.T_mri_from_voxel)

    def voxel_to_mri(self, ijk: np.ndarray) -> np.ndarray:
        """Voxel indices (N, 3) (fractional allowed) to mri mm (N, 3)."""
        return voxel_to_mri(self.T_mri_from_voxel, ijk)

    def mri_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """mri mm (N, 3) to fractional voxel indices (N, 3)."""
        return mri_to_voxel(self.T_mri_from_voxel, xyz)


def voxel_to_mri(T_mri_from_voxel: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Voxel indices (N, 3) or (3,) to scanner RAS+ mm."""
    A = np.asarray(T_mri_from_voxel, dtype=np.float64)
    return np.asarray(ijk, dtype=np.float64) @ A[:3, :3].T + A[:3, 3]


def mri_to_voxel(T_mri_from_voxel: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Scanner RAS+ mm (N, 3) or (3,) to fractional voxel indices."""
    A = np.linalg.inv(np.asarray(T_mri_from_voxel, dtype=np.float64))
    return np.asarray(xyz, dtype=np.float64) @ A[:3, :3].T + A[:3, 3]
