"""Helpers shared by the workbench tests (pytest-qt): a main window on a private recent list
and surface cache, waiting for the worker, opening the sample head, clicking a slice."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt

from planning_helpers import SAMPLE_FIDUCIALS, SAMPLE_MRI

DLPFC = np.array([-38.0, 44.0, 26.0])       # mri mm of the sample head (a left DLPFC spot)


def make_window(qtbot, tmp_path: Path, cache: Path):
    from navtms.app.recent import RecentList
    from navtms.app.shell import MainWindow

    win = MainWindow(recent=RecentList(tmp_path / "recent.json"))
    win.plan_options.cache_dir = cache
    win.confirm_discard = lambda: True
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def wait_idle(qtbot, win, timeout: int = 180_000) -> None:
    qtbot.waitUntil(lambda: not win.ctx.busy(), timeout=timeout)


def open_sample(qtbot, win):
    """A new plan on the sample head with its fiducials; returns the Plan workspace once the
    surfaces are made and the MRI is shown."""
    win.new_plan(SAMPLE_MRI, SAMPLE_FIDUCIALS)
    wait_idle(qtbot, win)
    ws = win.workspaces["plan"]
    qtbot.waitUntil(lambda: ws.mri is not None, timeout=60_000)
    wait_idle(qtbot, win)
    return ws


def click_at(qtbot, view, p_mri) -> None:
    """A real left click on a SliceView where the mri point p (mm) is drawn."""
    x, y = view.mri_to_display(p_mri)
    qtbot.mouseClick(view.interactor, Qt.MouseButton.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
