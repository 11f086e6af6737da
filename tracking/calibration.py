"""Camera calibration from photos of a chessboard or a ChArUco board (OpenCV).

Board geometry is in mm on the board plane (z = 0, x along the columns, y along the rows,
origin at the first inner corner for a chessboard, at the board's corner for ChArUco). The
result is a tracking.camera.CameraModel (K in px, OpenCV distortion) and a CalibrationReport
with the reprojection error of every view, which views were used, rejected or had no board.

Bad views are rejected iteratively: calibrate, drop every view whose RMS reprojection error
exceeds max(reject_factor * median, reject_floor_px), recalibrate, until none is dropped or
dropping would leave fewer than `min_views`.

Uncertainty (cv2.calibrateCameraExtended): the report holds the 1-sigma standard deviation of
every intrinsic (fx, fy, cx, cy px, distortion terms) and warns when the focal length is
poorly determined (sigma(f)/f above `max_rel_sigma_f`, 1 %) or the distortion model is overfit
(the focal length with k3 free and with k3 held at 0 differ by more than `max_k3_disagreement`,
2 %). A small RMS alone proves nothing: on OpenCV's 4 real ChArUco tutorial photos the focal
length is 457 +- 16 px with k3 free and 326 +- 74 px with k3 fixed, both at 0.19 px RMS.
OpenCV's sigma assumes independent corner noise; with >= `JACKKNIFE_MIN_VIEWS` views the
report also gives the jackknife (leave one view out) standard error of fx, fy, cx, cy, which
includes the views' systematic disagreement: on the 12 real BARD chessboard photos fx is
632.4 +- 0.74 px by OpenCV's sigma but +- 6.3 px by the jackknife (removing view 2 alone moves
it 5.6 px). A jackknife above max_rel_sigma_f of f is warned about too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np

from navcore.errors import InputFileError, TrackingError
from navcore.transforms import make_transform
from tracking.camera import CameraModel

MIN_VIEWS = 5
JACKKNIFE_MIN_VIEWS = 6
MIN_CHARUCO_CORNERS = 6


@dataclass(frozen=True)
class ChessboardSpec:
    """A chessboard with cols x rows INNER corners and square_mm squares."""

    cols: int
    rows: int
    square_mm: float

    def __post_init__(self) -> None:
        if self.cols < 3 or self.rows < 3 or not self.square_mm > 0:
            raise TrackingError(f"a chessboard needs at least 3x3 inner corners and a positive square size, "
                                f"not {self.cols}x{self.rows} with {self.square_mm} mm")

    def object_points(self) -> np.ndarray:
        """(cols*rows, 3) float32 corner positions in mm on the board plane, row by row."""
        obj = np.zeros((self.rows * self.cols, 3), np.float32)
        obj[:, :2] = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2) * self.square_mm
        return obj

    def describe(self) -> str:
        return f"chessboard {self.cols}x{self.rows} inner corners, {self.square_mm:g} mm squares"


@dataclass(frozen=True)
class CharucoSpec:
    """A ChArUco board of cols x rows SQUARES, square_mm squares with marker_mm ArUco markers
    from the named OpenCV dictionary (e.g. "DICT_5X5_100")."""

    cols: int
    rows: int
    square_mm: float
    marker_mm: float
    dictionary: str = "DICT_5X5_100"

    def __post_init__(self) -> None:
        if self.cols < 3 or self.rows < 3:
            raise TrackingError(f"a ChArUco board needs at least 3x3 squares, not {self.cols}x{self.rows}")
        if not (0 < self.marker_mm < self.square_mm):
            raise TrackingError(f"the ChArUco marker size ({self.marker_mm} mm) must be positive and smaller "
                                f"than the square size ({self.square_mm} mm)")
        aruco_dictionary(self.dictionary)

    def board(self) -> "cv2.aruco.CharucoBoard":
        return cv2.aruco.CharucoBoard((self.cols, self.rows), float(self.square_mm), float(self.marker_mm),
                                      aruco_dictionary(self.dictionary))

    def describe(self) -> str:
        return (f"ChArUco {self.cols}x{self.rows} squares, {self.square_mm:g} mm squares, "
                f"{self.marker_mm:g} mm markers, {self.dictionary}")


BoardSpec = Union[ChessboardSpec, CharucoSpec]


def aruco_dictionary(name: str):
    """The predefined OpenCV ArUco dictionary called `name` (e.g. "DICT_4X4_50")."""
    code = getattr(cv2.aruco, str(name), None) if str(name).startswith("DICT_") else None
    if not isinstance(code, int):
        known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
        raise TrackingError(f"ArUco dictionary '{name}' is unknown; use one of {', '.join(known)}")
    d = cv2.aruco.getPredefinedDictionary(code)
    return d


def parse_grid(text: str, what: str = "board") -> tuple[int, int]:
    """'14x10' -> (14, 10)."""
    try:
        a, b = str(text).lower().split("x")
        cols, rows = int(a), int(b)
        if cols <= 0 or rows <= 0:
            raise ValueError
    except ValueError:
        raise TrackingError(f"{what} size '{text}' is not COLSxROWS, e.g. 14x10") from None
    return cols, rows


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def detect_board(image: np.ndarray, spec: BoardSpec) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Find the board in an image. Returns (object points (N, 3) float32 mm on the board plane,
    image points (N, 1, 2) float32 px), or None when the board is not found (for ChArUco: fewer
    than MIN_CHARUCO_CORNERS corners)."""
    gray = _gray(image)
    if isinstance(spec, ChessboardSpec):
        flags = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_ACCURACY
        ok, corners = cv2.findChessboardCornersSB(gray, (spec.cols, spec.rows), flags=flags)
        if not ok:
            ok, corners = cv2.findChessboardCorners(
                gray, (spec.cols, spec.rows), flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
            if not ok:
                return None
            corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1),
                                       (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3))
        return spec.object_points(), corners.reshape(-1, 1, 2).astype(np.float32)
    board = spec.board()
    detector = cv2.aruco.CharucoDetector(board)
    ch_corners, ch_ids, _, _ = detector.detectBoard(gray)
    if ch_ids is None or len(ch_ids) < MIN_CHARUCO_CORNERS:
        return None
    obj, img = board.matchImagePoints(ch_corners, ch_ids)
    obj = np.asarray(obj, np.float32).reshape(-1, 3)
    # Corners on one line give no calibration constraint worth having.
    centred = obj[:, :2] - obj[:, :2].mean(axis=0)
    if np.linalg.matrix_rank(centred, tol=1e-6 * spec.square_mm) < 2:
        return None
    return obj, np.asarray(img, np.float32).reshape(-1, 1, 2)


