"""A session's recorded treatment protocol drives the pulses of a run (navigation.pulses.
PulseSchedule; navtms replay/navigate --protocol-record START_S): theta bursts at their true
times after the first frame, which the N,HZ,GAP_S,TRAINS,START_S form cannot say."""
from __future__ import annotations

import numpy as np
import pytest

from navcore.errors import NavtmsError
from navcore.points import NamedPoints
from navcore.transforms import invert
from navigation.csvlog import read_log
from navigation.pulses import PulseSchedule
from navloop_helpers import Scene, approach
from navtms.cli import main
from navtms.session import create_session
from navtms.workflow import register_session
from tracking.poselog import PoseLogWriter, parse_time_ns

FID = NamedPoints.from_dict({"nasion": [0, 95, 10], "lpa": [-75, 10, -20], "rpa": [75, 10, -20]}, "mri")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drive")
    scene = Scene.make(7)
    frames, _ = approach(scene, 60)
    with PoseLogWriter(tmp / "poses.csv") as w:
        for f in frames:
            w.write_frame(f.poses)
    s = create_session(tmp / "session", [scene.target], T_coilbody_from_coil=scene.T_coilbody_from_coil)
    register_session(s, FID, FID.transformed(invert(scene.T_mri_from_head), "head"))
    return tmp, frames


def test_schedule_offsets():
    assert PulseSchedule((0.05, 0.07, 0.25)).offsets_ns() == [50_000_000, 70_000_000, 250_000_000]


def test_replay_fires_the_recorded_itbs_bursts(recorded, tmp_path, capsys):
    tmp, frames = recorded
    session = tmp / "session"
    assert main(["replay", str(tmp / "poses.csv"), "--session", str(session), "--out", str(tmp_path / "r0"),
                 "--protocol-record", "0.05"]) == 2
    assert "no protocol record" in capsys.readouterr().err
    assert main(["protocol", str(session), "--use", "itbs-left-dlpfc", "--threshold-mso", "50"]) == 0
    assert main(["replay", str(tmp / "poses.csv"), "--session", str(session), "--out", str(tmp_path / "r1"),
                 "--protocol-record", "0.05", "--no-lock-to-target"]) == 0
    rows = read_log(tmp_path / "r1" / "pulses.csv", "pulse")
    t = np.array([parse_time_ns(r["time_s"]) - frames[0].capture_ns for r in rows]) / 1e9
    span = (frames[-1].capture_ns - frames[0].capture_ns) / 1e9
    expect = []                                 # iTBS by hand: 3 pulses at 50 Hz every 200 ms
    for burst in range(10):
        for k in range(3):
            x = 0.05 + 0.2 * burst + 0.02 * k
            if x <= span:
                expect.append(x)
    assert len(expect) >= 9
    np.testing.assert_allclose(t, expect, atol=1e-6)
    assert {r["trigger"] for r in rows} == {"protocol"}
    assert main(["replay", str(tmp / "poses.csv"), "--session", str(session), "--out", str(tmp_path / "r2"),
                 "--protocol-record", "0", "--protocol", "1,1,0,1,0"]) == 2


def test_bad_start_is_refused(recorded):
    from navtms.session_protocol import session_schedule

    with pytest.raises(NavtmsError):
        session_schedule(recorded[0] / "session", float("nan"))
