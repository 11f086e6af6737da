"""`navtms navigate`: --max-frames / --seconds end a headless run, SIGTERM and SIGINT stop it
with whole log rows and the documented exit status, and with a window the scene and window come
before the loop's first frame."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from navigation.csvlog import read_log
from navigation.records import FRAME_COLUMNS
from navtms.cli import main
from test_navigate import _setup

REPO = Path(__file__).resolve().parents[2]


def _rows_whole(path: Path) -> list:
    """The frame log's rows, each checked to hold every column (no cut row)."""
    text = path.read_text()
    assert text.endswith("\n")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split(",")
    assert all(len(ln.split(",")) == len(header) for ln in lines[1:]), "a cut row"
    assert set(FRAME_COLUMNS) <= set(header)
    return read_log(path, "frame")


def test_max_frames_processes_exactly_that_many_frames_and_exits_0(tmp_path, capsys):
    session, log = _setup(tmp_path, 60)
    assert main(["navigate", "--session", str(session), "--source", f"poses:{log}", "--headless", "--no-keys",
                 "--max-frames", "7"]) == 0
    rows = _rows_whole(session / "frames.csv")
    assert len(rows) == 7
    assert "loop stopped: 7 frames processed" in capsys.readouterr().out


def test_seconds_stops_a_long_recording_early(tmp_path, capsys):
    from navloop_helpers import Scene, approach
    from tracking.poselog import PoseLogWriter

    session, _ = _setup(tmp_path, 10)
    frames, _ = approach(Scene.make(21), 1500, fps=100.0)     # 15 s paced to its capture times
    with PoseLogWriter(tmp_path / "long.csv") as w:
        for f in frames:
            w.write_frame(f.poses)
    t0 = time.monotonic()
    assert main(["navigate", "--session", str(session), "--source", f"poses:{tmp_path / 'long.csv'}",
                 "--headless", "--no-keys", "--seconds", "0.5"]) == 0
    assert time.monotonic() - t0 < 8.0
    rows = _rows_whole(session / "frames.csv")
    assert 1 <= len(rows) < 1500 and int(rows[-1]["frame"]) < 1400
    assert "loop stopped" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [["--max-frames", "0"], ["--max-frames", "x"], ["--seconds", "-1"],
                                 ["--seconds", "nan"]])
def test_bad_limits_are_refused_before_anything_opens(tmp_path, bad, capsys):
    session, log = _setup(tmp_path, 5)
    with pytest.raises(SystemExit) as e:
        main(["navigate", "--session", str(session), "--source", f"poses:{log}", "--headless", *bad])
    assert e.value.code == 2 and not (session / "frames.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_headless_navigate_with_whole_rows_and_the_documented_status(tmp_path, sig, status):
    from navloop_helpers import Scene, approach
    from tracking.poselog import PoseLogWriter

    session, _ = _setup(tmp_path, 10)
    frames, _ = approach(Scene.make(21), 3000, fps=100.0)     # 30 s: only a signal ends it in time
    with PoseLogWriter(tmp_path / "long.csv") as w:
        for f in frames:
            w.write_frame(f.poses)
    proc = subprocess.Popen([sys.executable, "-m", "navtms", "navigate", "--session", str(session), "--source",
                             f"poses:{tmp_path / 'long.csv'}", "--headless", "--no-keys"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            p = session / "frames.csv"
            if p.exists() and len(p.read_text().splitlines()) > 20:
                break
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err[-800:]
    assert "Traceback" not in err
    assert f"stopped by {signal.Signals(sig).name}" in out and "loop stopped" in out
    rows = _rows_whole(session / "frames.csv")
    assert 10 < len(rows) < 3000
    n = int(out.split("loop stopped: ")[1].split(" frames")[0])
    assert n == len(rows)                     # every processed frame has its whole row, no more


def test_with_a_window_the_scene_and_window_come_before_the_loop(tmp_path, monkeypatch):
    """A recording is not over before anything is drawn: the window is built (scene loaded)
    before the loop starts, and shown right after."""
    import navtms.replay
    import viewer.window
    from navigation.wiring import NavigationRun

    session, log = _setup(tmp_path, 30)
    events = []

    class FakeWindow:
        def __init__(self, spec, latest):
            events.append(("window", latest.get()[0]))
            self.interactor = self

        def on_key(self, key, fn):
            pass

        def AddObserver(self, event, fn):
            self.timer = fn

        def start(self):
            events.append(("show", None))
            while self.timer() is None and not events[-1] == ("closed", None):
                time.sleep(0.01)

        def close(self):
            events.append(("closed", None))

    orig_start = NavigationRun.start

    def start(self):
        events.append(("loop", self.stats.frames_read))
        return orig_start(self)

    monkeypatch.setenv("DISPLAY", ":999")
    monkeypatch.setattr(viewer.window, "NavigationWindow", FakeWindow)
    monkeypatch.setattr(navtms.replay, "_scene_spec", lambda session: object())
    monkeypatch.setattr(NavigationRun, "start", start)
    assert main(["navigate", "--session", str(session), "--source", f"poses:{log}", "--no-keys",
                 "--max-frames", "5"]) == 0
    assert [e[0] for e in events] == ["window", "loop", "show", "closed"]
    assert events[0][1] == 0 and events[1][1] == 0       # nothing drawn or read before the window
    assert len(read_log(session / "frames.csv", "frame")) == 5