@dataclass
class ViewResult:
    """One calibration image. error_px: RMS reprojection error (px) of this view in the final
    calibration (None when the board was not found); T_camera_from_board: 4x4 mm pose of the
    board (None when not found)."""

    name: str
    found: bool
    n_points: int = 0
    used: bool = False
    error_px: Optional[float] = None
    T_camera_from_board: Optional[np.ndarray] = None
    note: str = ""


SIGMA_NAMES = ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6", "s1", "s2", "s3", "s4",
               "tx", "ty")


@dataclass
class CalibrationReport:
    """rms_px: OpenCV's overall RMS reprojection error (px) over the used views; sigma: 1-sigma
    standard deviation of each intrinsic (fx, fy, cx, cy in px, distortion terms unitless);
    focal_k3_fixed_px: fx (px) of the same views with k3 held at 0 (None when k3 was fixed);
    warnings: sentences on a poorly determined or overfit calibration (empty when none)."""

    board: str
    image_size: tuple[int, int]
    rms_px: float
    views: list[ViewResult] = field(default_factory=list)
    rounds: int = 1
    sigma: dict = field(default_factory=dict)
    sigma_jackknife: dict = field(default_factory=dict)
    focal_k3_fixed_px: Optional[float] = None
    warnings: list[str] = field(default_factory=list)

    @property
    def used(self) -> list[str]:
        return [v.name for v in self.views if v.used]

    @property
    def rejected(self) -> list[str]:
        return [v.name for v in self.views if v.found and not v.used]

    @property
    def not_found(self) -> list[str]:
        return [v.name for v in self.views if not v.found]

    def lines(self) -> list[str]:
        """A human-readable summary, one line per view."""
        out = [f"board: {self.board}; image size {self.image_size[0]}x{self.image_size[1]}",
               f"RMS reprojection error {self.rms_px:.3f} px over {len(self.used)} views "
               f"({len(self.rejected)} rejected, {len(self.not_found)} without the board)"]
        for v in self.views:
            if not v.found:
                out.append(f"  {v.name}: board not found")
            else:
                state = "used" if v.used else f"REJECTED ({v.note})"
                out.append(f"  {v.name}: {v.error_px:.3f} px, {v.n_points} points, {state}")
        if self.sigma:
            out.append("1-sigma: " + ", ".join(f"{k} {self.sigma[k]:.2f} px" for k in ("fx", "fy", "cx", "cy")
                                             if k in self.sigma)
                       + (" (OpenCV); jackknife over the views: " + ", ".join(
                           f"{k} {v:.2f} px" for k, v in self.sigma_jackknife.items()) if self.sigma_jackknife else ""))
        out += [f"WARNING: {w}" for w in self.warnings]
        return out


