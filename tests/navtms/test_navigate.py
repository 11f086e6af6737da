"""`navtms navigate` headless on recorded sources: logs appended to the session, pulses, source loss."""
from __future__ import annotations

from navcore.transforms import invert
from navcore.points import NamedPoints
from navtms.cli import main
from navigation.csvlog import read_log
from navtms.session import create_session
from navtms.workflow import register_session
from tracking.poselog import PoseLogWriter
from navloop_helpers import Scene, approach

FID = NamedPoints.from_dict({"a": [0, 95, 10], "b": [-75, 10, -20], "c": [75, 10, -20]}, "mri")


def _setup(tmp_path, n=60):
    scene = Scene.make(21)
    frames, _ = approach(scene, n, hidden={20})
    with PoseLogWriter(tmp_path / "poses.csv") as w:
        for f in frames:
            w.write_frame(f.poses)
    s = create_session(tmp_path / "session", [scene.target], T_coilbody_from_coil=scene.T_coilbody_from_coil)
    register_session(s, FID, FID.transformed(invert(scene.T_mri_from_head), "head"))
    return tmp_path / "session", tmp_path / "poses.csv"


def test_navigate_headless_logs_frames_and_pulses(tmp_path, capsys):
    session, log = _setup(tmp_path)
    code = main(["navigate", "--session", str(session), "--source", f"poses:{log}", "--headless", "--no-keys",
                 "--protocol", "2,20,0,1,0.05"])
    assert code == 0
    rows = read_log(session / "frames.csv", "frame")
    assert 1 <= len(rows) <= 60 and rows[-1]["frame"] == "59"       # newest frame always processed
    assert all(r["visible"] == "0" for r in rows if r["frame"] == "20")
    pulses = read_log(session / "pulses.csv", "pulse")
    assert len(pulses) == 2 and all(p["trigger"] == "protocol" for p in pulses)
    out = capsys.readouterr().out
    assert "loop ended" in out and "pulse 1" in out
    # a second run appends to the same session logs
    assert main(["navigate", "--session", str(session), "--source", f"poses:{log}", "--headless", "--no-keys"]) == 0
    assert len(read_log(session / "frames.csv", "frame")) > len(rows)


def test_navigate_reports_a_lost_source_and_keeps_the_session(tmp_path, capsys):
    session, log = _setup(tmp_path, 30)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:30]) + "garbage,line\n" + "".join(lines[30:]))
    code = main(["navigate", "--session", str(session), "--source", f"poses:{log}", "--headless", "--no-keys"])
    assert code == 1
    err = capsys.readouterr().err
    assert "kept" in err
    assert len(read_log(session / "frames.csv", "frame")) >= 1
    assert (session / "session.json").exists()
    assert main(["navigate", "--session", str(tmp_path / "none"), "--source", f"poses:{log}", "--headless"]) == 2


def test_recorded_poses_replay_to_the_same_errors(tmp_path):
    import numpy as np

    from navigation.csvlog import column

    session, log = _setup(tmp_path)
    rec = tmp_path / "live_poses.csv"
    assert main(["navigate", "--session", str(session), "--source", f"poses:{log}", "--headless", "--no-keys",
                 "--record-poses", str(rec)]) == 0
    live = read_log(session / "frames.csv", "frame")
    assert main(["replay", str(rec), "--session", str(session), "--out", str(tmp_path / "rep")]) == 0
    rep = read_log(tmp_path / "rep" / "frames.csv", "frame")
    assert [r["frame"] for r in rep] == [r["frame"] for r in live]       # exactly the frames processed live
    assert [r["visible"] for r in rep] == [r["visible"] for r in live]
    np.testing.assert_allclose(column(rep, "distance_mm"), column(live, "distance_mm"), atol=1e-6)


def test_a_malformed_protocol_is_one_sentence_and_exit_2_on_live_and_recorded_sources(tmp_path, capsys):
    session, log = _setup(tmp_path, 10)
    before = (session / "session.json").read_text()
    for source in (f"poses:{log}", "camera:0", "igtl:127.0.0.1:9"):     # live sources too: parsed before opening
        for bad in ("10,10", "a,b,c,d,e", "10,10,2,3,1,9", "0,10,2,3,1", "10,-1,2,3,1", "10,10,2,3,nan", ""):
            code = main(["navigate", "--session", str(session), "--source", source, "--headless", "--no-keys",
                         "--protocol", bad])
            err = capsys.readouterr().err
            assert code == 2, (source, bad)
            assert err.count("\n") == 1 and "N,HZ,GAP_S,TRAINS,START_S" in err and "Traceback" not in err
    assert (session / "session.json").read_text() == before and not (session / "frames.csv").exists()
