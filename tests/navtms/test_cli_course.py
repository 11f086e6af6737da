"""The clinical-course commands end to end: navtms hotspot grid|pick, navtms threshold,
navtms protocol, navtms course (figures printed = figures written; refusals exit 2, nothing lost)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from navtms.cli import main
from navtms.course_sim import expected_repositioning
from course_helpers import course_root, hotspot_search, simulated_course, sphere_plan  # noqa: F401 (fixtures)


@pytest.fixture()
def plan_copy(simulated_course, tmp_path):
    d = tmp_path / "plan"
    shutil.copytree(simulated_course[0], d)
    return d


@pytest.mark.slow
def test_course_command_prints_and_writes_the_figures(simulated_course, plan_copy, tmp_path, capsys):
    days = simulated_course[1]
    out = tmp_path / "report"
    assert main(["course", str(plan_copy), "--out", str(out), "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    exp = expected_repositioning(days)
    assert abs(js["repositioning"]["rms_mm"] - exp["rms_mm"]) < 0.3
    assert [d["fired"] for d in js["per_day"].values()] == [d.pulses for d in days]
    assert json.loads((out / "course.json").read_text())["repositioning"]["rms_mm"] == js["repositioning"]["rms_mm"]
    for f in ("course.html", "course_page.png", "course_page.pdf", "errors_per_day.png", "positions.png"):
        assert (out / f).stat().st_size > 1000
    # text output, default report folder under the plan
    assert main(["course", str(plan_copy)]) == 0
    text = capsys.readouterr().out
    assert f"coil centre RMS {js['repositioning']['rms_mm']:.2f} mm" in text
    for d in days:
        assert f"{d.date} {d.pulses:6d}" in text
    assert len(list((plan_copy / "reports").iterdir())) == 1


def test_course_refusals_exit_2_and_keep_everything(plan_copy, tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("mine")
    assert main(["course", str(plan_copy), "--out", str(out)]) == 2
    assert "never overwritten" in capsys.readouterr().err and (out / "old.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert main(["course", str(tmp_path / "missing")]) == 2
    assert "plan does not exist" in capsys.readouterr().err
    assert main(["course", str(plan_copy), "--sessions", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["course", str(plan_copy), "--target", "m1-hand", "--out", str(tmp_path / "r2")]) == 2
    assert "the session has no target 'm1-hand'" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


def test_threshold_and_protocol_commands(plan_copy, simulated_course, tmp_path, capsys):
    assert main(["threshold", str(plan_copy)]) == 0
    assert "no motor threshold recorded" in capsys.readouterr().out
    args = ["threshold", str(plan_copy), "--date", "2026-11-01", "--trial", "46:nnnnynnnnn",
            "--trial", "48:ynnynnynyn", "--trial", "50:" + ",".join(["80"] * 5 + ["20"] * 5)]
    assert main(args) == 0
    assert "motor threshold: 50% MSO" in capsys.readouterr().out
    assert main(["threshold", str(plan_copy), "--date", "2026-11-20", "--rule", "3/10", "--trial", "48:ynnynnynyn"]) == 0
    capsys.readouterr()
    obj = json.loads((plan_copy / "threshold.json").read_text())
    assert [m["threshold_pct"] for m in obj["measurements"]] == [50.0, 48.0]
    assert main(["threshold", str(plan_copy), "--trial", "48:maybe"]) == 2
    assert "trial '48:maybe'" in capsys.readouterr().err
    assert len(json.loads((plan_copy / "threshold.json").read_text())["measurements"]) == 2
    # protocol: the threshold in force on the date comes from threshold.json
    sess = tmp_path / "sess"
    shutil.copytree(simulated_course[2][0], sess)
    obj = json.loads((sess / "session.json").read_text())
    obj["plan"] = str(plan_copy)
    (sess / "session.json").write_text(json.dumps(obj))
    assert main(["protocol", str(sess), "--date", "2026-11-10", "--frequency", "10", "--pulses", "3000",
                 "--intensity-mt", "120"]) == 0
    assert "10 Hz 3000 pulses 120% MT = 60% MSO" in capsys.readouterr().out
    assert main(["protocol", str(sess), "--date", "2026-11-21", "--intensity-mt", "120"]) == 0
    assert json.loads((sess / "protocol.json").read_text())["intensity_pct_mso"] == 58.0
    assert main(["protocol", str(sess), "--date", "21.11.2026"]) == 2
    assert json.loads((sess / "protocol.json").read_text())["date"] == "2026-11-21"


def test_hotspot_commands(hotspot_search, plan_copy, tmp_path, capsys):
    grid, sim = hotspot_search
    assert main(["hotspot", "grid", str(plan_copy), "--session-out", str(tmp_path / "hs"), "--rows", "3",
                 "--cols", "4", "--spacing", "8"]) == 0
    assert "12 sites" in capsys.readouterr().out
    js = json.loads((tmp_path / "hs" / "hotspot_grid.json").read_text())
    assert len(js["sites"]) == 12 and js["spacing_mm"] == 8.0
    names = [t["name"] for t in json.loads((tmp_path / "hs" / "session.json").read_text())["targets"]]
    assert names == [s["name"] for s in js["sites"]]
    assert main(["hotspot", "grid", str(plan_copy), "--session-out", str(tmp_path / "hs"), "--rows", "3"]) == 2
    assert "already holds a session" in capsys.readouterr().err
    bad = tmp_path / "bad_emg.csv"
    bad.write_text("time_s;p2p_uv\n1;2\n")
    assert main(["hotspot", "pick", str(plan_copy), "--session", str(sim["session"]), "--emg", str(bad)]) == 2
    assert "bad_emg.csv" in capsys.readouterr().err and not (plan_copy / "hotspot.json").exists()
    assert main(["hotspot", "pick", str(plan_copy), "--session", str(sim["session"]), "--emg", str(sim["emg"])]) == 0
    text = capsys.readouterr().out
    best = grid.sites[int(np.argmax(sim["site_means_uv"]))].name
    assert f"hotspot {best}" in text and "75 pulses, 75 assigned" in text
    assert (plan_copy / "hotspot_map.png").stat().st_size > 10_000
    assert json.loads((plan_copy / "hotspot.json").read_text())["hotspot"] == best
    assert "hotspot" in [t["name"] for t in json.loads((plan_copy / "plan.json").read_text())["targets"]]


@pytest.mark.slow
def test_simulate_course_script_on_a_given_plan(sphere_plan, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "simulate_course.py"
    spec = importlib.util.spec_from_file_location("simulate_course", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "sim"
    fig = tmp_path / "page.png"
    assert mod.main([str(out), "--plan", str(sphere_plan[0]), "--target", "dlpfc", "--docs-figure", str(fig)]) == 0
    text = capsys.readouterr().out
    got = json.loads((out / "report" / "course.json").read_text())
    exp = expected_repositioning(__import__("navtms.course_sim", fromlist=["default_days"]).default_days())
    assert abs(got["repositioning"]["rms_mm"] - exp["rms_mm"]) < 0.3
    assert got["thresholds"][0]["threshold_pct"] is not None and "motor threshold:" in text
    hs = json.loads((out / "plan" / "hotspot.json").read_text())["hotspot"]
    assert hs in text and got["hotspot"]["hotspot"] == hs and got["hotspot"]["method"] == "max-mean"
    assert f"grid site {hs} (largest mean response" in (out / "report" / "course.html").read_text()
    assert fig.read_bytes() == (out / "report" / "course_page.png").read_bytes()
    assert main(["course", str(out / "plan"), "--out", str(tmp_path / "again"), "--json"]) == 0   # re-readable


@pytest.mark.parametrize("cmd", [[], ["course"], ["hotspot"], ["hotspot", "grid"], ["hotspot", "pick"],
                                 ["threshold"], ["protocol"]])
def test_help_texts_render(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main(cmd + ["--help"])
    assert e.value.code == 0 and "usage: navtms" in capsys.readouterr().out