def _view_errors(obj, img, K, dist, rvecs, tvecs) -> list[float]:
    errs = []
    for o, i, r, t in zip(obj, img, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o, r, t, K, dist)
        d = proj.reshape(-1, 2) - i.reshape(-1, 2)
        errs.append(float(np.sqrt(np.mean(np.sum(d * d, axis=1)))))
    return errs


def calibrate_views(views: Sequence[tuple[str, Optional[tuple[np.ndarray, np.ndarray]]]],
                    image_size: tuple[int, int], board: str = "board", min_views: int = MIN_VIEWS,
                    reject_factor: float = 3.0, reject_floor_px: float = 0.5,
                    flags: int = 0, max_rel_sigma_f: float = 0.01,
                    max_k3_disagreement: float = 0.02) -> tuple[CameraModel, CalibrationReport]:
    """Calibrate from detections: views = [(name, (object points mm, image points px) or None)].

    image_size is (width, height) px. Raises TrackingError when fewer than `min_views` views
    have the board. Pure computation (no files)."""
    results = [ViewResult(name, det is not None, 0 if det is None else len(det[0])) for name, det in views]
    found = [(r, det) for r, (_, det) in zip(results, views) if det is not None]
    if len(found) < min_views:
        missing = [r.name for r in results if not r.found]
        raise TrackingError(
            f"the board was found in only {len(found)} of {len(results)} images; calibration needs at least "
            f"{min_views}" + (f" (not found in: {', '.join(missing)})" if missing else ""))
    active = list(range(len(found)))
    rounds = 0
    while True:
        rounds += 1
        obj = [found[i][1][0] for i in active]
        img = [found[i][1][1] for i in active]
        try:
            rms, K, dist, rvecs, tvecs, std_in, _, _ = cv2.calibrateCameraExtended(obj, img, tuple(image_size), None,
                                                                                   None, flags=flags)
        except cv2.error as e:
            raise TrackingError(f"OpenCV could not calibrate from these {len(obj)} views ({str(e).strip().splitlines()[-1]})") from None
        errs = _view_errors(obj, img, K, dist, rvecs, tvecs)
        limit = max(reject_factor * float(np.median(errs)), reject_floor_px)
        bad = [a for a, e in zip(active, errs) if e > limit]
        if not bad or len(active) - len(bad) < min_views:
            break
        for a in bad:
            e = errs[active.index(a)]
            found[a][0].note = f"{e:.2f} px > limit {limit:.2f} px in round {rounds}"
            found[a][0].error_px = e
        active = [a for a in active if a not in bad]
    # Final errors: every found view against the final model (rejected views solved by PnP).
    for idx, (res, (o, i)) in enumerate(found):
        if idx in active:
            k = active.index(idx)
            r, t = rvecs[k], tvecs[k]
            res.used = True
            res.error_px = errs[k]
        else:
            ok, r, t = cv2.solvePnP(o, i, K, dist)
            if ok:
                res.error_px = _view_errors([o], [i], K, dist, [r], [t])[0]
            else:
                r = t = None
        if r is not None:
            res.T_camera_from_board = make_transform(cv2.Rodrigues(np.asarray(r, np.float64))[0], np.asarray(t).reshape(3))
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(dist)) and math.isfinite(rms)):
        raise TrackingError("the calibration did not converge (non-finite result); take more varied views of the board")
    model = CameraModel((int(image_size[0]), int(image_size[1])), np.asarray(K, np.float64),
                        np.asarray(dist, np.float64).reshape(-1), float(rms))
    report = CalibrationReport(board, (int(image_size[0]), int(image_size[1])), float(rms), results, rounds)
    std = np.asarray(std_in, np.float64).ravel()
    report.sigma = {n: float(v) for n, v in zip(SIGMA_NAMES, std[:len(model.dist) + 4])}
    if len(obj) >= JACKKNIFE_MIN_VIEWS:
        report.sigma_jackknife = _jackknife(obj, img, image_size, flags)
    _check_determination(report, model, obj, img, image_size, flags, max_rel_sigma_f, max_k3_disagreement)
    return model, report


