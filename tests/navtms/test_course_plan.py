"""Planned against delivered (navtms.course_plan) on a hand-built accelerated course whose
answer is known: sessions, pulses and gaps are written into the pulse logs on purpose."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace

import pytest

from course_helpers import course_root, sphere_plan  # noqa: F401 (fixtures)
from navtms.cli import main

MIN = 60 * 10**9


@pytest.fixture(scope="module")
def accelerated_course(sphere_plan, tmp_path_factory):  # noqa: F811
    """Day 1: 3 sessions planned, 3 held: gaps 52 min (kept) and 30 min (short), the third
    session 45 of 60 pulses. Day 2: 2 of 3 sessions, gap 49 min (kept within 2 min)."""
    from navigation.csvlog import CsvLog
    from navigation.pulses import PULSE_COLUMNS
    from navtms.session_protocol import Protocol, write_protocol
    from navtms.session import create_session
    from navtms.treatment import build_record
    from therapy.library import standard_protocols
    from therapy.protocol import MotorThresholdRef, Schedule, Trains
    from tracking.poselog import format_time_ns

    root = tmp_path_factory.mktemp("accel")
    plan_dir = root / "plan"
    shutil.copytree(sphere_plan[0], plan_dir)
    plan = sphere_plan[2]
    itbs = {p.name: p for p in standard_protocols()}["itbs-left-dlpfc"]
    proto = replace(itbs, name="acc-test", trains=Trains(2.0, 8.0, 2), schedule=Schedule(2, 3, 50.0))
    rec = build_record(proto, MotorThresholdRef(50.0, "test", "2026-11-01"))
    plan_sessions = [("2026-11-02", "a", 0, 60), ("2026-11-02", "b", 52, 60), ("2026-11-02", "c", 30, 45),
                     ("2026-11-03", "a", 0, 60), ("2026-11-03", "b", 49, 60)]
    t = 1000 * 10**9
    for date, name, gap_min, n in plan_sessions:
        folder = plan_dir / "sessions" / f"{date}_{name}"
        create_session(folder, [plan.target("dlpfc")], plan=os.path.relpath(plan_dir, folder))
        t += gap_min * MIN
        log = CsvLog(folder / "pulses.csv", "pulse", PULSE_COLUMNS)
        for k in range(n):
            log.write({"pulse": k + 1, "time_s": format_time_ns(t), "trigger": "protocol", "fired": 1,
                       "target": "dlpfc", "target_index": 0, "visible": 0})
            t += 10**8
        t -= 10**8
        log.close()
        write_protocol(folder, Protocol(date, 5.0, rec.protocol.pulses_per_session, 120.0, rec.mt_pct_mso,
                                        rec.output_pct_mso, target="dlpfc", record=rec.to_json()))
    return plan_dir


def test_planned_against_delivered_figures(accelerated_course):
    from navtms.course import load_course
    from navtms.course_plan import planned_vs_delivered

    pvd = planned_vs_delivered(load_course(accelerated_course))
    s = pvd["sessions"]
    assert [r["pulses_planned"] for r in s] == [60] * 5
    assert [r["complete"] for r in s] == [True, True, False, True, True]
    assert s[0]["gap_before_min"] is None and s[3]["gap_before_min"] is None       # first of each day
    assert s[1]["gap_before_min"] == pytest.approx(52, abs=0.01) and s[1]["gap_kept"] is True
    assert s[2]["gap_before_min"] == pytest.approx(30, abs=0.01) and s[2]["gap_kept"] is False
    assert s[4]["gap_before_min"] == pytest.approx(49, abs=0.01) and s[4]["gap_kept"] is True
    d1, d2 = pvd["days"]["2026-11-02"], pvd["days"]["2026-11-03"]
    assert (d1["sessions_delivered"], d1["sessions_planned"], d1["pulses_fired"]) == (3, 3, 165)
    assert (d1["gaps_kept"], d1["gaps_short"]) == (1, 1)
    assert (d2["sessions_delivered"], d2["sessions_planned"], d2["pulses_planned_day"]) == (2, 3, 180)
    c = pvd["course"]
    assert (c["sessions_planned"], c["sessions_delivered"], c["days_planned"], c["pulses_planned"]) == (6, 5, 2, 360)
    assert c["pulses_fired"] == 285


@pytest.mark.slow
def test_course_command_and_report_show_it(accelerated_course, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["course", str(accelerated_course), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "acc-test: 5 of 6 sessions, 2 of 2 days, 285 of 360 pulses" in text
    assert "gap 30 min < 50 planned" in text and "45 of 60 pulses" in text
    html = (out / "course.html").read_text()
    assert "Planned against delivered" in html and "30 / 50 SHORT" in html
    j = json.loads((out / "course.json").read_text())
    assert j["planned_vs_delivered"]["days"]["2026-11-02"]["gaps_short"] == 1
    assert (out / "course_page.pdf").stat().st_size > 0
