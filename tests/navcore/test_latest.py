"""navcore.latest.LatestValue: the one latest-value slot (loop threads and the viewer's timer)."""
from __future__ import annotations

import threading

from navcore.latest import LatestValue


def test_put_take_get_and_drops():
    s = LatestValue()
    assert s.get() == (0, None) and s.take(0) is None
    assert not s.put(1) and s.put(2) and s.put(3)           # 1 and 2 overwritten untaken
    assert s.dropped == 2 and s.get() == (3, 3)
    assert s.take(0) == 3 and s.take(0) is None              # taken once
    assert s.get() == (3, 3)                                 # get() peeks, never takes
    s.close()
    assert s.closed and s.take(None) is None                 # closed and empty: no wait


def test_initial_value_has_version_1_and_is_not_fresh():
    s = LatestValue("x")
    assert s.get() == (1, "x") and s.take(0) is None


def test_a_consumer_sees_only_newer_values_and_nothing_is_lost_uncounted():
    s = LatestValue()
    n = 20000
    seen = []

    def consume():
        while True:
            v = s.take(1.0)
            if v is None:
                if s.closed:
                    return
                continue
            seen.append(v)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(n):
        s.put(i)
    s.close()
    t.join(10)
    assert not t.is_alive()
    assert all(b > a for a, b in zip(seen, seen[1:]))        # never an older value after a newer one
    assert seen[-1] == n - 1                                  # the newest is always delivered
    assert len(seen) + s.dropped == n                         # every value taken or counted as dropped
