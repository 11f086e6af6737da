"""Real-footage figures of the tracker (../shared/data/real, recorded by others with real cameras).

Used by `navtms bench tracking` (printed beside the rendered-frame figures) and asserted by
tests/tracking/test_real_tracking.py. Every figure compares the tracker with something it did
not produce: plain OpenCV's detections, the SciKit-Surgery peer's published poses, the blur-free
poses of the same frames, the README's focal length fitted to the bodies' geometry.

Frames: T_camera_from_body 4x4 mm (OpenCV camera frame); pixels px; angles deg at this edge.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

SKS = "webcam-aruco-sksurgery"
FITTED_F_PX = 435.0          # README: the bodies' geometry fits f ~435 px for multipattern.avi
# README: the SciKit-Surgery peer's BARD webcam calibration and published poses
BARD_K = np.array([[608.67, 0.0, 323.12], [0.0, 606.13, 231.29], [0.0, 0.0, 1.0]])
BARD_DIST = np.array([-0.02191634, -0.14300148, -0.00395124, -0.00044941, 0.19656551])
PEER_MULTIPATTERN_R = np.array([(-0.8501, 0.5181, -0.0947), (-0.4617, -0.6465, 0.6074), (0.2534, 0.5601, 0.7887)])
PEER_MULTIPATTERN_T = np.array([-80.62, 50.72, 250.27])
PEER_OUTPUT_R = np.array([(0.9993, -0.0226, 0.0302), (-0.0228, -0.9997, 0.0058), (0.0300, -0.0065, -0.9995)])
PEER_OUTPUT_T = np.array([17.61, 25.09, 210.37])


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, in order, as OpenCV decodes it (BGR uint8); [] when it cannot be opened."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def _orthonormal(R: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(R)
    return U @ Vt


def _pose(R, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = _orthonormal(np.asarray(R, float)), t
    return T


def pose_error(T_a: np.ndarray, T_b: np.ndarray) -> tuple[float, float]:
    """(translation mm, rotation deg) between two 4x4 poses."""
    c = (np.trace(T_a[:3, :3].T @ T_b[:3, :3]) - 1.0) / 2.0
    return float(np.linalg.norm(T_a[:3, 3] - T_b[:3, 3])), math.degrees(math.acos(max(-1.0, min(1.0, c))))


def centred(f_px: float, w: int = 640, h: int = 480):
    from tracking.focal import centred_camera

    return centred_camera(f_px, w, h)


def calibration_txt(d: Path):
    """The upstream calibration.txt (3x3 K then 5 distortion terms) as a CameraModel."""
    from tracking.camera import CameraModel

    v = np.array((d / "calibration.txt").read_text().split(), float)
    return CameraModel((640, 480), v[:9].reshape(3, 3), v[9:14])


def plain_opencv_ids(img: np.ndarray, dictionary: str) -> set[int]:
    """Tag ids that plain cv2.aruco.ArucoDetector() (default parameters) decodes in an image."""
    from tracking.bodies import dictionary_by_name

    det = cv2.aruco.ArucoDetector(dictionary_by_name(dictionary), cv2.aruco.DetectorParameters())
    _, ids, _ = det.detectMarkers(img)
    return set() if ids is None else {int(i) for i in ids.ravel()}


def leave_one_tag_out_shift_mm(tracker, body, frame_poses) -> float:
    """Largest move (mm) of any of the body's tag corners when one used tag at a time is left out of
    the PnP solve of a frame (tracker.last_detections, the tracker's own solver)."""
    from tracking.pnp import is_planar, solve_body_pose

    p, dets = frame_poses
    used = [t for t in body.ids if (body.dictionary, t) in dets]
    worst = 0.0
    corners = body.corners()
    for k in used:
        keep = [t for t in used if t != k]
        obj = body.corners(keep)
        img = np.concatenate([dets[(body.dictionary, t)] for t in keep])
        T = solve_body_pose(obj, img, tracker.camera.K, tracker.camera.dist, is_planar(obj), p.T_camera_from_body)
        d = corners @ (T[:3, :3] - p.T_camera_from_body[:3, :3]).T + (T[:3, 3] - p.T_camera_from_body[:3, 3])
        worst = max(worst, float(np.linalg.norm(d, axis=1).max()))
    return worst


def track_video(frames, camera, bodies, blur_sigma: float = 0.0):
    """[(poses {name: BodyPose}, detections {(dic, id): (4, 2)}, warnings)] per frame."""
    from tracking.pose import MarkerTracker
    from tracking.types import Frame

    tr = MarkerTracker(camera, bodies)
    out = []
    for k, img in enumerate(frames):
        if blur_sigma > 0:
            img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
        poses = tr.estimate(Frame(k, int(k * 1e9 / 30), img))
        out.append((poses, dict(tr.last_detections), list(tr.last_warnings)))
    return tr, out


def multipattern_figures(d: Path, f_px: float = FITTED_F_PX) -> dict:
    """Tags used vs plain OpenCV, frame-to-frame motion and leave-one-tag-out shift of the two
    near-static bodies of multipattern.avi under a centred camera of focal f_px."""
    from tracking.bodies import load_body

    frames = read_video(d / "multipattern.avi")
    bodies = [load_body(d / "reference.txt"), load_body(d / "pointer.txt")]
    tr, res = track_video(frames, centred(f_px), bodies)
    fig: dict = {"f_px": f_px, "frames": len(frames)}
    for b in bodies:
        used = [r[0][b.name].tags_seen for r in res]
        cv = [len(plain_opencv_ids(img, b.dictionary) & set(b.ids)) for img in frames]
        T = [r[0][b.name].T_camera_from_body for r in res if r[0][b.name].visible]
        steps = [pose_error(a, c)[0] for a, c in zip(T, T[1:])]
        loo = [leave_one_tag_out_shift_mm(tr, b, (r[0][b.name], r[1])) for r in res if r[0][b.name].visible]
        fig[b.name] = {"tags_total": len(b.tags), "tags_used": used, "plain_opencv_tags": cv,
                       "frames_all_tags": sum(u == len(b.tags) for u in used),
                       "frames_fewer_than_opencv": sum(u < c for u, c in zip(used, cv)),
                       "visible": len(T), "max_step_mm": round(max(steps), 3) if steps else None,
                       "max_leave_one_out_mm": round(max(loo), 3) if loo else None,
                       "rms_px": round(float(np.mean([r[0][b.name].rms_px for r in res])), 3)}
    fig["warning_frames"] = sum(bool(r[2]) for r in res)
    return fig


def peer_figures(d: Path) -> dict:
    """The tracker against the SciKit-Surgery peer's published poses (README)."""
    from tracking.bodies import load_body
    from tracking.camera import CameraModel

    ref, ptr = load_body(d / "reference.txt"), load_body(d / "pointer.txt")
    bard = CameraModel((640, 480), BARD_K, BARD_DIST)
    _, res = track_video(read_video(d / "multipattern.avi")[:1], bard, [ref, ptr])
    p = res[0][0]["reference"]
    mp = pose_error(p.T_camera_from_body, _pose(PEER_MULTIPATTERN_R, PEER_MULTIPATTERN_T)) if p.visible else None
    # output.avi: the peer took tag 0 as 50 mm wide (tag_0.txt: 33 mm) and its tag frame has y, z flipped
    tag0 = load_body(d / "tag_0.txt", dictionary="DICT_4X4_50")
    _, res = track_video(read_video(d / "output.avi")[:2], calibration_txt(d), [tag0])
    q = res[1][0]["tag_0"]
    T_peer = _pose(PEER_OUTPUT_R @ np.diag([1.0, -1.0, -1.0]), PEER_OUTPUT_T * 33.0 / 50.0)
    out = pose_error(q.T_camera_from_body, T_peer) if q.visible else None
    return {"multipattern_frame0_mm": None if mp is None else round(mp[0], 3),
            "multipattern_frame0_deg": None if mp is None else round(mp[1], 3),
            "output_frame1_mm": None if out is None else round(out[0], 3),
            "output_frame1_deg": None if out is None else round(out[1], 3)}


def blur_figures(d: Path, sigma: float = 1.5) -> dict:
    """output.avi with calibration.txt, plain and with a Gaussian blur: frames visible and the
    largest pose difference (mm) between the blurred and the plain frame."""
    from tracking.bodies import load_body

    frames = read_video(d / "output.avi")
    tag0 = load_body(d / "tag_0.txt", dictionary="DICT_4X4_50")
    cam = calibration_txt(d)
    _, sharp = track_video(frames, cam, [tag0])
    _, blur = track_video(frames, cam, [tag0], sigma)
    diffs = [pose_error(b[0]["tag_0"].T_camera_from_body, s[0]["tag_0"].T_camera_from_body)[0]
             for b, s in zip(blur, sharp) if b[0]["tag_0"].visible and s[0]["tag_0"].visible]
    return {"sigma_px": sigma, "frames": len(frames), "visible_blurred": sum(b[0]["tag_0"].visible for b in blur),
            "visible_plain": sum(s[0]["tag_0"].visible for s in sharp),
            "max_difference_mm": round(max(diffs), 3) if diffs else None}


def focal_figures(d: Path) -> dict:
    from tracking.bodies import load_body
    from tracking.focal import estimate_camera

    frames = read_video(d / "multipattern.avi")
    _, est = estimate_camera(frames, [load_body(d / "reference.txt"), load_body(d / "pointer.txt")])
    return {"f_px": round(est.f_px, 2), "sigma_px": round(est.sigma_px, 2), "rms_px": round(est.rms_px, 3),
            "relative_error_vs_fitted": round(est.f_px / FITTED_F_PX - 1.0, 4)}


def real_figures(real: Path) -> Optional[dict]:
    """All real-footage figures, or None when ../shared/data/real is not there."""
    d = real / SKS
    if not (d / "multipattern.avi").exists():
        return None
    return {"multipattern_fitted_camera": multipattern_figures(d),
            "multipattern_camera_1.3_width": multipattern_figures(d, 1.3 * 640),
            "peers": peer_figures(d), "output_blur_1.5": blur_figures(d), "focal_estimate": focal_figures(d)}
