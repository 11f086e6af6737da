"""Read MRI<->MNI affine transforms the planner already has, as `T_mri_from_mni` (RAS mm).

Formats (chosen by content/extension):
- FSL FLIRT `.mat` (4x4 text): maps FSL "scaled-voxel" coordinates of the -in image to those
  of the -ref image. FSL scaled-voxel coordinates are voxel index x voxel size, with x mirrored
  (i -> nx-1-i) when the image's voxel-to-world matrix has a positive determinant (neurological
  storage). Converting needs both images' headers. Assumed `flirt -in SUBJECT -ref MNI`
  (maps mri -> mni) unless `inverse=True`.
- ITK / ANTs text transform (`#Insight Transform File V1.0`, AffineTransform_double_3_3 or
  MatrixOffsetTransformBase): maps points in LPS mm from the fixed image to the moving image,
  y = A (x - c) + t + c. Assumed fixed = MNI, moving = subject (i.e. it is T_mri_from_mni in LPS,
  what antsRegistration with the template as fixed image writes) unless `inverse=True`.
- Plain 4x4 in mm: whitespace text (4 rows of 4 numbers) or JSON {"format_version": 1,
  "T_mri_from_mni": [[...]]}; taken as T_mri_from_mni unless `inverse=True`.
The result is an AFFINE (not necessarily rigid) 4x4 float64.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import read_json, require_matrix, write_json

F_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def fsl_scaled_from_voxel(shape, T_world_from_voxel) -> np.ndarray:
    """4x4 mapping voxel indices to FSL scaled-voxel mm for an image of `shape` and affine."""
    A = np.asarray(T_world_from_voxel, dtype=np.float64)
    vox = np.linalg.norm(A[:3, :3], axis=0)
    S = np.diag([vox[0], vox[1], vox[2], 1.0])
    if np.linalg.det(A[:3, :3]) > 0:
        S[0, 0] = -vox[0]
        S[0, 3] = (shape[0] - 1) * vox[0]
    return S


def world_from_flirt(M_flirt, in_shape, in_affine, ref_shape, ref_affine) -> np.ndarray:
    """T_refworld_from_inworld (RAS mm) from a FLIRT matrix and the two images' headers."""
    S_in = fsl_scaled_from_voxel(in_shape, in_affine)
    S_ref = fsl_scaled_from_voxel(ref_shape, ref_affine)
    return (np.asarray(ref_affine, float) @ np.linalg.inv(S_ref) @ np.asarray(M_flirt, float)
            @ S_in @ np.linalg.inv(np.asarray(in_affine, float)))


def flirt_from_world(T_refworld_from_inworld, in_shape, in_affine, ref_shape, ref_affine) -> np.ndarray:
    """The FLIRT matrix equivalent to a world-space affine (inverse of world_from_flirt)."""
    S_in = fsl_scaled_from_voxel(in_shape, in_affine)
    S_ref = fsl_scaled_from_voxel(ref_shape, ref_affine)
    return (S_ref @ np.linalg.inv(np.asarray(ref_affine, float)) @ np.asarray(T_refworld_from_inworld, float)
            @ np.asarray(in_affine, float) @ np.linalg.inv(S_in))


def _header(path) -> tuple[tuple, np.ndarray]:
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
    except Exception as e:  # noqa: BLE001 - nibabel raises many types for bad files
        raise InputFileError(path, f"cannot be read as an image header ({e.__class__.__name__})") from e
    return tuple(img.shape[:3]), np.asarray(img.affine, dtype=np.float64)


def _matrix_text(path: Path, text: str) -> np.ndarray:
    rows = [r for r in (ln.split("#")[0].split() for ln in text.splitlines()) if r]
    try:
        M = np.array(rows, dtype=np.float64)
    except ValueError as e:
        raise InputFileError(path, "is not a 4x4 matrix of numbers") from e
    if M.shape != (4, 4) or not np.all(np.isfinite(M)):
        raise InputFileError(path, f"holds a {M.shape} array; a finite 4x4 matrix is needed")
    if not np.allclose(M[3], [0, 0, 0, 1], atol=1e-6):
        raise InputFileError(path, "the last row of the 4x4 matrix is not 0 0 0 1")
    if abs(np.linalg.det(M[:3, :3])) < 1e-9:
        raise InputFileError(path, "the 4x4 matrix is singular")
    return M


