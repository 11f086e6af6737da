"""Start the workbench: `navtms app [SESSION_OR_PLAN]` (navtms/commands/app.py) calls run_app."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from viewer.display import has_display


def display_problem() -> Optional[str]:
    """None when a window can be shown here, else one sentence saying why not."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None                      # the user chose a Qt platform (offscreen, vnc, ...)
    if sys.platform.startswith("linux") and not has_display():
        return ("there is no display (no X11 or Wayland display is set); run it on a desktop, over "
                "ssh -X, or under Xvfb (xvfb-run navtms app)")
    return None


def run_app(path: Optional[Path] = None, argv: Optional[list[str]] = None) -> int:
    """Open the main window (with `path`: a plan or session folder, or an MRI) and run Qt's loop."""
    from PySide6.QtWidgets import QApplication

    from navtms.app.shell import MainWindow

    app = QApplication.instance() or QApplication(argv if argv is not None else ["navtms"])
    app.setApplicationName("navtms")
    win = MainWindow()
    win.show()
    if path is not None:
        win.open_path(path)
    return int(app.exec())
