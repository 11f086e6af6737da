"""A recorder in a child process, SIGKILLed mid-recording (the recorder kill tests share it).

The child writes test_recorder.make_frame(i, w=320, h=240) for i = 0, 1, ... and prints i after
each write() returns; the parent kills it once the child has reported stop_after (plus an
optional delay), so every frame up to the last reported one was handed to the recorder."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path[:0] = {paths!r}
    from test_recorder import make_frame
    from tracking.recorder import Recorder

    if {encode_delay_s!r} > 0:             # a slow encoder: the queue runs many frames behind
        encode = Recorder._encode

        def slow_encode(self, index, image):
            time.sleep({encode_delay_s!r})
            encode(self, index, image)

        Recorder._encode = slow_encode
    r = Recorder({folder!r}, bodies=["coil", "head"], video={kind!r}, background={background!r},
                 max_queue={max_queue!r})
    i = 0
    while True:
        r.write(make_frame(i, w=320, h=240))
        print(i, flush=True)
        i += 1
""")


def record_and_kill(folder: Path, kind: str, background: bool, max_queue: int, stop_after: int,
                    delay_s: float = 0.0, encode_delay_s: float = 0.0) -> tuple[int, str]:
    """Record into folder in a child, SIGKILL it after it reported frame stop_after (and delay_s
    more seconds). Returns (the last frame the child reported written, its stderr)."""
    code = _SCRIPT.format(paths=[str(TESTS / "tracking"), str(TESTS)], folder=str(folder), kind=kind,
                          background=background, max_queue=max_queue, encode_delay_s=float(encode_delay_s))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        reported = -1
        for line in proc.stdout:
            reported = int(line)
            if reported >= stop_after:
                break
        if delay_s:
            threading.Event().wait(delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return reported, proc.stderr.read()
