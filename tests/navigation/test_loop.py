"""Navigation loop: every-frame replay, latest-value hand-off with counted drops, source loss,
stale flag, filter and sinks."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from navcore.latest import LatestValue
from navigation.loop import NavigationLoop
from navigation.navigator import Navigator
from navigation.sinks import CallbackSink, FrameLogSink
from viewer.sink import ViewSink
from navigation.csvlog import read_log
from tracking.filters import PoseFilter
from tracking.types import Frame
from viewer.state import LatestState
from navloop_helpers import ListSource, Scene, approach


def _nav(scene):
    return Navigator([scene.target], scene.T_mri_from_head, scene.T_coilbody_from_coil, 1.0)


def test_every_mode_processes_all_frames_in_order_and_hides_unseen_coil_at_once(tmp_path):
    scene = Scene.make(4)
    frames, truth = approach(scene, 40, hidden={10, 11})
    outs = []
    log = FrameLogSink(tmp_path / "frames.csv")
    loop = NavigationLoop(ListSource(frames), _nav(scene), sinks=[CallbackSink(outs.append), log],
                          mode="every", live=False)
    stats = loop.run()
    log.close()
    assert stats.state == "ended" and stats.frames_processed == 40 and stats.dropped == 0
    assert [o.frame_number for o in outs] == list(range(40))
    assert outs[10].T_mri_from_coil is None and outs[11].T_mri_from_coil is None
    for i in (0, 9, 12, 39):
        np.testing.assert_allclose(outs[i].T_mri_from_coil, truth[i], atol=1e-8)
    assert all(o.pose_age_ns == 0 and not o.stale for o in outs)   # replay clock
    rows = read_log(tmp_path / "frames.csv", "frame")
    assert [r["visible"] for r in rows[9:13]] == ["1", "0", "0", "1"] and rows[10]["distance_mm"] == ""


class _GatedSource(ListSource):
    """Delivers all frames instantly and sets `exhausted` when it runs out."""

    def __init__(self, frames):
        super().__init__(frames)
        self.exhausted = threading.Event()

    def read(self):
        f = super().read()
        if f is None:
            self.exhausted.set()
        return f


def test_latest_mode_drops_frames_instead_of_queueing_and_counts_them():
    scene = Scene.make(5)
    frames, _ = approach(scene, 50)
    src = _GatedSource(frames)
    seen = []

    def slow_sink(out):   # the first output waits until the source has delivered everything
        seen.append(out.frame_number)
        src.exhausted.wait(10)

    loop = NavigationLoop(src, _nav(scene), sinks=[slow_sink], mode="latest", live=False)
    stats = loop.run()
    assert stats.frames_read == 50
    assert stats.frames_processed + stats.dropped == 50
    assert seen[-1] == 49 and stats.dropped >= 48 - (len(seen) - 2)   # newest frame always processed
    assert seen == sorted(seen)


def test_source_lost_is_reported_and_session_kept():
    scene = Scene.make(6)
    frames, _ = approach(scene, 20)
    latest = LatestState()
    view = ViewSink(latest, fre_mm=0.8)
    statuses = []
    loop = NavigationLoop(ListSource(frames, fail_at=7), _nav(scene),
                          sinks=[view, CallbackSink(lambda o: None, lambda s, m: statuses.append((s, m)))],
                          mode="latest", live=True)
    stats = loop.run()
    assert stats.state == "source lost" and "unplugged" in stats.error
    assert stats.frames_read == 7 and stats.frames_processed >= 1
    assert statuses and statuses[0][0] == "source lost"
    _, st = latest.get()
    assert st.stale and not st.pose_is_current and st.status.startswith("source lost")


def test_stale_when_no_fresh_frame_for_100_ms():
    scene = Scene.make(7)
    frames, _ = approach(scene, 3)
    release = threading.Event()
    stale_seen = threading.Event()

    class Blocking(ListSource):
        def read(self):
            if self.i == len(self.frames):
                release.wait(10)      # a camera that stops delivering
                return None
            return super().read()

    latest = LatestState()
    view = ViewSink(latest)
    orig = view.stale

    def stale(age_ns):
        orig(age_ns)
        stale_seen.set()
        release.set()
    view.stale = stale
    loop = NavigationLoop(Blocking(frames), _nav(scene), sinks=[view], mode="latest", live=False)
    stats = loop.run()
    assert stale_seen.is_set() and stats.stale_events >= 1
    _, st = latest.get()
    assert st.stale and not st.pose_is_current


def test_filter_runs_and_estimator_is_used_for_image_frames():
    scene = Scene.make(8)
    frames, truth = approach(scene, 10)

    class RecordedPosesEstimator:   # stands in for MarkerTracker in this unit test (test_replay uses the real one)
        def __init__(self):
            self.calls = 0

        def estimate(self, frame):
            self.calls += 1
            return dict(frames[frame.frame_number].poses)

    img_frames = [Frame(f.frame_number, f.capture_ns, np.zeros((4, 4), np.uint8)) for f in frames]
    est = RecordedPosesEstimator()
    outs = []
    loop = NavigationLoop(ListSource(img_frames), _nav(scene), estimator=est, pose_filter=PoseFilter(),
                          sinks=[outs.append], mode="every", live=False)
    loop.run()
    assert est.calls == 10 and len(outs) == 10
    np.testing.assert_allclose(outs[0].T_mri_from_coil, truth[0], atol=1e-6)   # filter passes the first pose
    # no estimator for image frames: reported as a failure, not a crash
    loop2 = NavigationLoop(ListSource(img_frames), _nav(scene), mode="every", live=False)
    st = loop2.run()
    assert st.state == "failed" and "estimator" in st.error


def test_latest_slot_counts_overwrites():
    s = LatestValue()
    assert not s.put(1) and s.put(2) and s.put(3)
    assert s.dropped == 2 and s.take(0) == 3 and s.take(0) is None
    s.close()
    assert s.closed


def test_loop_publishes_to_a_real_openigtlink_peer():
    import json
    import time

    import pyigtl

    from igtl.server import IGTLServer
    from navigation.sinks import IGTLSink

    scene = Scene.make(9)
    frames, truth = approach(scene, 30)
    release = threading.Event()

    class HoldOpen(ListSource):      # a camera that keeps the session open until released
        def read(self):
            if self.i == len(self.frames):
                release.wait(20)
                return None
            return super().read()

    def receive(client, until, device="CoilToMRI"):
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end:
            m = client.wait_for_message(device, timeout=0.5)
            if m is not None and until(m):
                return m
        return None

    nav = _nav(scene)
    with IGTLServer(port=0) as server:
        client = pyigtl.OpenIGTLinkClient("127.0.0.1", server.port)
        try:
            t_end = time.monotonic() + 10
            while server.client_count < 1 and time.monotonic() < t_end:
                time.sleep(0.01)
            loop = NavigationLoop(HoldOpen(frames), nav, sinks=[IGTLSink(server, nav, 0.9)], mode="every",
                                  live=False).start()
            # the newest pose reaches the peer (intermediate ones may be skipped: latest value wins)
            last = receive(client, lambda m: m.message_type == "TRANSFORM" and np.allclose(m.matrix, truth[-1], atol=1e-3))
            assert last is not None
            release.set()
            loop.join(10)
            # the loop ended: the peer is told there is no current coil pose
            ended = receive(client, lambda m: '"ended"' in m.string, device="NavErrors")
            assert ended is not None and json.loads(ended.string)["coil_visible"] is False
        finally:
            release.set()
            client.stop()


def test_loop_states_are_an_enum_and_every_sink_gets_them_without_optional_methods():
    from navigation.loop import LoopState
    from navigation.sinks import BaseSink, CallbackSink, Sink, as_sink

    scene = Scene.make(3)
    frames, _ = approach(scene, 5)
    nav = Navigator([scene.target], scene.T_mri_from_head, scene.T_coilbody_from_coil)
    plain = []                                   # a plain function: wrapped as a CallbackSink

    class Recorder(BaseSink):                    # a full sink
        def __init__(self):
            self.states, self.n = [], 0

        def __call__(self, out):
            self.n += 1

        def status(self, state, message):
            self.states.append(state)

    rec = Recorder()
    loop = NavigationLoop(ListSource(frames), nav, sinks=[plain.append, rec], mode="every", live=False)
    assert all(isinstance(s, Sink) for s in loop.sinks) and isinstance(loop.sinks[0], CallbackSink)
    stats = loop.run()
    assert stats.state is LoopState.ENDED and stats.state == "ended" and rec.states == [LoopState.ENDED]
    assert len(plain) == rec.n == 5
    with pytest.raises(TypeError):
        as_sink(42)
    lost = NavigationLoop(ListSource(frames, fail_at=2), nav, sinks=[rec], mode="every", live=False).run()
    assert lost.state is LoopState.SOURCE_LOST and rec.states[-1] is LoopState.SOURCE_LOST


def test_replay_stale_pose_age_is_measured_on_the_replay_clock_and_agrees_with_the_flag():
    """A paced replay (live=False) whose source stops delivering: the stale pose's age runs on
    from the last frame (never "STALE POSE (0 ms old)"), above the limit whenever flagged; the
    frames themselves are fresh (age 0) on the replay clock; after the loop ends the age is
    unknown, not 0."""
    from viewer.scene import banner_text

    scene = Scene.make(9)
    frames, _ = approach(scene, 3)
    release = threading.Event()
    ages = []

    class Pausing(ListSource):       # a recording with a gap: three frames, then nothing for a while
        def read(self):
            if self.i == len(self.frames):
                release.wait(10)
                return None
            return super().read()

    latest = LatestState()
    view = ViewSink(latest)
    seen = []
    orig = view.stale

    def stale(age_ns):
        orig(age_ns)
        ages.append(age_ns)
        seen.append(latest.get()[1])
        if len(ages) >= 3:
            release.set()
    view.stale = stale
    outs = []
    nav = _nav(scene)
    loop = NavigationLoop(Pausing(frames), nav, sinks=[view, outs.append], mode="latest", live=False)
    loop.run()
    assert all(o.pose_age_ns == 0 and not o.stale for o in outs)
    assert len(ages) >= 3 and all(a > nav.stale_ns for a in ages) and ages == sorted(ages)
    for st, a in zip(seen, ages):
        assert st.stale and abs(st.pose_age_ms - a / 1e6) < 1e-9
        text = banner_text(st)
        shown_ms = float(text.split("STALE POSE (")[1].split(" ms old)")[0])
        assert shown_ms >= nav.stale_ns / 1e6      # shown to the ms, never 0
    _, end = latest.get()
    assert end.stale and "ended" in end.status and "ms old" not in banner_text(end)
