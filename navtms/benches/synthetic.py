"""`navtms bench synthetic`: synthetic-frame render time, and tracking + filtering accuracy on the
bundled sequence data/sequences/coil_approach_720p against its ground truth.

Render: SequenceRenderer.render() per frame (all effects: textured background, distortion,
motion blur, lighting, noise, occluder) of the coil-approach scenario at 720p and 1080p; median
and p95 wall-clock ms and median CPU ms of the process (OpenCV may use 2 threads, so CPU can
exceed wall time on an idle machine; on a shared one wall time grows). Goal (a figure, not an
assert): tens of ms per 720p frame.
Accuracy: MarkerTracker on the decoded H.264 frames, then PoseFilter (default One-Euro
parameters): frames where the truth says visible and the tracker found the body (recall),
frames where the tracker reported a body the truth says is not visible (must be 0),
translation / rotation error median, p95 and max, raw and filtered.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

NAME = "synthetic"
HELP = "synthetic frames: render ms/frame (720p/1080p); tracker + filter accuracy on the bundled sequence"

REPO = Path(__file__).resolve().parents[2]
SEQUENCE = REPO / "data" / "sequences" / "coil_approach_720p"


def _render_times(width: int, height: int, n: int) -> dict:
    from tracking.bodies import load_body
    from tracking.synthetic.renderer import RenderEffects, SequenceRenderer
    from tracking.synthetic.files import webcam_camera
    from tracking.synthetic.motion import coil_approach

    bodies = [load_body(REPO / "data" / "bodies" / f"{b}.json") for b in ("coil", "head")]
    sc = coil_approach(1, seconds=4.0, fps=30.0)
    t0 = time.perf_counter()
    r = SequenceRenderer(webcam_camera(width, height), bodies, RenderEffects(occlusions=sc.occlusions), seed=1)
    setup_ms = (time.perf_counter() - t0) * 1e3
    idx = np.linspace(0, len(sc.trajectories["coil"]) - 1, n).round().astype(int)
    ms, cpu = [], []
    for i in idx:
        t0, c0 = time.perf_counter(), time.process_time()
        r.render(sc.trajectories, int(i), sc.fps)
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {"setup_ms": round(setup_ms, 1), "frames": int(n), "median_ms": round(float(np.median(ms)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "cpu_median_ms": round(float(np.median(cpu)), 1)}


def _accuracy() -> dict:
    from navcore.transforms import rotation_between
    from tracking.filters import PoseFilter
    from tracking.pose import MarkerTracker
    from tracking.synthetic.files import frame_time_ns, load_sequence
    from tracking.types import Frame

    seq = load_sequence(SEQUENCE)
    tracker, flt = MarkerTracker(seq.camera, list(seq.bodies)), PoseFilter()
    stats = {b.name: {"truth_visible": 0, "found": 0, "false_visible": 0, "raw": [], "filtered": []} for b in seq.bodies}
    for i, img in enumerate(seq.images()):
        est = tracker.estimate(Frame(i, frame_time_ns(i, seq.fps), img))
        fil = flt(est)
        for name, p in est.items():
            s, truth = stats[name], seq.truth[i][name]
            if not truth.visible:
                s["false_visible"] += int(p.visible)
                continue
            s["truth_visible"] += 1
            if not p.visible:
                continue
            s["found"] += 1
            T = seq.truth_poses[name][i]
            for key, Te in (("raw", p.T_camera_from_body), ("filtered", fil[name].T_camera_from_body)):
                s[key].append((float(np.linalg.norm(Te[:3, 3] - T[:3, 3])), math.degrees(rotation_between(Te, T))))
    out = {}
    for name, s in stats.items():
        row = {"recall": f"{s['found']}/{s['truth_visible']}", "false_visible": s["false_visible"]}
        for key in ("raw", "filtered"):
            e = np.asarray(s[key]).reshape(-1, 2)
            if len(e):
                row[key] = {"t_median_mm": round(float(np.median(e[:, 0])), 3),
                            "t_p95_mm": round(float(np.percentile(e[:, 0], 95)), 3),
                            "t_max_mm": round(float(e[:, 0].max()), 3),
                            "r_median_deg": round(float(np.median(e[:, 1])), 3),
                            "r_p95_deg": round(float(np.percentile(e[:, 1], 95)), 3)}
        out[name] = row
    return out


def run(json_out: bool = False, quick: bool = False) -> dict:
    n = 8 if quick else 40
    result = {"render": {"720p": _render_times(1280, 720, n), "1080p": _render_times(1920, 1080, n)}}
    if SEQUENCE.exists():
        result["accuracy_coil_approach_720p"] = _accuracy()
    if not json_out:
        for res, r in result["render"].items():
            print(f"render {res}: median {r['median_ms']} ms, p95 {r['p95_ms']} ms per frame wall clock, "
                  f"median {r['cpu_median_ms']} ms CPU ({r['frames']} frames; set-up {r['setup_ms']} ms)")
        for name, row in result.get("accuracy_coil_approach_720p", {}).items():
            print(f"{name}: found {row['recall']} truth-visible frames, {row['false_visible']} reported while not visible")
            for key in ("raw", "filtered"):
                if key in row:
                    a = row[key]
                    print(f"  {key:8s} translation median {a['t_median_mm']} mm, p95 {a['t_p95_mm']} mm, "
                          f"max {a['t_max_mm']} mm; rotation median {a['r_median_deg']} deg, p95 {a['r_p95_deg']} deg")
    return result
