"""`navtms bench recording`: recorder write cost per frame (FFV1 and PNG) and replay speed.

Frames are real webcam footage (../shared/data/real/webcam-aruco-sksurgery/multipattern.avi,
640x480) cycled, or, when that is not beside the checkout, a synthetic textured 640x480 image.
Each frame is written with a two-body pose set (pose log flushed per frame), in the caller's
thread as fast as possible, and with background=True (images encoded on a worker thread) offered
at 20 frames/s like a live camera. Figures: the time write() takes (p50/p99, ms), the recording
rate (frames / total time including close; capped at 20 for background), the disk size per
frame, and the replay rate.
Figures only; nothing is asserted (shared, noisy machines).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

NAME = "recording"
HELP = "recorder write time per frame (FFV1, PNG) and replay rate at 640x480"

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "webcam-aruco-sksurgery" / "multipattern.avi"


def _images() -> tuple[list[np.ndarray], str]:
    from tracking.sources import VideoFileSource

    if REAL.exists():
        with VideoFileSource(REAL) as src:
            return [f.image for f in src], f"real footage {REAL.name}"
    rng = np.random.default_rng(0)
    base = (rng.normal(128, 40, (480, 640, 3))).clip(0, 255).astype(np.uint8)
    return [np.roll(base, 7 * i, axis=1) for i in range(10)], "synthetic 640x480"


def run(json_out: bool = False, quick: bool = False) -> dict:
    from navcore.transforms import random_rigid
    from tracking.recorder import Recorder, RecordingSource, ffv1_available
    from tracking.types import BodyPose, Frame

    images, what = _images()
    n = 30 if quick else 120
    pace_s = 1.0 / 20.0  # background mode: frames offered at 20 fps, like a live camera would
    rng = np.random.default_rng(1)
    result: dict = {"frames": n, "images": what, "unit": "ms", "kinds": {}}
    kinds = (["ffv1"] if ffv1_available() else []) + ["png"]
    for kind, background in [(k, b) for k in kinds for b in (False, True)]:
        label = kind + ("+bg" if background else "")
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / "rec"
            times = []
            t_all = time.perf_counter()
            with Recorder(folder, bodies=["coil", "head"], video=kind, background=background) as rec:
                for i in range(n):
                    ns = time.monotonic_ns()
                    poses = {"coil": BodyPose("coil", i, ns, True, random_rigid(rng), 4, 4, 0.3),
                             "head": BodyPose.not_visible("head", i, ns, 6)}
                    frame = Frame(i, ns, images[i % len(images)], poses)
                    t0 = time.perf_counter_ns()
                    rec.write(frame)
                    times.append(time.perf_counter_ns() - t0)
                    if background:
                        rest = pace_s - (time.perf_counter_ns() - t0) / 1e9
                        if rest > 0:
                            time.sleep(rest)
            total_s = time.perf_counter() - t_all  # includes waiting for a background encoder at close
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            t0 = time.perf_counter()
            count = sum(1 for _ in RecordingSource(folder))
            replay_s = time.perf_counter() - t0
        t = np.array(times, dtype=np.float64) / 1e6
        fig = {"write_p50_ms": round(float(np.percentile(t, 50)), 2), "write_p99_ms": round(float(np.percentile(t, 99)), 2),
               "record_fps": round(n / total_s, 1),
               "kB_per_frame": round(size / n / 1024, 1), "replay_fps": round(count / replay_s, 1)}
        result["kinds"][label] = fig
        if not json_out:
            print(f"{label:8s} write() p50 {fig['write_p50_ms']:6.2f} ms  p99 {fig['write_p99_ms']:6.2f} ms  "
                  f"sustained {fig['record_fps']:6.1f} frames/s  "
                  f"{fig['kB_per_frame']:6.1f} kB/frame  replay {fig['replay_fps']:6.1f} frames/s  "
                  f"(n={n}, {what})", flush=True)
    return result
