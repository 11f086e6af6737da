"""navigation.wiring: one wiring of a navigation run (source, navigator, pulses, logs, loop) that
navigate, replay and the demo share. Checked against the scene's known coil poses."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from navcore.errors import InputFileError, TrackingError
from navigation.csvlog import read_log
from navigation.navigator import Tolerances
from navigation.pulses import ProtocolSpec
from navigation.sinks import CallbackSink
from navigation.wiring import LoopMode, NavigationSetup, RunOptions, build_run, make_navigator
from navloop_helpers import Scene, approach
from tracking.poselog import PoseLogWriter, parse_time_ns


@pytest.fixture()
def recording(tmp_path):
    scene = Scene.make(31)
    frames, truth = approach(scene, 40, hidden={10, 11})
    with PoseLogWriter(tmp_path / "poses.csv") as w:
        for f in frames:
            w.write_frame(f.poses)
    setup = NavigationSetup(targets=(scene.target,), T_mri_from_head=scene.T_mri_from_head,
                            T_coilbody_from_coil=scene.T_coilbody_from_coil, tolerances=Tolerances(2.0, 2.0),
                            predicted_tre_mm={"M1": 1.7}, fre_mm=0.9)
    return tmp_path, setup, frames, truth


def _opts(d: Path, **kw) -> RunOptions:
    return RunOptions(frames_path=d / "frames.csv", timing_path=d / "timing.csv", pulses_path=d / "pulses.csv",
                      mode=LoopMode.EVERY, realtime=False, **kw)


def test_a_replayed_run_sees_every_frame_at_its_true_pose_and_logs_it(recording):
    d, setup, frames, truth = recording
    outs, states = [], []
    with build_run(setup, f"poses:{d / 'poses.csv'}", _opts(d)) as run:
        run.add_sink(CallbackSink(outs.append, lambda state, msg: states.append(state)))
        stats = run.run()
    assert stats.frames_processed == 40 and stats.state == "ended" and states[-1] == "ended"
    assert [o.frame_number for o in outs] == list(range(40))
    for o, T in zip(outs, truth):
        if o.frame_number in (10, 11):
            assert o.T_mri_from_coil is None and o.errors is None
        else:
            np.testing.assert_allclose(o.T_mri_from_coil, T, atol=1e-6)
    assert outs[-1].on_target and outs[-1].predicted_tre_mm == 1.7
    assert outs[0].pose_age_ns == 0                      # the recorded clock
    rows = read_log(d / "frames.csv", "frame")
    assert len(rows) == 40 and len(read_log(d / "timing.csv", "timing")) == 40
    run.close()                                         # already closed by the with: idempotent


def test_the_protocol_starts_after_the_first_frame_on_the_recorded_clock(recording):
    d, setup, frames, _ = recording
    spec = ProtocolSpec(3, 20.0, 0.0, 1, 0.05)
    with build_run(setup, f"poses:{d / 'poses.csv'}", _opts(d, protocol=spec, lock_to_target=False)) as run:
        run.run()
    rows = read_log(d / "pulses.csv", "pulse")
    assert [parse_time_ns(r["time_s"]) for r in rows] == [frames[0].capture_ns + o for o in spec.offsets_ns()]
    assert {r["trigger"] for r in rows} == {"protocol"} and all(r["fired"] == "1" for r in rows)


def test_lock_to_target_follows_the_setup_unless_the_options_say_otherwise(recording):
    d, setup, _, _ = recording
    from dataclasses import replace

    for lock_setup, lock_opt, expect in ((True, None, True), (True, False, False), (False, True, True)):
        with build_run(replace(setup, lock_to_target=lock_setup), f"poses:{d / 'poses.csv'}",
                       _opts(d, lock_to_target=lock_opt)) as run:
            assert run.lock_to_target is expect and run.pulses.lock_to_target is expect
            d_ = run.pulse()                              # before any frame: refused under the lock
            assert d_.fired is not expect


def test_bad_input_opens_nothing_and_leaves_no_output(recording):
    d, setup, _, _ = recording
    called = []
    out = d / "out"
    with pytest.raises((InputFileError, TrackingError)):
        build_run(setup, f"poses:{d / 'missing.csv'}", _opts(out), prepare_outputs=lambda: called.append(1))
    with pytest.raises(TrackingError):
        build_run(setup, "nonsense", _opts(out), prepare_outputs=lambda: called.append(1))
    assert not called and not out.exists()


def test_make_navigator_selects_the_active_target(recording):
    _, setup, _, _ = recording
    from dataclasses import replace

    from navloop_helpers import Target

    t2 = Target("M2", setup.targets[0].target_mri_mm + 5, setup.targets[0].T_mri_from_coil)
    nav = make_navigator(replace(setup, targets=(setup.targets[0], t2), active_target=1))
    assert nav.target.name == "M2" and nav.tolerances == Tolerances(2.0, 2.0)


def test_navigation_imports_no_viewer_navtms_or_gui(repo_root):
    for f in (repo_root / "navigation").glob("*.py"):
        mods = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                mods |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods.add(node.module)
        bad = {m for m in mods if m.split(".")[0] in ("viewer", "navtms", "PySide6", "vtk", "PyQt5")}
        assert not bad, f"{f.name} imports {bad}"
