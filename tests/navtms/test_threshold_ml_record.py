"""The ML threshold hunt as a record (threshold.json) and from the command line: interactive
hunt, --next, a recorded hunt, and responses from an EMG file matched by pulse time. Subjects
are simulated with a known threshold (therapy.mep_sim)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from course_helpers import course_root, sphere_plan  # noqa: F401 (fixtures)
from navcore.errors import NavtmsError
from navtms.cli import main
from navtms.threshold import load_thresholds, ml_measurement, record_threshold, threshold_on
from therapy.mep_sim import Subject
from therapy.threshold_ml import HuntSettings, run_hunt


@pytest.fixture
def plan(sphere_plan, tmp_path):  # noqa: F811
    d = tmp_path / "plan"
    shutil.copytree(sphere_plan[0], d)
    return d


def test_ml_measurement_round_trips_and_is_the_latest(plan):
    subj = Subject(47.3, 1e-3, 0.0, 0.0)            # deterministic: yes above 47.3, no below
    rng = np.random.default_rng(0)
    r = run_hunt(lambda x: subj.pulse(x, rng))
    record_threshold(plan, ml_measurement("2026-11-02", r.intensities, r.responses))
    ms = load_thresholds(plan)
    assert len(ms) == 1 and ms[0].method == "ml-pest"
    assert abs(ms[0].threshold_pct - 47.3) <= 1.0
    assert ms[0].ml_result().ci_pct[0] <= ms[0].threshold_pct <= ms[0].ml_result().ci_pct[1]
    raw = json.loads((plan / "threshold.json").read_text())["measurements"][0]
    assert raw["rule"]["kind"] == "ml-pest" and len(raw["trials"]) == r.pulses
    assert threshold_on(ms, "2026-11-03") is ms[0]
    with pytest.raises(NavtmsError):
        ml_measurement("2026-11-02", [40, 41], [True])


def test_interactive_hunt_finds_a_known_threshold(plan, monkeypatch, capsys):
    subj = Subject(55.6, 1e-3, 0.0, 0.0)
    asked = []

    def answer(prompt):
        x = float(prompt.split("set ")[1].split("%")[0])
        asked.append(x)
        return "y" if x > subj.threshold_pct else "n"
    monkeypatch.setattr("builtins.input", answer)
    assert main(["threshold", str(plan), "--method", "ml", "--hunt", "--date", "2026-11-05"]) == 0
    out = capsys.readouterr().out
    assert "ML threshold hunt" in out and len(asked) <= 20 and asked[0] == 45.0
    m = load_thresholds(plan)[-1]
    assert abs(m.threshold_pct - 55.6) <= 1.0


def test_quitting_the_hunt_records_nothing(plan, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt: "q")
    assert main(["threshold", str(plan), "--method", "ml", "--hunt"]) == 2
    assert "stopped by the operator" in capsys.readouterr().err
    assert not (plan / "threshold.json").exists()


def test_next_prints_the_next_intensity(plan, capsys):
    assert main(["threshold", str(plan), "--method", "ml", "--next"]) == 0
    assert "next: 45% MSO (pulse 1)" in capsys.readouterr().out
    assert main(["threshold", str(plan), "--method", "ml", "--next", "--trial", "45:y"]) == 0
    nxt = float(capsys.readouterr().out.split("next: ")[1].split("%")[0])
    assert nxt < 45
    assert not (plan / "threshold.json").exists()


def test_ml_options_need_the_ml_method(plan, capsys):
    assert main(["threshold", str(plan), "--hunt"]) == 2
    assert "--method ml" in capsys.readouterr().err


def _session_with_pulses(folder, times_ns):
    from navigation.csvlog import CsvLog
    from navigation.pulses import PULSE_COLUMNS
    from tracking.poselog import format_time_ns

    folder.mkdir()
    log = CsvLog(folder / "pulses.csv", "pulse", PULSE_COLUMNS)
    for i, t in enumerate(times_ns):
        log.write({"pulse": i + 1, "time_s": format_time_ns(t), "trigger": "key", "fired": 1, "target": "m1-hand"})
    log.close()


def test_hunt_from_an_emg_file_matched_by_pulse_time(plan, tmp_path, capsys):
    """The operator followed the hunt; the EMG file holds the MEPs: intensities are replayed."""
    subj = Subject(51.2, 1.5, 0.02, 0.02)
    rng = np.random.default_rng(4)
    meps = []

    def respond(x):
        r = subj.pulse(x, rng)
        meps.append(subj.mep_uv(r, rng))
        return r
    hunt = run_hunt(respond, HuntSettings())
    times = [int(10e9) + i * int(4.2e9) for i in range(hunt.pulses)]
    _session_with_pulses(tmp_path / "sess", times)
    emg = tmp_path / "emg.csv"
    emg.write_text("time_s,p2p_uv\n" + "".join(f"{(t + 2_000_000) / 1e9:.6f},{m:.1f}\n" for t, m in zip(times, meps)))
    assert main(["threshold", str(plan), "--method", "ml", "--emg", str(emg), "--session", str(tmp_path / "sess"),
                 "--date", "2026-11-06"]) == 0
    m = load_thresholds(plan)[-1]
    assert [t.intensity_pct for t in m.trials] == list(hunt.intensities)
    assert m.threshold_pct == pytest.approx(hunt.threshold_pct, abs=0.05)
    assert abs(m.threshold_pct - 51.2) <= 3.0
    assert all(t.mep_uv is not None for t in m.trials)
    # an EMG file from another session: a pulse has no EMG row, nothing is written
    before = (plan / "threshold.json").read_bytes()
    emg.write_text("time_s,p2p_uv\n1.0,100\n")
    assert main(["threshold", str(plan), "--method", "ml", "--emg", str(emg), "--session", str(tmp_path / "sess")]) == 2
    assert "no EMG row" in capsys.readouterr().err
    assert (plan / "threshold.json").read_bytes() == before
