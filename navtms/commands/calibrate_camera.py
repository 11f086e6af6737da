"""`navtms calibrate-camera IMAGES... --chessboard 14x10 --square-mm 6 --out camera.json`."""
from __future__ import annotations

import glob
import json
from pathlib import Path

from navcore.errors import InputFileError, TrackingError
from navcore.fileio import check_output_path, write_json

NAME = "calibrate-camera"
HELP = "calibrate a camera from photos of a chessboard or ChArUco board"
DESCRIPTION = (
    "Calibrate a camera from photos of a printed chessboard (--chessboard COLSxROWS inner corners) "
    "or ChArUco board (--charuco COLSxROWS squares, --marker-mm, --dictionary). Prints the RMS "
    "reprojection error and each image's error, rejects outlier views, reports the 1-sigma uncertainty of "
    "the intrinsics and warns when the focal length is poorly determined or the distortion model overfit, "
    "and writes the camera file "
    "(JSON, format_version 1) used by tracking. IMAGES may be files, folders or quoted glob patterns.")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def add_board_arguments(p, square_help: str = "square side in mm") -> None:
    """--chessboard | --charuco, --square-mm, --marker-mm, --dictionary (see board_spec)."""
    board = p.add_mutually_exclusive_group(required=True)
    board.add_argument("--chessboard", metavar="COLSxROWS", help="chessboard INNER corners, e.g. 14x10")
    board.add_argument("--charuco", metavar="COLSxROWS", help="ChArUco board squares, e.g. 7x5")
    p.add_argument("--square-mm", type=float, required=True, help=square_help)
    p.add_argument("--marker-mm", type=float, help="ChArUco marker side in mm (smaller than the square)")
    p.add_argument("--dictionary", default="DICT_5X5_100", help="ChArUco ArUco dictionary (default DICT_5X5_100)")


def add_arguments(p) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGES", help="image files, folders of images, or glob patterns")
    add_board_arguments(p, "square side in mm, as printed (measure it)")
    p.add_argument("--out", required=True, help="camera file to write (JSON)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--min-views", type=int, default=5, help="fewest views with the board (default 5)")
    p.add_argument("--reject-factor", type=float, default=3.0,
                   help="reject views whose error exceeds this times the median (and 0.5 px); default 3")
    p.add_argument("--fix-k3", action="store_true",
                   help="hold the 6th-order radial term k3 at 0 (steadier with few or frontal views)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of text")


def expand_images(items: list[str]) -> list[Path]:
    """Files as given; folders -> their images sorted; glob patterns expanded. Raises InputFileError."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            if not found:
                raise InputFileError(p, "the folder holds no images (.png, .jpg, .bmp, .tif)")
            out += found
        elif p.exists():
            out.append(p)
        elif glob.has_magic(item):
            found = sorted(Path(q) for q in glob.glob(item) if Path(q).is_file())
            if not found:
                raise InputFileError(p, "no image matches this pattern")
            out += found
        else:
            raise InputFileError(p, "the calibration image does not exist")
    return out


def board_spec(args):
    """The board of add_board_arguments' options: ChessboardSpec or CharucoSpec (mm)."""
    from tracking import calibration as cal

    if args.chessboard:
        cols, rows = cal.parse_grid(args.chessboard, "chessboard")
        return cal.ChessboardSpec(cols, rows, args.square_mm)
    cols, rows = cal.parse_grid(args.charuco, "ChArUco board")
    if args.marker_mm is None:
        raise TrackingError("a ChArUco board needs --marker-mm (the printed marker side in mm)")
    return cal.CharucoSpec(cols, rows, args.square_mm, args.marker_mm, args.dictionary)


def run(args) -> int:
    from tracking import calibration as cal

    out = check_output_path(args.out, args.force, "camera file")
    spec = board_spec(args)
    paths = expand_images(args.images)
    import cv2

    flags = cv2.CALIB_FIX_K3 if args.fix_k3 else 0
    model, report = cal.calibrate_images(paths, spec, min_views=args.min_views, reject_factor=args.reject_factor,
                                         flags=flags)
    doc = model.to_dict()
    doc["calibration"] = {
        "board": report.board,
        "views_used": report.used, "views_rejected": report.rejected, "views_without_board": report.not_found,
        "view_errors_px": {v.name: v.error_px for v in report.views if v.found},
        "sigma": report.sigma, "focal_k3_fixed_px": report.focal_k3_fixed_px, "warnings": report.warnings,
    }
    write_json(out, doc, format_version=1)
    K = model.K
    if args.json:
        print(json.dumps({"out": str(out), "rms_px": report.rms_px, "fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2],
                          "cy": K[1, 2], "dist": model.dist.tolist(), **doc["calibration"]}, indent=2))
    else:
        for line in report.lines():
            print(line)
        sg = report.sigma
        print(f"fx {K[0, 0]:.2f} +- {sg.get('fx', float('nan')):.2f} px, fy {K[1, 1]:.2f} +- {sg.get('fy', float('nan')):.2f} px, "
              f"cx {K[0, 2]:.2f} +- {sg.get('cx', float('nan')):.2f} px, cy {K[1, 2]:.2f} +- {sg.get('cy', float('nan')):.2f} px (1 sigma)")
        print("dist " + " ".join(f"{d:.5f}" for d in model.dist))
        print(f"wrote {out}")
    return 0