def read_itk_affine(path: str | Path) -> np.ndarray:
    """4x4 (LPS mm, fixed -> moving) of an ITK text affine transform file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    kind = re.search(r"^Transform:\s*(\S+)", text, re.M)
    params = re.search(r"^Parameters:\s*(.+)$", text, re.M)
    fixed = re.search(r"^FixedParameters:\s*(.+)$", text, re.M)
    if not kind or not params:
        raise InputFileError(path, "is not an ITK transform file (no 'Transform:' and 'Parameters:' lines)")
    if not re.match(r"(AffineTransform|MatrixOffsetTransformBase)_(double|float)_3_3$", kind.group(1)):
        raise InputFileError(path, f"holds an ITK {kind.group(1)}; only AffineTransform_double_3_3 is read")
    if text.count("Transform:") > 1:
        raise InputFileError(path, "holds several ITK transforms; give a single affine")
    try:
        p = np.array(params.group(1).split(), dtype=np.float64)
        c = np.array(fixed.group(1).split(), dtype=np.float64) if fixed else np.zeros(3)
    except ValueError as e:
        raise InputFileError(path, "has non-numeric ITK transform parameters") from e
    if p.shape != (12,) or c.shape != (3,) or not np.all(np.isfinite(p)) or not np.all(np.isfinite(c)):
        raise InputFileError(path, "needs 12 ITK affine parameters and 3 fixed parameters")
    A, t = p[:9].reshape(3, 3), p[9:]
    T = np.eye(4)
    T[:3, :3] = A
    T[:3, 3] = t + c - A @ c
    return T


def write_itk_affine(path: str | Path, T_lps: np.ndarray) -> Path:
    """Write a 4x4 (LPS, fixed -> moving) as an ITK text affine (centre 0)."""
    from navcore.fileio import atomic_write_text

    T = np.asarray(T_lps, dtype=np.float64)
    p = " ".join(repr(float(v)) for v in list(T[:3, :3].ravel()) + list(T[:3, 3]))
    return atomic_write_text(path, "#Insight Transform File V1.0\n#Transform 0\n"
                             "Transform: AffineTransform_double_3_3\n"
                             f"Parameters: {p}\nFixedParameters: 0 0 0\n")


def load_mni_transform(path: str | Path, mri_path: str | Path | None = None,
                       mni_ref_path: str | Path | None = None, inverse: bool = False) -> np.ndarray:
    """T_mri_from_mni (4x4 affine, RAS mm) from a transform file; see the module docstring.

    mri_path, mni_ref_path: the subject and MNI reference images (headers needed for FLIRT)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the MNI transform file does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, "the MNI transform file is not readable text") from e
    if text.lstrip().startswith("#Insight Transform") or re.search(r"^Transform:", text, re.M):
        T = F_LPS @ read_itk_affine(path) @ F_LPS  # mri <- mni under the default assumption
    elif text.lstrip().startswith("{"):
        obj = read_json(path, what="MNI transform file")
        T = require_matrix(path, obj, "T_mri_from_mni", (4, 4), "MNI transform file")
    elif path.suffix.lower() == ".mat":
        M = _matrix_text(path, text)
        if mri_path is None or mni_ref_path is None:
            raise InputFileError(path, "is an FSL FLIRT matrix; converting it needs both the subject MRI and the MNI reference image it was made with (--mni-ref)")
        s_shape, s_aff = _header(mri_path)
        r_shape, r_aff = _header(mni_ref_path)
        T = np.linalg.inv(world_from_flirt(M, s_shape, s_aff, r_shape, r_aff))  # flirt -in mri -ref mni
    else:
        T = _matrix_text(path, text)
    if not np.all(np.isfinite(T)) or abs(np.linalg.det(T[:3, :3])) < 1e-9:  # before inverting it
        raise InputFileError(path, "the MNI transform is singular or not finite")
    T = np.linalg.inv(T) if inverse else T
    if not np.all(np.isfinite(T)) or abs(np.linalg.det(T[:3, :3])) < 1e-9:
        raise InputFileError(path, "the MNI transform is singular or not finite")
    return T


def save_mni_transform(path: str | Path, T_mri_from_mni: np.ndarray, note: str = "") -> Path:
    """Write T_mri_from_mni as a versioned JSON file (readable by load_mni_transform)."""
    return write_json(path, {"T_mri_from_mni": np.asarray(T_mri_from_mni, dtype=np.float64), "note": note})
