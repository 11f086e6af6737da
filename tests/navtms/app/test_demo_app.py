"""`navtms demo` with a display ends in the workbench's Review workspace on the demo session."""
from __future__ import annotations

import argparse

import pytest

pytest.importorskip("pytestqt")


@pytest.mark.slow
def test_demo_ends_in_review_on_the_demo_session(tmp_path, qtbot, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from navtms.app.shell import MainWindow
    from navtms.commands import demo

    seen = {}

    def fake_exec(*_a):          # instead of the event loop: look at the window the demo opened
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        win = wins[-1]
        ws = win.workspaces["review"]
        seen.update(current=win._current, run=ws.run, session=win.ctx.session_dir, plan=win.ctx.plan_dir)
        for w in win.workspaces.values():
            w.shutdown()
        win.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setenv("DISPLAY", __import__("os").environ.get("DISPLAY", ":0"))
    out = tmp_path / "demo"
    assert demo.run(argparse.Namespace(out=out, headless=False)) == 0
    assert seen["current"] == "review"
    assert seen["run"] is not None and seen["run"].folder == out / "report"
    assert len(seen["run"].frames) == 300 and seen["run"].summary["pulses"]["fired"] == 20
    assert seen["session"] == out / "session" and seen["plan"] is not None
