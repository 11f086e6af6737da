"""Shared foundation of navtms: frames and transforms, typed errors, atomic file I/O, point files,
MRI loading (NIfTI and DICOM), the append-only log base and the one latest-value slot.

Every other package may import navcore; navcore imports only numpy, scipy, nibabel (and pydicom
for DICOM). Modules:
    transforms  4x4 T_a_from_b helpers (make, invert, apply, quaternions, angles)
    errors      typed exceptions (NavtmsError and its kinds); only the CLI turns them into text
    fileio      atomic writes, JSON with format_version, checked matrices
    points      named point sets (CSV, 3D Slicer .mrk.json)
    volume      MRIVolume: voxel data and its affine (scanner RAS+ mm)
    mri         load_mri: NIfTI, MGZ or a DICOM series to an MRIVolume
    dicom       DICOM series -> MRIVolume with an exact RAS+ affine
    appendlog   append-only, flushed-per-row log base
    latest      LatestValue: the latest-value slot between threads
    lazy        the lazy export helper every package's __init__ uses

The names below are imported lazily, on first use (PEP 562), so `import navcore`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "transforms": ("make_transform", "invert", "apply", "rotate", "is_rigid", "check_rigid",
                   "quat_from_matrix", "matrix_from_quat", "transform_from_pose",
                   "pose_from_transform", "rotation_angle", "angle_between"),
    "errors": ("NavtmsError", "InputFileError", "FileWriteError", "GeometryError",
               "RegistrationError", "TrackingError", "PlanError", "SessionError"),
    "fileio": ("atomic_write_bytes", "atomic_write_text", "write_json", "read_json",
               "check_output_path", "require_matrix"),
    "points": ("NamedPoints", "read_points", "write_points"),
    "volume": ("MRIVolume",),
    "mri": ("load_mri",),
    "appendlog": ("AppendOnlyLog",),
    "latest": ("LatestValue",),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
