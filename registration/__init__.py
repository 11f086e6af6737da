"""Registration: paired-point and surface (ICP) fits, FRE/TRE, pivot and coil calibration. No GUI.

Modules:
    pipeline          the one pipeline (fiducials + head points -> T_mri_from_b, FRE, TRE, verdict)
    paired_point      Arun/Horn SVD fit of named point pairs
    icp               robust ICP of head points onto the scalp, with fiducial anchors
    icp_checks        the surface fit's honesty checks (offset, fiducial tension, displacement)
    surface_index     closest points, tangent planes and signed distances to a surface
    tre               Fitzpatrick-West-Maurer predicted TRE, expected FRE
    pivot             pivot calibration of a pointer tip (algebraic, RANSAC)
    coil_calibration  the coil frame from three touched points

The names below are imported lazily, on first use (PEP 562), so `import registration`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "pipeline": ("register", "RegistrationSettings", "RegistrationResult", "IcpStats"),
    "paired_point": ("rigid_fit", "register_paired_points", "PairedPointResult"),
    "icp": ("icp_register", "IcpResult"),
    "tre": ("predicted_tre", "expected_fre", "fle_from_fre"),
    "pivot": ("pivot_calibration", "pivot_calibration_ransac", "PivotResult"),
    "coil_calibration": ("coil_frame_from_points",),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
