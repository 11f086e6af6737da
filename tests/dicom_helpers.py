"""Write a volume as a DICOM MR series, straight from the DICOM Image Plane description
(PS3.3 C.7.6.2), for tests of navcore.dicom: an independent model of the geometry.

Volume voxel (i, j, k) = (column, row, slice); the RAS+ affine A is turned into LPS by
diag(-1, -1, 1, 1); column 0 of the LPS affine is PixelSpacing[1] * row cosine, column 1 is
PixelSpacing[0] * column cosine, and slice k's ImagePositionPatient is the LPS affine applied to
(0, 0, k).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _ds(values) -> list[str]:
    return [format_number_as_ds(float(v)) for v in values]


def write_series(folder: Path, data: np.ndarray, T_mri_from_voxel: np.ndarray, description: str = "T1 MPRAGE",
                 series_number: int = 3, image_type=("ORIGINAL", "PRIMARY", "M"), series_uid: str | None = None,
                 study_uid: str | None = None, skip_slices=(), slope: float | None = None,
                 intercept: float | None = None, shuffle: bool = True, prefix: str = "IM") -> list[Path]:
    """Write `data` (I, J, K) (non-negative integers < 65536, stored uint16) as one slice file per k
    into `folder`. Returns the files written (in a shuffled order of names when shuffle)."""
    folder.mkdir(parents=True, exist_ok=True)
    A = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(T_mri_from_voxel, dtype=np.float64)
    dc = np.linalg.norm(A[:3, 0])
    dr = np.linalg.norm(A[:3, 1])
    row_cos, col_cos = A[:3, 0] / dc, A[:3, 1] / dr
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    n_slices = data.shape[2]
    names = np.arange(n_slices)
    if shuffle:
        names = np.random.default_rng(7).permutation(n_slices)
    out = []
    for k in range(n_slices):
        if k in skip_slices:
            continue
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        sop_uid = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.Modality = "MR"
        ds.Manufacturer = "navtms test"
        ds.PatientName = "Sample^Head"
        ds.PatientID = "sample"
        ds.StudyDate = "20260101"
        ds.SeriesDate = "20260101"
        ds.AcquisitionTime = "120000.000000"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.ImageType = list(image_type)
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = _ds(list(row_cos) + list(col_cos))
        ds.ImagePositionPatient = _ds((A @ np.array([0.0, 0.0, k, 1.0]))[:3])
        ds.PixelSpacing = _ds([dr, dc])
        ds.SliceThickness = format_number_as_ds(float(np.linalg.norm(A[:3, 2])))
        ds.EchoTime = "3.0"
        ds.RepetitionTime = "2000"
        ds.MagneticFieldStrength = "3"
        ds.Rows = data.shape[1]
        ds.Columns = data.shape[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        if slope is not None:
            ds.RescaleSlope = format_number_as_ds(float(slope))
            ds.RescaleIntercept = format_number_as_ds(float(intercept or 0.0))
        ds.PixelData = np.ascontiguousarray(data[:, :, k].T.astype("<u2")).tobytes()
        f = folder / f"{prefix}{names[k]:04d}.dcm"
        ds.save_as(str(f), enforce_file_format=True)
        out.append(f)
    return out


def read_back(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(str(path))
