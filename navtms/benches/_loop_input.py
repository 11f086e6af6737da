"""The loop bench's input (navtms.benches.loop): camera frames decoded into memory and restamped
as a 120 fps stream, the same stream as poses, and a frame source that plays them (paced like a
camera, or as fast as the loop takes them)."""
from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FPS_IN = 120.0


class MemorySource:
    """Frames from memory; paced=True delivers frame k at start + (t_k - t_0) (a camera)."""

    def __init__(self, frames, paced: bool):
        from tracking.sources import Pacer

        self.frames, self.paced, self.i = frames, paced, 0
        self.pacer = Pacer()

    def read(self):
        if self.i >= len(self.frames):
            return None
        f = self.frames[self.i]
        self.i += 1
        if self.paced:
            self.pacer.wait(f.capture_ns)
        return f

    def close(self):
        pass


def load_frames(n_render: int, repeats: int, decode_ms: list | None = None):
    """(camera, bodies, frames, description): the bundled data/sequences/coil_approach_720p video
    when present (first n_render frames), else a freshly rendered approach; restamped at 120 fps
    and repeated `repeats` times. decode_ms: a list that gets each VideoCapture.read() time (ms)."""
    decode_ms = [] if decode_ms is None else decode_ms
    from tracking.bodies import load_body
    from tracking.camera import CameraModel
    from tracking.types import Frame

    bodies = [load_body(REPO / "data" / "bodies" / f"{n}.json") for n in ("coil", "head")]
    seq = REPO / "data" / "sequences" / "coil_approach_720p"
    if (seq / "video.mp4").exists() and (seq / "camera.json").exists():
        from navigation.sources import open_source

        cam = CameraModel.load(seq / "camera.json")
        src = open_source(f"video:{seq / 'video.mp4'}")
        imgs = []
        try:
            while len(imgs) < n_render:
                t = time.perf_counter_ns()
                f = src.read()
                if f is None:
                    break
                decode_ms.append((time.perf_counter_ns() - t) / 1e6)
                imgs.append(f.image)
        finally:
            src.close()
        what = f"data/sequences/coil_approach_720p (first {len(imgs)} frames)"
    else:
        from tracking.synthetic.renderer import RenderEffects, render_sequence
        from tracking.synthetic.motion import coil_approach

        cam = CameraModel.guess(1280, 720, focal_factor=0.9)
        sc = coil_approach(1, seconds=max(1.0, n_render / 30.0), fps=n_render / max(1.0, n_render / 30.0))
        imgs = [img for img, _ in render_sequence(cam, bodies, sc.trajectories, seed=1,
                                                  effects=RenderEffects(occlusions=sc.occlusions), fps=sc.fps)]
        what = f"a rendered coil approach ({len(imgs)} frames)"
    frames = []
    for _ in range(repeats):
        for img in imgs:
            i = len(frames)
            frames.append(Frame(i, 10**9 + int(round(i * 1e9 / FPS_IN)), img))
    return cam, bodies, frames, what


def pose_frames(frames, cam, bodies):
    """The same frames as poses (what the tracker estimated, no image): the loop alone, no estimator."""
    from tracking.pose import MarkerTracker
    from tracking.types import Frame

    tr = MarkerTracker(cam, bodies)
    return [Frame(f.frame_number, f.capture_ns, None, tr.estimate(f)) for f in frames]
