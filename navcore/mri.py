"""MRI loading: NIfTI-1/2 and MGZ via nibabel, DICOM series via pydicom (navcore.dicom).

The world frame is `mri`: scanner RAS+ in mm, exactly what the image affine maps voxel
indices (i, j, k) to. Oblique affines are kept as they are; nothing is flipped or reoriented.
The volume itself (MRIVolume, voxel <-> mri) is navcore.volume's; its names are here too.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from navcore.dicom import is_dicom_file, load_dicom_series
from navcore.errors import InputFileError
from navcore.volume import MRIVolume, mri_to_voxel, voxel_to_mri  # noqa: F401 (navcore.mri's public names)

MIN_VOXEL_MM = 0.05
MAX_VOXEL_MM = 20.0
MAX_VOXELS = 1024 ** 3  # a 0.25 mm whole-head scan has ~0.2e9; a header declaring more is damaged


def load_mri(path: str | Path, series_uid: str | None = None) -> MRIVolume:
    """Load a 3D MRI: .nii, .nii.gz, .mgz, .mgh, or a DICOM series (a folder, or one file of the
    series; series_uid chooses among several series in a folder, see navcore.dicom). Raises
    InputFileError with one clear sentence for a missing, truncated, non-3D, NaN-affine or
    absurd-voxel-size file."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "the MRI file does not exist")
    if path.is_dir() or is_dicom_file(path):
        vol = load_dicom_series(path, series_uid)
        vox = vol.voxel_size_mm
        if np.any(vox < MIN_VOXEL_MM) or np.any(vox > MAX_VOXEL_MM):
            raise InputFileError(path, f"the MRI voxel size {np.round(vox, 4).tolist()} mm is outside {MIN_VOXEL_MM}-{MAX_VOXEL_MM} mm")
        return vol
    try:
        img = nib.load(str(path))
    except nib.filebasedimages.ImageFileError as e:
        raise InputFileError(path, "is not an MRI format navtms reads (NIfTI-1/2 or MGZ)") from e
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError, struct.error,
            nib.spatialimages.HeaderDataError) as e:  # e.g. a header with an unknown data type code
        raise InputFileError(path, f"the MRI file cannot be read ({e.__class__.__name__}: it may be truncated or corrupt)") from e
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputFileError(path, f"the MRI has {len(img.shape)} dimensions {tuple(img.shape)}; a 3D volume is needed")
    if min(shape) < 2:
        raise InputFileError(path, f"the MRI has a flat shape {tuple(shape)}; a 3D volume is needed")
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)):
        raise InputFileError(path, "the MRI affine holds NaN or infinite values")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputFileError(path, "the MRI affine is singular")
    vox = np.linalg.norm(affine[:3, :3], axis=0)
    if np.any(vox < MIN_VOXEL_MM) or np.any(vox > MAX_VOXEL_MM):
        raise InputFileError(path, f"the MRI voxel size {np.round(vox, 4).tolist()} mm is outside {MIN_VOXEL_MM}-{MAX_VOXEL_MM} mm")
    n_voxels = int(np.prod([int(v) for v in shape]))
    if n_voxels > MAX_VOXELS:
        raise InputFileError(path, f"the MRI header declares {n_voxels} voxels {tuple(shape)}, more than a head MRI "
                                   f"has (limit {MAX_VOXELS}); the file is damaged or not a head scan")
    try:
        data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError, struct.error, MemoryError, OverflowError,
            nib.spatialimages.HeaderDataError) as e:
        raise InputFileError(path, f"the MRI voxel data cannot be read ({e.__class__.__name__}: the file may be truncated)") from e
    if not np.any(np.isfinite(data)):
        raise InputFileError(path, "the MRI holds no finite voxel values")
    data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return MRIVolume(data=data, T_mri_from_voxel=affine, path=path)
