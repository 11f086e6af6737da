"""`navtms track SOURCE`: track marker bodies in a camera, video or image folder and log their poses.

One CSV row per body per frame (tracking.poselog: frame,time_s,body,visible,tags_seen,
tags_total,rms_px,tx_mm,ty_mm,tz_mm,qw,qx,qy,qz; pose = T_camera_from_body in mm, quaternion
w, x, y, z; empty pose columns when the body is not seen in that frame).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError, TrackingError

NAME = "track"
HELP = "track marker bodies in a camera/video/image folder and write a pose log"
DESCRIPTION = (
    "Track rigid marker bodies (square ArUco/AprilTag tags) and write one CSV row per body per "
    "frame. SOURCE is camera:0[@1280x720[@60]], video:FILE, images:DIR, poses:FILE or "
    "replay:DIR (a plain video file or image folder path also works).")

DEFAULT_BODIES = ("coil", "head", "pointer")


def add_arguments(p) -> None:
    p.add_argument("source", help="camera:0, video:FILE, images:DIR, poses:FILE, replay:DIR")
    p.add_argument("--camera", type=Path,
                   help="camera calibration JSON (navtms calibrate-camera); without it the camera stored in a "
                        "replay:DIR recording is used, else the focal length is estimated from the bodies' own "
                        "geometry over the first frames (and the command refuses when it cannot be)")
    p.add_argument("--body", action="append", default=[], metavar="NAME=FILE[@DICT]",
                   help="a marker body: navtms JSON body file or 16-column tag file, optionally with its "
                        "dictionary; repeat for several bodies (default: the coil, head and pointer bodies "
                        "in data/bodies)")
    p.add_argument("--dictionary", default=None,
                   help="tag dictionary for tag files that do not name one (default DICT_4X4_50); "
                        "overrides JSON body files too when given")
    p.add_argument("--out", type=Path, help="pose log CSV to write (must not exist yet)")
    p.add_argument("--record", type=Path, metavar="DIR",
                   help="also record the frames and poses to a new recording folder (replay with replay:DIR)")
    p.add_argument("--lost-search-every", type=int, default=1, metavar="N",
                   help="while some bodies are tracked, search the whole image for the lost ones every N frames "
                        "(default 1: every frame; larger N keeps frame times low when a body is laid aside)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--realtime", action="store_true", help="pace file sources at their recorded frame rate")
    p.add_argument("--quiet", action="store_true", help="print only the summary")


def _source_spec(spec: str) -> str:
    if ":" in spec and spec.split(":", 1)[0].isalpha() and len(spec.split(":", 1)[0]) > 1:
        return spec
    path = Path(spec)
    if path.is_dir():
        return f"images:{spec}"
    if path.is_file():
        return f"video:{spec}"
    if path.suffix or "/" in spec or "\\" in spec:   # meant as a file: say so, not "not SCHEME:VALUE"
        raise InputFileError(path, "the file does not exist")
    return spec


def check_outputs(out: Path | None, record: Path | None) -> None:
    """Every output refused before anything is read or written: an existing pose log or
    recording folder (nothing is overwritten), a missing parent folder, or both the same path."""
    if out is not None:
        if out.exists():
            raise InputFileError(out, "the pose log already exists; choose a new file name (nothing was changed)")
        if not out.parent.is_dir():
            raise InputFileError(out, "the pose log's folder does not exist (nothing was changed)")
    if record is not None:
        if record.exists():
            raise InputFileError(record, "the recording folder already exists; choose a new folder (nothing was changed)")
        if not record.parent.is_dir():
            raise InputFileError(record, "the recording folder's parent does not exist (nothing was changed)")
    if out is not None and record is not None and out.resolve() == record.resolve():
        raise InputFileError(out, "--out and --record name the same path")


def parse_body_arg(text: str, dictionary: str | None):
    """'NAME=FILE[@DICT]' -> MarkerBody named NAME (library errors for bad files)."""
    from tracking.bodies import load_body

    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest:
        raise TrackingError(f"--body {text!r} is not NAME=FILE[@DICT], e.g. --body coil=coil.json")
    path, at, dic = rest.rpartition("@") if "@DICT" in rest else (rest, "", "")
    dic = dic or dictionary
    is_json = Path(path).suffix.lower() == ".json"
    if not is_json and dic is None:
        dic = "DICT_4X4_50"
    return load_body(path, dictionary=dic, name=name.strip())


def load_bodies(args) -> list:
    from tracking.bodies import load_body

    if args.body:
        return [parse_body_arg(b, args.dictionary) for b in args.body]
    data = Path(__file__).resolve().parents[2] / "data" / "bodies"
    return [load_body(data / f"{n}.json", dictionary=args.dictionary) for n in DEFAULT_BODIES]


def run(args) -> int:
    from tracking.camera import CameraModel
    from tracking.pose import MarkerTracker, TrackerSettings
    from navigation.sources import open_source

    check_outputs(args.out, args.record)
    bodies = load_bodies(args)
    camera = CameraModel.load(args.camera) if args.camera else None
    source = open_source(_source_spec(args.source), realtime=args.realtime)
    if camera is None and getattr(source, "camera", None) is not None:
        camera = source.camera          # replay:DIR: the camera the recording was made with
        print("navtms track: no --camera: using the camera stored in the recording "
              f"(focal {camera.K[0, 0]:.1f} px)", file=sys.stderr)
    pending: list = []                  # frames read to estimate the focal length, tracked first
    warned = False
    writer = recorder = None
    tracker = None
    times_ms: list[float] = []
    stats = {b.name: [0, 0.0] for b in bodies}       # frames visible, sum of rms
    n = 0
    try:
        while args.max_frames is None or n < args.max_frames:
            frame = pending.pop(0) if pending else source.read()
            if frame is None:
                break
            if tracker is None:
                if frame.image is not None and camera is None:
                    camera, pending = _estimate_camera(frame, source, bodies)
                if frame.image is not None:
                    camera.check_image(frame.image, f"{args.source} frame {frame.frame_number}")
                if args.lost_search_every < 1:
                    raise TrackingError(f"--lost-search-every must be 1 or more, got {args.lost_search_every}")
                tracker = MarkerTracker(camera or CameraModel.guess(640, 480), bodies,
                                        TrackerSettings(lost_search_every=args.lost_search_every))
                if args.out is not None:
                    from tracking.poselog import PoseLogWriter
                    writer = PoseLogWriter(args.out)
                if args.record is not None:
                    recorder = _open_recorder(args.record, camera, [b.name for b in bodies], args.source)
            t0 = time.perf_counter()
            poses = tracker.estimate(frame)
            times_ms.append((time.perf_counter() - t0) * 1e3)
            if tracker.last_warnings and not warned:
                print(f"navtms track: warning (frame {frame.frame_number}): {tracker.last_warnings[0]}", file=sys.stderr)
                warned = True
            if writer is not None:
                writer.write_frame([poses[b.name] for b in bodies])
            if recorder is not None:
                recorder.write(frame, poses)
            for name, p in poses.items():
                if p.visible:
                    stats[name][0] += 1
                    stats[name][1] += p.rms_px
            if not args.quiet:
                line = "  ".join(
                    f"{b.name}: " + (f"{p.T_camera_from_body[0, 3]:7.1f} {p.T_camera_from_body[1, 3]:7.1f} "
                                     f"{p.T_camera_from_body[2, 3]:7.1f} mm ({p.tags_seen}/{p.tags_total} tags, {p.rms_px:.2f} px)"
                                     if p.visible else "not visible")
                    for b in bodies for p in [poses[b.name]])
                print(f"frame {frame.frame_number}: {line}")
            n += 1
    except KeyboardInterrupt:
        print("navtms track: stopped", file=sys.stderr)
    finally:
        source.close()
        if writer is not None:
            writer.close()
        if recorder is not None:
            recorder.close()
    _summary(n, bodies, stats, times_ms, args)
    return 0


FOCAL_FRAMES = 10


def _estimate_camera(first, source, bodies):
    """No calibration: the focal length from the bodies' geometry over the first FOCAL_FRAMES
    frames (tracking.focal). Returns (CameraModel, the frames read after `first`, to track next).
    Raises TrackingError (no millimetre output) when the frames do not determine it."""
    from tracking.focal import estimate_camera

    frames = [first]
    while len(frames) < FOCAL_FRAMES:
        f = source.read()
        if f is None or f.image is None:
            break
        frames.append(f)
    h, w = first.image.shape[:2]
    try:
        camera, est = estimate_camera([f.image for f in frames], bodies)
    except TrackingError as e:
        raise TrackingError(f"no --camera, and {e}; give --camera (navtms calibrate-camera) for poses in mm") from None
    print(f"navtms track: no --camera: focal length estimated from the bodies' geometry over the first "
          f"{len(frames)} frames: {est.f_px:.1f} +- {est.sigma_px:.1f} px ({est.f_px / w:.2f} x the width), "
          f"corner RMS {est.rms_px:.2f} px; principal point at the centre, no distortion", file=sys.stderr)
    return camera, frames[1:]


def _open_recorder(folder: Path, camera, body_names, source: str):
    from tracking.recorder import Recorder

    return Recorder(folder, camera=camera, bodies=body_names, meta={"recorded_by": "navtms track", "source": source})


def _summary(n, bodies, stats, times_ms, args) -> None:
    print(f"{n} frames")
    for b in bodies:
        vis, rms = stats[b.name]
        mean = f", mean RMS {rms / vis:.2f} px" if vis else ""
        print(f"  {b.name}: visible in {vis}/{n} frames{mean}")
    if times_ms:
        t = np.asarray(times_ms)
        print(f"  pose estimation per frame: p50 {np.percentile(t, 50):.2f} ms, p99 {np.percentile(t, 99):.2f} ms")
    if args.out is not None:
        print(f"  poses written to {args.out}")
