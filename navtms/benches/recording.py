"""`navtms bench recording`: recorder write cost per frame (FFV1 and PNG) and replay speed.

Frames are real webcam footage (../shared/data/real/webcam-aruco-sksurgery/multipattern.avi,
640x480) cycled, or, when that is not beside the checkout, a synthetic textured 640x480 image;
the same frames scaled to 1920x1080 (cv2.resize, bilinear) for the large size.
Each frame is written with a two-body pose set (pose log flushed per frame), in the caller's
thread as fast as possible, and with background=True (images encoded on a worker thread) offered
at a live camera's pace: 20 frames/s at 640x480, 6 frames/s at 1920x1080 (what the encoder
thread keeps up with on this machine, so write() times are not waits for a full spool).
Figures: the time write() takes in the caller (wall p50/p99, and the calling thread's CPU time
p50/mean, ms: what the live loop pays), the recording rate (frames / total time including
close; capped at the offered rate for background), the disk size per frame, the replay rate.
With background=True write() copies the raw image into the frame spool and writes the frame's
index and pose rows (so a kill loses at most that frame); the first max_queue + 1 = 31 frames
fill the spool's pages for the first time and cost more than the rest (the p50 over 120
frames is the steady state).
Figures only; nothing is asserted (shared, noisy machines).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

NAME = "recording"
HELP = "recorder write time per frame (FFV1, PNG; 640x480 and 1920x1080) and replay rate"

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "webcam-aruco-sksurgery" / "multipattern.avi"


def _images() -> tuple[list[np.ndarray], str]:
    from tracking.sources import VideoFileSource

    if REAL.exists():
        with VideoFileSource(REAL) as src:
            return [f.image for f in src], f"real footage {REAL.name}"
    rng = np.random.default_rng(0)
    base = (rng.normal(128, 40, (480, 640, 3))).clip(0, 255).astype(np.uint8)
    return [np.roll(base, 7 * i, axis=1) for i in range(10)], "synthetic 640x480"


def _one(kind: str, background: bool, images: list, n: int, pace_s: float, rng) -> dict:
    from navcore.transforms import random_rigid
    from tracking.recorder import Recorder, RecordingSource
    from tracking.types import BodyPose, Frame

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "rec"
        wall, cpu = [], []
        t_all = time.perf_counter()
        with Recorder(folder, bodies=["coil", "head"], video=kind, background=background) as rec:
            for i in range(n):
                ns = time.monotonic_ns()
                poses = {"coil": BodyPose("coil", i, ns, True, random_rigid(rng), 4, 4, 0.3),
                         "head": BodyPose.not_visible("head", i, ns, 6)}
                frame = Frame(i, ns, images[i % len(images)], poses)
                c0 = time.thread_time_ns()
                t0 = time.perf_counter_ns()
                rec.write(frame)
                wall.append(time.perf_counter_ns() - t0)
                cpu.append(time.thread_time_ns() - c0)
                if background:
                    rest = pace_s - (time.perf_counter_ns() - t0) / 1e9
                    if rest > 0:
                        time.sleep(rest)
        total_s = time.perf_counter() - t_all  # includes waiting for a background encoder at close
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        t0 = time.perf_counter()
        count = sum(1 for _ in RecordingSource(folder))
        replay_s = time.perf_counter() - t0
    t = np.array(wall, dtype=np.float64) / 1e6
    c = np.array(cpu, dtype=np.float64) / 1e6
    return {"write_p50_ms": round(float(np.percentile(t, 50)), 2), "write_p99_ms": round(float(np.percentile(t, 99)), 2),
            "write_cpu_p50_ms": round(float(np.percentile(c, 50)), 2), "write_cpu_mean_ms": round(float(c.mean()), 2),
            "record_fps": round(n / total_s, 1), "kB_per_frame": round(size / n / 1024, 1),
            "replay_fps": round(count / replay_s, 1), "frames": n}


def run(json_out: bool = False, quick: bool = False) -> dict:
    import cv2

    from tracking.recorder import ffv1_available

    images, what = _images()
    large = [cv2.resize(im, (1920, 1080), interpolation=cv2.INTER_LINEAR) for im in images[:10]]
    rng = np.random.default_rng(1)
    kinds = (["ffv1"] if ffv1_available() else []) + ["png"]
    result: dict = {"frames": 30 if quick else 120, "images": what, "unit": "ms", "kinds": {}, "kinds_1920x1080": {}}
    plan = [("kinds", "640x480", images, 30 if quick else 120, 1 / 20.0, b) for b in (False, True)]
    # 1920x1080: --quick times only the background modes (the live loop's), on few frames.
    plan += [("kinds_1920x1080", "1920x1080", large, 10 if quick else 120, 1 / 6.0, b)
             for b in ((True,) if quick else (False, True))]
    for key, size, imgs, n, pace_s, background in plan:
        for kind in kinds:
            label = kind + ("+bg" if background else "")
            fig = _one(kind, background, imgs, n, pace_s, rng)
            result[key][label] = fig
            if not json_out:
                print(f"{size:9s} {label:8s} write() p50 {fig['write_p50_ms']:6.2f} ms  p99 {fig['write_p99_ms']:6.2f} ms  "
                      f"cpu p50 {fig['write_cpu_p50_ms']:6.2f} ms  mean {fig['write_cpu_mean_ms']:6.2f} ms  "
                      f"sustained {fig['record_fps']:6.1f} frames/s  "
                      f"{fig['kB_per_frame']:7.1f} kB/frame  replay {fig['replay_fps']:6.1f} frames/s  "
                      f"(n={n}, {what})", flush=True)
    return result