def _jackknife(obj, img, image_size, flags: int) -> dict:
    """Jackknife standard error (px) of fx, fy, cx, cy: calibrate leaving out each view in turn."""
    vals = []
    for k in range(len(obj)):
        keep = [i for i in range(len(obj)) if i != k]
        try:
            _, K, _, _, _ = cv2.calibrateCamera([obj[i] for i in keep], [img[i] for i in keep], tuple(image_size),
                                                None, None, flags=flags)
        except cv2.error:
            return {}
        vals.append([K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
    v = np.asarray(vals)
    n = len(v)
    se = np.sqrt((n - 1) / n * ((v - v.mean(axis=0)) ** 2).sum(axis=0))
    return {name: float(x) for name, x in zip(("fx", "fy", "cx", "cy"), se)}


def _check_determination(report: CalibrationReport, model: CameraModel, obj, img, image_size, flags: int,
                         max_rel_sigma_f: float, max_k3_disagreement: float) -> None:
    """Fill report.focal_k3_fixed_px and report.warnings (module docstring)."""
    f = 0.5 * (model.K[0, 0] + model.K[1, 1])
    sf = max(report.sigma.get("fx", 0.0), report.sigma.get("fy", 0.0))
    if not sf <= max_rel_sigma_f * f:
        report.warnings.append(
            f"the focal length is poorly determined: fx {model.K[0, 0]:.1f} +- {report.sigma.get('fx', math.nan):.1f} px, "
            f"fy {model.K[1, 1]:.1f} +- {report.sigma.get('fy', math.nan):.1f} px (1 sigma, more than "
            f"{100 * max_rel_sigma_f:g} %); take more views, tilted 20-45 deg, covering the whole image")
    jk = report.sigma_jackknife.get("fx", 0.0)
    if jk > max_rel_sigma_f * f:
        report.warnings.append(
            f"the views disagree: leaving out one view at a time moves fx by {jk:.1f} px (jackknife 1 sigma, "
            f"more than {100 * max_rel_sigma_f:g} %, OpenCV's own sigma {sf:.1f} px); check the views with the "
            f"largest errors, or take more")
    if flags & cv2.CALIB_FIX_K3:
        return
    try:
        _, K3, _, _, _ = cv2.calibrateCamera(obj, img, tuple(image_size), None, None, flags=flags | cv2.CALIB_FIX_K3)
    except cv2.error:
        return
    report.focal_k3_fixed_px = float(K3[0, 0])
    rel = abs(K3[0, 0] - model.K[0, 0]) / model.K[0, 0]
    if rel > max_k3_disagreement:
        report.warnings.append(
            f"the distortion model is overfit: fx is {model.K[0, 0]:.1f} px with k3 free but {K3[0, 0]:.1f} px with "
            f"k3 held at 0 ({100 * rel:.0f} % apart, at similar RMS); the views do not separate focal length from "
            f"distortion: take more views, or use --fix-k3 for a lens with little distortion")


def calibrate_images(paths: Sequence[str | Path], spec: BoardSpec, **kwargs) -> tuple[CameraModel, CalibrationReport]:
    """Calibrate from image files (any format OpenCV reads). All images must have one size.
    Raises InputFileError for a missing/unreadable image or a size mismatch (naming the file),
    TrackingError when too few images show the board. kwargs go to calibrate_views."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise TrackingError("no calibration images were given")
    size: Optional[tuple[int, int]] = None
    first: Optional[Path] = None
    views = []
    for p in paths:
        if not p.is_file():
            raise InputFileError(p, "the calibration image does not exist")
        image = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise InputFileError(p, "the calibration image cannot be read (corrupt or not an image)")
        s = (image.shape[1], image.shape[0])
        if size is None:
            size, first = s, p
        elif s != size:
            raise InputFileError(p, f"the image is {s[0]}x{s[1]} but {first.name} is {size[0]}x{size[1]}; "
                                    "calibrate with images of one camera at one resolution")
        views.append((p.name, detect_board(image, spec)))
    return calibrate_views(views, size, board=spec.describe(), **kwargs)
