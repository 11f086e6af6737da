"""Synthetic sequences on disk: the frames plus their ground truth, so tracking accuracy can be
measured by replaying the frames through the tracker and comparing with the truth.

A sequence folder holds
- the frames: `video.mp4` (H.264, yuv444p, CRF 16 via PyAV/libx264: small, visually lossless,
  readable by cv2.VideoCapture), `video.mkv` (FFV1 through OpenCV: lossless, large) or
  `frames/000000.png ...` (lossless, exact);
- `truth.csv`: a pose log (tracking.poselog, readable by read_frames) with one row per body per
  frame: visible 1/0 (see tracking.synthetic.renderer for what counts as visible), tags_seen = the tags that
  count as visible, tags_total, rms_px empty, the pose T_camera_from_body (mm, quaternion w, x, y,
  z) on visible rows; capture time = frame / fps exactly in ns;
- `truth_poses.npz`: body name -> (F, 4, 4) float64 T_camera_from_body (mm) for every frame,
  including frames where the body is not visible (for analysis; never a tracking output);
- `camera.json` (CameraModel.save) and `sequence.json`: {"format_version": 1, "description",
  "bodies": [body dicts as in tracking.bodies], "fps", "frame_count", "seed", "image_size",
  "frames": file or folder name, "video_codec", "effects", "events"}.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import cv2
import numpy as np

from navcore.errors import InputFileError, TrackingError
from navcore.fileio import read_json, write_json
from tracking.bodies import MarkerBody
from tracking.camera import CameraModel
from tracking.poselog import write_log
from tracking.synthetic.renderer import RenderEffects, render_sequence
from tracking.synthetic.motion import Scenario
from tracking.types import BodyPose

FORMAT_VERSION = 1
CODECS = ("h264", "ffv1", "png")
_FRAMES_NAME = {"h264": "video.mp4", "ffv1": "video.mkv", "png": "frames"}


def frame_time_ns(index: int, fps: float) -> int:
    """Capture time (ns) of frame `index` at `fps`: index / fps seconds, rounded to the ns."""
    return int(round(index * 1e9 / fps))


def webcam_camera(width: int = 1280, height: int = 720) -> CameraModel:
    """A plausible webcam: horizontal field of view about 70 deg, principal point a little off
    centre, mild barrel distortion (k1 = -0.06, k2 = 0.08). Pixels, OpenCV conventions."""
    f = 0.72 * width
    K = np.array([[f, 0.0, (width - 1) / 2.0 + 0.004 * width], [0.0, f, (height - 1) / 2.0 - 0.003 * height],
                  [0.0, 0.0, 1.0]])
    return CameraModel((int(width), int(height)), K, np.array([-0.06, 0.08, 0.0004, -0.0003, 0.0]), None)


def default_codec() -> str:
    """'h264' when PyAV (with libx264) is installed, else 'ffv1' (OpenCV only, lossless, large)."""
    import importlib.util

    return "h264" if importlib.util.find_spec("av") is not None else "ffv1"


class _FrameWriter:
    """Writes BGR uint8 frames to `folder` in one of CODECS."""

    def __init__(self, folder: Path, codec: str, size: tuple[int, int], fps: float, crf: int = 16):
        self.codec, self.path, self.count = codec, folder / _FRAMES_NAME[codec], 0
        w, h = size
        if codec == "png":
            self.path.mkdir()
        elif codec == "ffv1":
            self.writer = cv2.VideoWriter(str(self.path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
            if not self.writer.isOpened():
                raise TrackingError(f"{self.path}: OpenCV cannot write FFV1 video here; use --codec png")
        else:
            try:
                import av
            except ImportError as e:
                raise TrackingError("H.264 sequences need PyAV (pip install av); use codec 'ffv1' or 'png'") from e
            from fractions import Fraction

            self.container = av.open(str(self.path), "w")
            self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv444p"
            self.stream.options = {"crf": str(int(crf)), "preset": "slow", "threads": "1"}
            self._av = av

    def write(self, img: np.ndarray) -> None:
        if self.codec == "png":
            if not cv2.imwrite(str(self.path / f"{self.count:06d}.png"), img):
                raise TrackingError(f"{self.path}: cannot write frame {self.count} as PNG")
        elif self.codec == "ffv1":
            self.writer.write(img)
        else:
            for pkt in self.stream.encode(self._av.VideoFrame.from_ndarray(img, format="bgr24")):
                self.container.mux(pkt)
        self.count += 1

    def close(self) -> None:
        if self.codec == "ffv1":
            self.writer.release()
        elif self.codec == "h264":
            for pkt in self.stream.encode():
                self.container.mux(pkt)
            self.container.close()


def write_sequence(folder: str | Path, camera: CameraModel, bodies: Sequence[MarkerBody], scenario: Scenario,
                   seed: int, effects: Optional[RenderEffects] = None, codec: Optional[str] = None,
                   crf: int = 16, description: Optional[str] = None, overwrite: bool = False) -> Path:
    """Render `scenario` and write a sequence folder (see the module docstring). `effects`
    defaults to RenderEffects() with the scenario's occlusions. The folder must not exist
    (or be empty) unless overwrite=True, in which case it is replaced only once the new one is
    complete. Returns the folder."""
    folder = Path(folder)
    codec = codec or default_codec()
    if codec not in CODECS:
        raise TrackingError(f"unknown sequence codec {codec!r}; use one of {', '.join(CODECS)}")
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise InputFileError(folder, "the sequence folder exists and is not empty; choose a new folder")
    if not folder.parent.is_dir():
        raise InputFileError(folder, "its parent folder does not exist")
    effects = effects or RenderEffects(occlusions=scenario.occlusions)
    tmp = folder.parent / f".{folder.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        writer = _FrameWriter(tmp, codec, camera.image_size, scenario.fps, crf)
        rows: list[list[BodyPose]] = []
        try:
            for i, (img, truth) in enumerate(render_sequence(camera, bodies, scenario.trajectories, seed,
                                                             effects, scenario.fps)):
                writer.write(img)
                ns = frame_time_ns(i, scenario.fps)
                rows.append([BodyPose(b.name, i, ns, bool(truth[b.name].visible),
                                      truth[b.name].T_camera_from_body if truth[b.name].visible else None,
                                      truth[b.name].tags_visible, truth[b.name].tags_total) for b in bodies])
        finally:
            writer.close()
        write_log(tmp / "truth.csv", rows)
        np.savez_compressed(tmp / "truth_poses.npz", **{b.name: scenario.trajectories[b.name] for b in bodies})
        camera.save(tmp / "camera.json")
        eff = dataclasses.asdict(effects)
        write_json(tmp / "sequence.json", {
            "description": description or scenario.description,
            "bodies": [b.to_dict() for b in bodies],
            "fps": scenario.fps, "frame_count": writer.count, "seed": int(seed),
            "image_size": list(camera.image_size), "frames": _FRAMES_NAME[codec], "video_codec": codec,
            "crf": int(crf) if codec == "h264" else None, "effects": eff,
            "events": {"occlusions": eff["occlusions"],
                       "out_of_view_s": {k: list(v) for k, v in scenario.out_of_view_s.items()}},
        }, FORMAT_VERSION)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder.exists():
        old = folder.parent / f".{folder.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(folder)
    return folder


@dataclass(frozen=True)
class SyntheticSequence:
    """A sequence folder, loaded: camera, bodies, fps, the frames' path and the truth.

    truth: one dict per frame, body name -> BodyPose (visible rows carry T_camera_from_body, mm);
    truth_poses: body name -> (F, 4, 4) T_camera_from_body for every frame (mm)."""

    folder: Path
    camera: CameraModel
    bodies: tuple[MarkerBody, ...]
    fps: float
    frame_count: int
    seed: int
    frames_path: Path
    truth: tuple[dict, ...]
    truth_poses: dict
    meta: dict

    def images(self) -> Iterator[np.ndarray]:
        """Decode the frames in order (BGR uint8)."""
        if self.frames_path.is_dir():
            for p in sorted(self.frames_path.glob("*.png")):
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if img is None:
                    raise InputFileError(p, "the frame image cannot be read")
                yield img
            return
        cap = cv2.VideoCapture(str(self.frames_path))
        if not cap.isOpened():
            raise InputFileError(self.frames_path, "the sequence video cannot be opened by OpenCV")
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    return
                yield img
        finally:
            cap.release()


def load_sequence(folder: str | Path) -> SyntheticSequence:
    """Read a sequence folder written by write_sequence; InputFileError names a missing or
    inconsistent file."""
    from tracking.poselog import read_frames

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "the sequence folder does not exist")
    meta = read_json(folder / "sequence.json", "sequence file", (FORMAT_VERSION,))
    camera = CameraModel.load(folder / "camera.json")
    try:
        bodies = tuple(MarkerBody(b["name"], b["dictionary"], {t["id"]: t["corners_mm"] for t in b["tags"]})
                       for b in meta["bodies"])
        if not all(isinstance(b.name, str) and isinstance(b.dictionary, str) for b in bodies):
            raise TypeError("'bodies' need text names and dictionaries")
        fps, count, frames = float(meta["fps"]), int(meta["frame_count"]), str(meta["frames"])
        seed = int(meta.get("seed", 0))
        if not isinstance(meta["frames"], str) or len(frames) > 255 or Path(frames).is_absolute():
            raise ValueError("'frames' must be a file name inside the sequence folder")
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as e:
        raise InputFileError(folder / "sequence.json", f"the sequence file lacks or garbles {e}") from e
    frames_path = folder / frames
    if not frames_path.exists():
        raise InputFileError(frames_path, "the sequence's frames are missing")
    truth = tuple(dict(f.poses) for f in read_frames(folder / "truth.csv"))
    if len(truth) != count:
        raise InputFileError(folder / "truth.csv", f"the truth has {len(truth)} frames but sequence.json says {count}")
    names = {b.name for b in bodies}
    for i, poses in enumerate(truth):
        if set(poses) != names or poses[next(iter(names))].frame_number != i:
            raise InputFileError(folder / "truth.csv", f"frame {i} of the truth does not list exactly the bodies {sorted(names)}")
    try:
        with np.load(folder / "truth_poses.npz") as z:
            truth_poses = {k: np.asarray(z[k], dtype=np.float64) for k in z.files}
    except (OSError, ValueError) as e:
        raise InputFileError(folder / "truth_poses.npz", "the truth poses cannot be read") from e
    if set(truth_poses) != names or any(v.shape != (count, 4, 4) for v in truth_poses.values()):
        raise InputFileError(folder / "truth_poses.npz", f"the truth poses must be ({count}, 4, 4) per body")
    return SyntheticSequence(folder, camera, bodies, fps, count, seed, frames_path,
                             truth, truth_poses, meta)

