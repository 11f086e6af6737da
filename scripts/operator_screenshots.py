"""Screenshots of the operator's workspaces (navtms/app) into docs/img/, from real windows.

Run under a display (e.g. Xvfb :92): DISPLAY=:92 python scripts/operator_screenshots.py [--out docs/img]
Uses the embedded demo data (data/demo) in a temporary session folder; nothing in the
repository other than the PNGs is written.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _settle(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _shot(app, widget, path: Path, seconds: float = 1.5) -> None:
    widget.resize(1440, 880)
    widget.show()
    _settle(app, seconds)
    img = app.primaryScreen().grabWindow(widget.winId())
    img.save(str(path))
    print(f"wrote {path}")


def _pivot_log(path: Path) -> Path:
    """A tracker's pose log (30 fps) of a pointer swung about a divot (0.15 mm noise, a slip in
    frames 100-109), the head body seen beside it. Pointer tip 120 mm along -y of its body."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    from navcore.transforms import make_transform
    from tracking.poselog import write_log
    from tracking.types import BodyPose

    rng = np.random.default_rng(1)
    tip, pivot = np.array([0.0, -120.0, 5.0]), np.array([20.0, -30.0, 550.0])
    frames = []
    for i in range(300):
        a = 2 * np.pi * i / 150
        R = (Rotation.from_rotvec(np.radians(22) * np.array([np.cos(a), np.sin(2 * a), 0.2]))
             * Rotation.from_rotvec([0.3, -0.2, 0.1])).as_matrix()
        t = pivot + (6.0 if 100 <= i < 110 else 0.0) - R @ tip + rng.normal(0, 0.15, 3)
        ns = 10**9 + int(i * 1e9 / 30)
        frames.append({"pointer": BodyPose("pointer", i, ns, True, make_transform(R, t), 4, 4, 0.3),
                       "head": BodyPose("head", i, ns, True, make_transform(np.eye(3), [60.0, 0, 600.0]), 8, 8, 0.2),
                       "coil": BodyPose.not_visible("coil", i, ns, 8)})
    return write_log(path, frames)


def calibrate(app, ctx, out: Path) -> None:
    from navtms.app.workspaces.calibrate import CalibrateWorkspace

    ws = CalibrateWorkspace(ctx)
    ws.activated()
    ws.connect_source(f"video:{REPO / 'data/demo/coil_approach/video.mp4'}")
    _shot(app, ws, out / "app_calibrate.png", 3.0)
    log = _pivot_log(Path(ctx.session_dir).parent / "pivot_poses.csv")
    ws.connect_source(f"poses:{log}")
    ws.pivot_n.setValue(150)
    ws.start_pivot()
    _shot(app, ws, out / "app_calibrate_pivot_running.png", 2.5)
    while ws.pivot_result is None and ws._task is not None:
        _settle(app, 0.2)
    _shot(app, ws, out / "app_calibrate_pivot_done.png", 0.5)
    ws.shutdown()
    ws.close()


def register(app, ctx, out: Path) -> None:
    """The demo's recorded fiducials (one retaken) and head points, fitted with the one pipeline."""
    import numpy as np

    from navcore.points import read_points
    from navtms.app.workspaces.register import RegisterWorkspace
    from navtms.app.workspaces.register_model import PointState

    ws = RegisterWorkspace(ctx)
    ws.resize(1440, 880)
    ws.show()
    ws.activated()
    ws.connect_source(f"video:{REPO / 'data/demo/coil_approach/video.mp4'}")
    fids = read_points(REPO / "data/demo/fiducials_head.csv", frame="head")
    for e in ws.attempt.fiducials:
        e.state, e.position_head_mm, e.spread_mm = PointState.COLLECTED, fids[e.name], 0.4
    ws.attempt.head_points = list(read_points(REPO / "data/demo/head_points.csv", frame="head").positions)
    ws.fit()
    while ws.attempt.result is None:
        _settle(app, 0.2)
    ws.fid_list.setCurrentRow(1)
    _shot(app, ws, out / "app_register.png", 2.0)
    ws.shutdown()
    ws.close()


def review(app, ctx, out: Path) -> None:
    from navtms.app.workspaces.review import ReviewWorkspace

    ws = ReviewWorkspace(ctx)
    ws.activated()
    ws.load(Path(ctx.session_dir).parent / "report")
    ws.seek(6.2)
    _shot(app, ws, out / "app_review.png", 1.0)
    ws.tabs.setCurrentWidget(ws.view3d_page)
    _shot(app, ws, out / "app_review_3d.png", 2.0)
    ws.tabs.setCurrentIndex(ws.tabs.count() - 1)
    _shot(app, ws, out / "app_review_figures.png", 1.0)
    ws.shutdown()
    ws.close()


def navigate(app, ctx, out: Path) -> None:
    from navtms.app.workspaces.navigate import NavigateWorkspace

    ws = NavigateWorkspace(ctx)
    ws.resize(1440, 880)
    ws.show()
    ws.activated()
    _settle(app, 0.5)
    # the demo recording's true poses (its pose log), played at the recorded pace
    ws.start(f"poses:{REPO / 'data/demo/coil_approach/truth.csv'}")
    end = time.monotonic() + 6.4
    while time.monotonic() < end:     # pulses during the hold (the recording holds on target 5.5-8.5 s)
        _settle(app, 0.2)
        if time.monotonic() > end - 1.2:
            ws.pulse()
    run = ws.run
    ws.run = None                      # freeze the screen on the newest state, then stop the loop
    _shot(app, ws, out / "app_navigate.png", 0.5)
    ws.run = run
    ws.shutdown()
    ws.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "img"))
    ap.add_argument("--only", nargs="*", default=None)
    a = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from navtms.app.context import AppContext
    from navtms.demo import run_demo
    from navtms.session import load_session

    app = QApplication.instance() or QApplication([])
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="navtms-shots-"))
    run_demo(tmp / "demo", headless=True, say=lambda m: None)
    s = load_session(tmp / "demo" / "session")
    ctx = AppContext()
    ctx.set_session(s, s.folder)
    try:
        _all(app, ctx, out, a.only)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _all(app, ctx, out: Path, only) -> None:
    for name, fn in (("calibrate", calibrate), ("register", register), ("navigate", navigate), ("review", review)):
        if only is None or name in only:
            fn(app, ctx, out)


if __name__ == "__main__":
    raise SystemExit(main())
