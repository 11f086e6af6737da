"""`navtms demo [--headless] [--out DIR]`: plan, register and navigate a recorded session on the
embedded sample data, writing a report folder (see navtms/demo.py)."""
from __future__ import annotations

from pathlib import Path

NAME = "demo"
HELP = "run a whole navigated session on the embedded sample data and write a report"


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, default=None,
                   help="report folder to create (default: ./navtms-demo-DATE-TIME; never overwritten)")
    p.add_argument("--headless", action="store_true",
                   help="do not open the workbench on the result (also the default when there is no display)")


def run(args) -> int:
    from navtms.demo import run_demo
    from viewer.display import has_display

    headless = args.headless or not has_display()
    if not args.headless and headless:
        print("no display found: running headless (the report still has viewer snapshots)")
    # the replay runs headless; with a display the workbench then opens on the result
    result = run_demo(args.out, headless=True)
    if not headless:
        return _review_in_app(Path(result["out"]))
    return 0


def _review_in_app(out: Path) -> int:
    """The workbench on the demo's session, in its Review workspace (the demo's report)."""
    from PySide6.QtWidgets import QApplication

    from navtms.app.shell import MainWindow

    app = QApplication.instance() or QApplication(["navtms"])
    app.setApplicationName("navtms")
    win = MainWindow()
    win.show()
    if not win.open_path(out / "session"):
        return 1
    win.show_workspace("review")
    print(f"the workbench shows the demo session in Review: {out / 'report'}")
    return int(app.exec())
