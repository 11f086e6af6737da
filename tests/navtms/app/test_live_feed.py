"""LiveFeed: tracking on its own thread; every frame reaches each subscriber in order, the newest
one is kept for the display, the end and a failing source are reported (never a crash)."""
from __future__ import annotations

import time

import pytest

from navloop_helpers import ListSource, Scene, approach

pytest.importorskip("PySide6")


def _wait(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


class _Gate:
    """A source that delivers its frames only once opened (so a subscriber sees them all)."""

    def __init__(self, src):
        self.src, self.open = src, False

    def read(self):
        while not self.open:
            time.sleep(0.001)
        return self.src.read()

    def close(self):
        self.src.close()


def test_subscribers_get_every_frame_in_order_and_none_at_the_end():
    from navtms.app.live_feed import LiveFeed

    frames, _ = approach(Scene.make(), 50)
    gate = _Gate(ListSource(frames))
    feed = LiveFeed(gate, None).start()
    read = feed.subscribe()
    gate.open = True
    got = []
    while (p := read()) is not None:
        got.append(p["coil"].frame_number)
    assert got == list(range(50))
    assert _wait(lambda: feed.state == "ended")
    st = feed.latest()
    assert st.frame_number == 49 and st.frames == 50 and "coil" in st.last_seen_ns
    feed.stop()


def test_a_failing_source_is_reported_and_ends_the_readers():
    from navtms.app.live_feed import LiveFeed

    frames, _ = approach(Scene.make(), 30)
    feed = LiveFeed(ListSource(frames, fail_at=10), None).start()
    read = feed.subscribe()
    assert _wait(lambda: feed.state == "source lost")
    assert "unplugged" in feed.error
    n = 0
    while read() is not None:
        n += 1
    assert n <= 10 and not feed.running
    feed.stop()


def test_a_file_source_plays_again_from_the_start_when_asked():
    from navtms.app.live_feed import LiveFeed

    frames, _ = approach(Scene.make(), 10)
    feed = LiveFeed(ListSource(frames), None, reopen=lambda: ListSource(frames)).start()
    assert _wait(lambda: (feed.latest() is not None and feed.latest().frames > 25))
    assert feed.running and feed.state == "running"
    read = feed.subscribe()
    read.close()
    assert read() is None                       # a closed subscription reads nothing more
    feed.stop()
    assert not feed.running
