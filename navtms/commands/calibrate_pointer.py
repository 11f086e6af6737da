"""`navtms calibrate-pointer POSES --out pointer.json`: pivot calibration from recorded poses.

POSES is either a navtms pose log (CSV, tracking/poselog.py; the rows of `--body`, default
"pointer", that are visible) or a folder of 4x4 matrix text files, one pose
T_tracker_from_pointer per file in mm (whitespace or comma separated, as trackers and
SciKit-Surgery write them), read in name order. The fit is registration.pivot's
`pivot_calibration_robust`, the same function a session uses: all poses, no random sampling,
the inlier threshold from the data (or --threshold-mm).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import check_output_path, write_json

NAME = "calibrate-pointer"
HELP = "pivot-calibrate a pointer from a pose log or a folder of 4x4 pose matrices"
DESCRIPTION = (
    "Find a tracked pointer's tip (in the pointer's frame) from poses recorded while its tip rested in "
    "a divot and the pointer was swung about it. POSES: a navtms pose log (CSV) or a folder of 4x4 matrix "
    "text files. Uses every pose; poses whose tip slipped are left out by a threshold taken from the data. "
    "Prints the tip, the inlier fraction, the RMS over all poses and over the inliers and the tip's "
    "uncertainty, and writes them as JSON (format_version 1).")

MATRIX_SUFFIXES = (".txt", ".csv", ".mat4", ".tfm4")


def add_arguments(p) -> None:
    p.add_argument("poses", metavar="POSES", help="pose log (CSV) or folder of 4x4 matrix text files")
    p.add_argument("--out", required=True, help="result file to write (JSON)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--body", default="pointer", help="body name in a pose log (default pointer)")
    p.add_argument("--threshold-mm", type=float, help="inlier threshold in mm (default: from the data)")
    p.add_argument("--max-tip-sd-mm", type=float, default=1.0,
                   help="refuse when the tip's standard deviation exceeds this along any axis (default 1 mm)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of text")


def _read_matrix(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"cannot be read as text ({e.__class__.__name__})") from e
    rows = [ln.replace(",", " ").split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    try:
        M = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
    except ValueError:
        raise InputFileError(path, "is not a 4x4 matrix of numbers") from None
    if M.shape == (3, 4):
        M = np.vstack([M, [0.0, 0.0, 0.0, 1.0]])
    if M.shape != (4, 4):
        raise InputFileError(path, f"holds a {M.shape[0]}x{M.shape[1] if M.ndim == 2 else '?'} array, not a 4x4 matrix")
    if not np.all(np.isfinite(M)):
        raise InputFileError(path, "holds NaN or infinite values")
    R = M[:3, :3]
    if not np.allclose(M[3], [0, 0, 0, 1], atol=1e-6) or not np.allclose(R.T @ R, np.eye(3), atol=1e-3) \
            or np.linalg.det(R) < 0:
        raise InputFileError(path, "is not a rigid transform (its rotation is not orthonormal, or the last row "
                                   "is not 0 0 0 1)")
    return M


def read_poses(path: str | Path, body: str = "pointer") -> np.ndarray:
    """(N, 4, 4) poses T_tracker_from_tool (mm) from a pose log or a folder of matrix files.
    Raises InputFileError naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "does not exist (give a pose log or a folder of 4x4 matrix files)")
    if path.is_dir():
        files = sorted(q for q in path.iterdir() if q.is_file() and q.suffix.lower() in MATRIX_SUFFIXES)
        if not files:
            raise InputFileError(path, "the folder holds no matrix files (.txt, .csv)")
        return np.array([_read_matrix(f) for f in files])
    from tracking.poselog import read_rows

    rows = [r for r in read_rows(path) if r.body == body]
    if not rows:
        raise InputFileError(path, f"the pose log has no rows of the body '{body}' (see --body)")
    seen = [r.T_camera_from_body for r in rows if r.visible]
    if not seen:
        raise InputFileError(path, f"the body '{body}' is never visible in the pose log")
    return np.array(seen)


def run(args) -> int:
    from registration.pivot import pivot_calibration_robust

    out = check_output_path(args.out, args.force, "result file")
    P = read_poses(args.poses, args.body)
    res = pivot_calibration_robust(P, threshold_mm=args.threshold_mm, max_tip_sd_mm=args.max_tip_sd_mm)
    doc = {"source": str(args.poses), "body": args.body, "method": "pivot_calibration_robust", **res.to_dict()}
    write_json(out, doc, format_version=1)
    if args.json:
        print(json.dumps({"out": str(out), **doc}, indent=2))
        return 0
    sd, axes = res.tip_sd_mm()
    t = res.tip_tool
    print(f"tip in the {args.body} frame: ({t[0]:.2f}, {t[1]:.2f}, {t[2]:.2f}) mm, {np.linalg.norm(t):.1f} mm from its origin")
    print(f"poses: {res.n_poses}, inliers {int(res.inliers.sum())} ({100 * res.inlier_fraction:.0f} %) within "
          f"{res.threshold_mm:.2f} mm; rotation spread {res.rotation_spread_deg:.0f} deg")
    print(f"residual RMS: {res.rms_all_mm:.2f} mm over all poses, {res.rms_mm:.2f} mm over the inliers "
          f"(median {np.median(res.residuals_mm):.2f} mm)")
    print(f"tip uncertainty (1 SD): {sd[0]:.2f} / {sd[1]:.2f} / {sd[2]:.2f} mm; the largest along "
          f"({axes[0][0]:+.2f}, {axes[0][1]:+.2f}, {axes[0][2]:+.2f})")
    print(f"wrote {out}")
    return 0
