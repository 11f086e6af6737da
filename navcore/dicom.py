"""DICOM series reading: a folder of single-frame MR slices to a volume in scanner RAS+ mm.

Geometry (DICOM PS3.3 C.7.6.2, Image Plane Module), all in the patient LPS frame in mm:
  ImageOrientationPatient = (row cosine r, column cosine c): r points along a row (increasing
  column index), c down a column (increasing row index);
  PixelSpacing = (spacing between rows, spacing between columns) = (dr, dc);
  ImagePositionPatient = centre of the first transmitted pixel (row 0, column 0) of each slice.
A pixel at (column i, row j) of slice k is  IPP_0 + i*dc*r + j*dr*c + k*s  where slices are sorted
by their position along the normal n = r x c and s is the step between consecutive positions.
navtms voxel (i, j, k) = (column, row, slice), so
  T_lps_from_voxel = [dc*r | dr*c | s | IPP_0]  and  T_mri_from_voxel = diag(-1, -1, 1, 1) @ it
(LPS to RAS+ is a sign change of x and y; nothing else is flipped or reordered, oblique stays oblique).
Stored values are scaled by RescaleSlope/RescaleIntercept (PS3.3 C.11.1.1.2) when present.

pydicom reads the files; this module only groups, checks and stacks them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.volume import MRIVolume

ORIENTATION_TOL = 1e-4   # direction cosines agreeing to this are the same orientation
SPACING_TOL = 0.01       # relative spread of slice steps accepted as uniform
SHEAR_TOL_MM = 0.01      # in-plane drift of slice origins (gantry tilt) accepted
T_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in a folder: uid, number, description, modality, the files (unsorted),
    and whether it looks like a localiser (ImageType LOCALIZER or fewer than 3 slices)."""

    uid: str
    number: str
    description: str
    modality: str
    files: tuple[Path, ...]
    localizer: bool

    def label(self) -> str:
        return f"#{self.number or '?'} '{self.description or 'no description'}' ({len(self.files)} files, UID {self.uid})"


def is_dicom_file(path: str | Path) -> bool:
    """True when the file carries the DICOM Part 10 preamble ('DICM' at byte 128)."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _read_header(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, AttributeError):
        return None


def list_series(folder: str | Path) -> list[SeriesInfo]:
    """Every image series among the DICOM files in `folder` (and its subfolders), by SeriesNumber.
    Files that are not DICOM images (DICOMDIR, text, other files) are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "the DICOM folder does not exist")
    groups: dict[str, dict] = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        if f.name.upper() == "DICOMDIR" or not is_dicom_file(f):
            continue
        ds = _read_header(f)
        if ds is None or "SeriesInstanceUID" not in ds or "PixelSpacing" not in ds and "NumberOfFrames" not in ds:
            continue
        g = groups.setdefault(str(ds.SeriesInstanceUID), {
            "number": str(ds.get("SeriesNumber", "") or ""), "description": str(ds.get("SeriesDescription", "") or ""),
            "modality": str(ds.get("Modality", "") or ""), "files": [], "localizer": False})
        g["files"].append(f)
        image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
        if "LOCALIZER" in image_type:
            g["localizer"] = True
    out = [SeriesInfo(uid, g["number"], g["description"], g["modality"], tuple(g["files"]),
                      g["localizer"] or len(g["files"]) < 3) for uid, g in groups.items()]

    def key(s: SeriesInfo):
        try:
            return (0, int(s.number), s.uid)
        except ValueError:
            return (1, 0, s.uid)
    return sorted(out, key=key)


def choose_series(folder: Path, series: list[SeriesInfo], uid: str | None = None) -> SeriesInfo:
    """The series to load: the one with `uid` (or SeriesNumber) when given; else the only one
    that is not a localiser. Several candidates: InputFileError listing them."""
    if not series:
        raise InputFileError(folder, "the folder holds no DICOM image files")
    if uid is not None:
        for s in series:
            if uid in (s.uid, s.number):
                return s
        raise InputFileError(folder, f"the folder has no DICOM series '{uid}'; it holds "
                                     + "; ".join(s.label() for s in series))
    volumes = [s for s in series if not s.localizer]
    if len(volumes) == 1:
        return volumes[0]
    if not volumes:
        raise InputFileError(folder, "the folder holds only a localiser (scout) series, not a 3D T1 series: "
                                     + "; ".join(s.label() for s in series))
    raise InputFileError(folder, f"the folder holds {len(volumes)} image series; choose one (give one of its "
                                 "files instead of the folder, or its UID): " + "; ".join(s.label() for s in volumes))


def _floats(ds, key: str, n: int, path: Path) -> np.ndarray:
    v = ds.get(key)
    try:
        a = np.array([float(x) for x in v], dtype=np.float64)
    except (TypeError, ValueError):
        a = np.zeros(0)
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise InputFileError(path, f"the DICOM slice has no valid {key} ({n} numbers); it cannot be placed in space")
    return a


def _pixels(ds, path: Path) -> np.ndarray:
    """The slice's stored values scaled to real values, float64 (rows, columns)."""
    try:
        arr = ds.pixel_array
    except (NotImplementedError, RuntimeError, ImportError) as e:
        ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        name = getattr(ts, "name", str(ts))
        raise InputFileError(path, f"the DICOM pixel data is compressed ({name}) and no decoder for it is installed "
                                   "(install pylibjpeg with its plugins, or convert the series with dcm2niix)") from e
    except (ValueError, AttributeError, KeyError) as e:
        raise InputFileError(path, f"the DICOM pixel data cannot be read ({e.__class__.__name__}: the file may be truncated)") from e
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise InputFileError(path, f"the DICOM image has shape {arr.shape}; single-frame 2D slices are needed "
                                   "(multi-frame or colour images: convert the series with dcm2niix)")
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return arr * slope + intercept


