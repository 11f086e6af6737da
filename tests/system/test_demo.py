"""`navtms demo` end to end on the embedded data: the README's main job.

One run (module-scoped, ~15 s) is checked against the truth the demo recording was rendered
from (data/demo/truth.json, truth_poses.npz)."""
import json
import pytest

from navtms.cli import main
from navigation.csvlog import read_log
from navtms.demo import run_demo
from tracking.poselog import read_rows


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    lines = []
    result = run_demo(out, headless=True, say=lines.append)
    return out, result, lines


@pytest.mark.slow
def test_demo_writes_the_report(demo):
    out, result, lines = demo
    for f in ("plan/plan.json", "session/session.json", "report/frames.csv", "report/pulses.csv",
              "report/summary.json", "report/errors.png", "report/bullseye.png", "demo.json"):
        assert (out / f).is_file(), f
    assert json.loads((out / "demo.json").read_text())["target"] == "dlpfc-fox2012"
    assert any("FRE" in l and "predicted TRE" in l for l in lines), "FRE and predicted TRE must be printed"


@pytest.mark.slow
def test_demo_registration_is_honest(demo):
    _, result, _ = demo
    assert result["fre_mm"] < 2.0
    # the registration's real error at the target is within what it predicted (with margin for chance)
    assert result["truth"]["true_tre_at_target_mm"] < 2.0 * result["predicted_tre_mm"]
    assert result["truth"]["true_tre_at_target_mm"] < 1.5


@pytest.mark.slow
def test_demo_coil_pose_matches_truth(demo):
    _, result, _ = demo
    trk = result["truth"]["coil_pose_error_tracking_mm"]
    assert trk["n"] > 200
    assert trk["median"] < 1.0 and trk["p95"] < 2.0
    assert result["truth"]["coil_pose_error_tracking_deg"]["median"] < 1.0


@pytest.mark.slow
def test_demo_never_reports_an_unseen_coil(demo, data_dir):
    out, _, _ = demo
    rows = read_log(out / "report" / "frames.csv", "frame")
    truth = {p.frame_number: p.visible for p in read_rows(data_dir / "demo" / "coil_approach" / "truth.csv")
             if p.body == "coil"}
    hidden = [int(r["frame"]) for r in rows if r["coil_visible"] != "1"]
    assert hidden, "the recording has frames where the coil is covered or gone"
    for r in rows:
        if not truth[int(r["frame"])]:
            assert r["coil_visible"] == "0" and r["tx_mm"] == "", f"frame {r['frame']}: coil is hidden in truth"


@pytest.mark.slow
def test_demo_pulses_logged_on_target(demo):
    _, result, _ = demo
    p = result["replay"]["pulses"]
    assert p["fired"] == 20 and p["visible"] == 20
    assert p["on_target"] >= 15
    assert p["distance_mm"]["median"] < 3.0


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["demo", "--headless", "--out", str(out)]) == 2
    assert "overwritten" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
