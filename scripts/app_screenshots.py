"""Screenshots of the workbench (`navtms app`) from a real window, for docs/img/.

    python scripts/app_screenshots.py [--out docs/img]

Needs an X display; without one (DISPLAY unset) it runs itself again under its own Xvfb.
Writes app-start.png (the empty window) and app-<key>.png for every workspace the shell has:
the Plan workspace on the sample head with its fiducials, a left-DLPFC target clicked in the
axial slice, the handle at 45 deg; the other workspaces as they open.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DLPFC = np.array([-38.0, 44.0, 26.0])


def _under_xvfb(argv) -> int:
    """Run this script again with DISPLAY set to a fresh Xvfb; stop Xvfb after the child exits."""
    r, w = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    num = b""
    while not num.endswith(b"\n"):          # Xvfb writes the display number and a newline when ready
        chunk = os.read(r, 16)
        if not chunk:
            break
        num += chunk
    os.close(r)
    num = num.decode().strip()
    try:
        env = dict(os.environ, DISPLAY=f":{num}")
        return subprocess.call([sys.executable, __file__, *argv], env=env)
    finally:
        xvfb.terminate()
        xvfb.wait()


def _pump(app, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def _shoot(app, win, path: Path) -> None:
    _pump(app, 0.4)
    for ws in win.workspaces.values():
        if hasattr(ws, "render_all") and ws.isVisible():
            ws.render_all()
    _pump(app, 0.4)
    path.parent.mkdir(parents=True, exist_ok=True)
    app.primaryScreen().grabWindow(win.winId()).save(str(path))
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        return _under_xvfb(sys.argv[1:])
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from navtms.app.recent import RecentList
    from navtms.app.shell import MainWindow

    app = QApplication.instance() or QApplication(["navtms"])
    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(recent=RecentList(Path(tmp) / "recent.json"))
        win.confirm_discard = lambda: True
        win.resize(1600, 1000)
        win.show()
        _pump(app, 1.0)
        _shoot(app, win, args.out / "app-start.png")
        win.new_plan(REPO / "data" / "sample_head" / "head_t1.nii.gz", REPO / "data" / "sample_head" / "fiducials.csv")
        ws = win.workspaces["plan"]
        while win.ctx.busy() or ws.mri is None:
            _pump(app, 0.1)
        ws.panel.tool_buttons["target"].click()
        ax = ws.slices[0]
        ax.set_cursor(DLPFC)
        x, y = ax.mri_to_display(DLPFC)
        QTest.mouseClick(ax.interactor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(int(round(x)), int(round(y))))       # a real click in the axial slice
        _pump(app, 0.3)
        name = ws.selected
        ws._edit("rename", "rename_target", name, "L-DLPFC")
        ws.selected = "L-DLPFC"
        ws.panel.dial.setValue(45)
        ws._refresh()
        for key, w in win.workspaces.items():
            win.show_workspace(key)
            _shoot(app, win, args.out / f"app-{key}.png")
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