def series_geometry(folder: Path, headers: list) -> tuple[list[int], np.ndarray]:
    """Check that the slices form one regular 3D grid and return (slice order, T_mri_from_voxel).
    headers: pydicom datasets of one series (any order). Raises InputFileError naming the problem."""
    if len(headers) < 3:
        raise InputFileError(folder, f"the series has only {len(headers)} slice(s); a 3D T1 series is needed (a localiser?)")
    iop = np.array([_floats(ds, "ImageOrientationPatient", 6, folder) for ds in headers])
    if np.max(np.abs(iop - iop[0])) > ORIENTATION_TOL:
        raise InputFileError(folder, "the series mixes slice orientations (a localiser or a mixed series); "
                                     "a 3D T1 series has one orientation")
    r, c = iop[0, :3], iop[0, 3:]
    if abs(np.linalg.norm(r) - 1) > 1e-3 or abs(np.linalg.norm(c) - 1) > 1e-3 or abs(r @ c) > 1e-3:
        raise InputFileError(folder, "the series' ImageOrientationPatient is not two orthogonal unit vectors")
    r, c = r / np.linalg.norm(r), c / np.linalg.norm(c)
    n = np.cross(r, c)
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in headers}
    if len(shapes) != 1:
        raise InputFileError(folder, f"the series mixes slice sizes {sorted(shapes)}; it is not one volume")
    ps = np.array([_floats(ds, "PixelSpacing", 2, folder) for ds in headers])
    if np.max(np.abs(ps - ps[0])) > 1e-6:
        raise InputFileError(folder, "the series mixes pixel spacings; it is not one volume")
    dr, dc = ps[0]
    ipp = np.array([_floats(ds, "ImagePositionPatient", 3, folder) for ds in headers])
    d = ipp @ n
    order = [int(i) for i in np.argsort(d, kind="stable")]
    ds_sorted = d[order]
    steps = np.diff(ds_sorted)
    if np.any(steps < 1e-3):
        raise InputFileError(folder, "the series has several slices at the same position (several echoes, "
                                     "time points or a repeated file); it is not one volume")
    step = float(np.median(steps))
    if np.max(np.abs(steps - step)) > SPACING_TOL * step:
        gaps = int(np.sum(steps > (1 + SPACING_TOL) * step))
        if gaps and np.allclose(steps[steps > (1 + SPACING_TOL) * step] / step,
                                np.round(steps[steps > (1 + SPACING_TOL) * step] / step), atol=0.05):
            missing = int(np.sum(np.round(steps / step) - 1))
            raise InputFileError(folder, f"the series is missing {missing} slice(s) (gaps in the slice positions "
                                         f"along the normal; step {step:.4g} mm)")
        raise InputFileError(folder, f"the slice spacing is not uniform ({steps.min():.4g} to {steps.max():.4g} mm)")
    p0 = ipp[order[0]]
    first_last = ipp[order[-1]] - p0
    s = first_last / (len(order) - 1)
    # every slice origin must lie on the line p0 + k*s (no gantry tilt / shear, no in-plane jumps)
    k = np.arange(len(order))[:, None]
    drift = np.linalg.norm(ipp[order] - (p0 + k * s), axis=1)
    if np.max(drift) > SHEAR_TOL_MM + 1e-3 * step:
        raise InputFileError(folder, f"the slice origins do not lie on one line (up to {np.max(drift):.3g} mm off; "
                                     "gantry tilt or an irregular series)")
    T_lps = np.eye(4)
    T_lps[:3, 0] = dc * r
    T_lps[:3, 1] = dr * c
    T_lps[:3, 2] = s
    T_lps[:3, 3] = p0
    return order, T_LPS_TO_RAS @ T_lps


def load_dicom_series(path: str | Path, series_uid: str | None = None) -> MRIVolume:
    """Load a DICOM series as an MRIVolume (data (columns, rows, slices) float32, scanner RAS+ mm).

    path: a folder (the series is chosen by choose_series) or one DICOM file (its series, found in
    the file's folder). series_uid: SeriesInstanceUID or SeriesNumber to choose among several.
    """
    import pydicom

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not path.is_dir():
        ds = _read_header(path)
        if ds is None or "SeriesInstanceUID" not in ds:
            raise InputFileError(path, "is not a readable DICOM image file")
        series_uid = series_uid or str(ds.SeriesInstanceUID)
    chosen = choose_series(folder, list_series(folder), series_uid)
    try:
        datasets = [pydicom.dcmread(str(f)) for f in chosen.files]
    except (OSError, EOFError, ValueError) as e:
        raise InputFileError(folder, f"a DICOM file of the series cannot be read ({e.__class__.__name__})") from e
    if any(int(ds.get("NumberOfFrames", 1) or 1) > 1 for ds in datasets):
        raise InputFileError(folder, "the series is an enhanced multi-frame DICOM, which navtms does not read; "
                                     "convert it with dcm2niix")
    order, T = series_geometry(folder, datasets)
    slices = [_pixels(datasets[i], chosen.files[i]) for i in order]
    data = np.stack([s.T for s in slices], axis=2).astype(np.float32)  # (columns, rows, slices) = (i, j, k)
    return MRIVolume(data=data, T_mri_from_voxel=T, path=path)
