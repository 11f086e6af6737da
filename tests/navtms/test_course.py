"""navtms.course and navtms.course_report on a simulated five-day course (replayed through the
navigation loop): repositioning recovered, per-day counts, plan checks, reports (protocol files:
test_session_protocol.py)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from navcore.errors import InputFileError, SessionError
from navcore.transforms import make_transform, random_rigid
from navtms.course import find_sessions, load_course, pulses_file, repositioning
from navtms.session_protocol import Protocol, read_protocol, write_protocol
from navtms.course_sim import expected_repositioning
from course_helpers import course_root, simulated_course, sphere_plan  # noqa: F401 (fixtures)

_C = {}


@pytest.fixture()
def course(simulated_course):
    if "c" not in _C:
        _C["c"] = load_course(simulated_course[0])
    return _C["c"]


def test_repositioning_spread_matches_the_simulated_offsets(simulated_course, course):
    _plan, days, _dirs = simulated_course
    exp = expected_repositioning(days)
    rep = course.repositioning
    assert abs(rep.rms_mm - exp["rms_mm"]) < 0.3
    assert abs(rep.max_pairwise_mm - exp["max_pairwise_mm"]) < 0.3
    assert abs(rep.rms_deg - exp["rms_deg"]) < 0.3
    assert abs(rep.max_pairwise_deg - exp["max_pairwise_deg"]) < 0.3
    # each session's mean coil centre, in the planned coil frame, is that day's offset
    for off, day in zip(rep.offsets_mm, days):
        assert np.linalg.norm(off - np.array(day.offset_mm)) < 0.15


def test_per_day_pulse_counts_dates_and_errors(simulated_course, course):
    _plan, days, dirs = simulated_course
    assert list(course.per_day) == [d.date for d in days]
    assert [f["fired"] for f in course.per_day.values()] == [d.pulses for d in days]
    assert [f["with_pose"] for f in course.per_day.values()] == [d.pulses for d in days]
    assert course.target == "dlpfc" and course.patient == "SIM-001" and course.hotspot is None
    for f, d in zip(course.per_day.values(), days):
        # the pulses sit at the day's offset: median distance = |offset| (jitter 0.15 mm per axis)
        assert abs(f["distance_mm"]["median"] - np.linalg.norm(d.offset_mm)) < 0.25
        assert f["distance_mm"]["p95"] >= f["distance_mm"]["median"]
        tilt = np.degrees(np.linalg.norm(np.radians(d.rotvec_deg[:2])))
        assert abs(f["tilt_deg"]["median"] - tilt) < 0.3
        assert abs(f["abs_twist_deg"]["median"] - abs(d.rotvec_deg[2])) < 0.3
    assert all(s.protocol.intensity_pct_mso == 60.0 for s in course.sessions)   # 120 % of 50 % MSO


@settings(max_examples=25)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 7))
def test_repositioning_is_invariant_to_a_common_rigid_motion(seed, n):
    rng = np.random.default_rng(seed)
    c = rng.normal(0, 3, (n, 3)) + [10, 40, 60]
    R = Rotation.from_rotvec(rng.normal(0, 0.05, (n, 3)))
    T_plan = random_rigid(rng)
    a = repositioning(c, list(R), T_plan)
    G = random_rigid(rng)
    Rg = Rotation.from_matrix(G[:3, :3])
    b = repositioning(c @ G[:3, :3].T + G[:3, 3], [Rg * r for r in R], G @ T_plan)
    for k in ("rms_mm", "max_pairwise_mm", "rms_deg", "max_pairwise_deg"):
        assert abs(getattr(a, k) - getattr(b, k)) < 1e-6
    assert np.allclose(a.offsets_mm, b.offsets_mm, atol=1e-6)
    pair = max(np.linalg.norm(c[i] - c[j]) for i in range(n) for j in range(n))
    assert abs(a.max_pairwise_mm - pair) < 1e-9 and a.rms_mm <= a.max_pairwise_mm


def test_repositioning_known_values():
    r = repositioning([[0, 0, 0], [4, 0, 0]], [Rotation.identity(), Rotation.from_rotvec([0, 0, np.radians(6)])],
                      make_transform(np.eye(3), [1, 0, 0]))
    assert abs(r.rms_mm - 2.0) < 1e-12 and abs(r.max_pairwise_mm - 4.0) < 1e-12
    assert abs(r.rms_deg - 3.0) < 1e-6 and abs(r.max_pairwise_deg - 6.0) < 1e-6
    assert np.allclose(r.offsets_mm, [[-1, 0, 0], [3, 0, 0]])


def test_sessions_found_given_and_checked_against_the_plan(simulated_course, sphere_plan, tmp_path):
    plan_dir, days, dirs = simulated_course
    assert [p.resolve() for p in find_sessions(plan_dir)] == [p.resolve() for p in dirs]
    # a session kept elsewhere is added with --sessions (a folder of sessions, or one session), once
    other = tmp_path / "elsewhere"
    shutil.copytree(dirs[0], other / "extra_day")
    assert len(find_sessions(plan_dir, [other])) == 6 and len(find_sessions(plan_dir, [other / "extra_day", other])) == 6
    assert len(find_sessions(plan_dir, [dirs[1]])) == 5
    with pytest.raises(InputFileError, match="holds no session"):
        find_sessions(plan_dir, [tmp_path / "elsewhere" / "extra_day" / "recording"])
    with pytest.raises(InputFileError, match="does not exist"):
        find_sessions(plan_dir, [tmp_path / "nope"])
    # a session made with another plan is refused
    obj = json.loads((other / "extra_day" / "session.json").read_text())
    obj["plan"] = str(tmp_path / "another_plan")
    (other / "extra_day" / "session.json").write_text(json.dumps(obj))
    with pytest.raises(SessionError, match="made with the plan"):
        load_course(plan_dir, [other])
    # no sessions at all
    empty = tmp_path / "p2"
    shutil.copytree(plan_dir, empty, ignore=shutil.ignore_patterns("sessions"))
    with pytest.raises(SessionError, match="no session folders"):
        load_course(empty)


def test_pulses_come_from_the_session_or_its_replay(simulated_course, tmp_path):
    d = simulated_course[2][0]
    assert pulses_file(d) == d / "replay" / "pulses.csv"
    live = tmp_path / "live"                       # as navtms navigate leaves it: pulses.csv in the session
    shutil.copytree(d, live, ignore=shutil.ignore_patterns("replay"))
    assert pulses_file(live) is None
    shutil.copyfile(d / "replay" / "pulses.csv", live / "pulses.csv")
    assert pulses_file(live) == live / "pulses.csv"


@pytest.mark.slow
def test_course_report_files(course, tmp_path):
    from navtms.course_report import write_course_report

    files = write_course_report(course, tmp_path / "rep")
    out = tmp_path / "rep"
    html = (out / "course.html").read_text()
    assert "SIM-001" in html and "dlpfc" in html and html.count("data:image/png;base64,") == 2
    assert "src=\"http" not in html and "<script" not in html            # self-contained, printable
    assert f"{course.repositioning.rms_mm:.2f} mm" in html
    assert "2026-11-02" in html and "2026-11-06" in html
    assert len(files["sessions_html"]) == 5
    s1 = (out / files["sessions_html"][0]).read_text()
    assert "day1_2026-11-02" in s1 and "day2_2026-11-03" not in s1
    from PIL import Image

    w, h = Image.open(out / "course_page.png").size
    assert abs(h / w - 11.69 / 8.27) < 0.01                                # one A4 page
    assert (out / "course_page.pdf").read_bytes()[:5] == b"%PDF-"
    js = json.loads((out / "course.json").read_text())
    assert js["format_version"] == 1 and abs(js["repositioning"]["rms_mm"] - course.repositioning.rms_mm) < 1e-12
    assert [d["fired"] for d in js["per_day"].values()] == [f["fired"] for f in course.per_day.values()]
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(InputFileError, match="never overwritten"):
        write_course_report(course, out)
    assert sorted(p.name for p in out.iterdir()) == before


def test_two_sessions_on_one_day_and_a_session_without_pulses(simulated_course, tmp_path):
    from navtms.course_report import report_page
    from navtms.session import create_session

    plan_dir, days, dirs = simulated_course
    extra = tmp_path / "extra"
    shutil.copytree(dirs[0], extra / "day1_afternoon")
    sj = extra / "day1_afternoon" / "session.json"
    obj = json.loads(sj.read_text())
    assert obj["plan"] == "../.."                     # simulated sessions name their plan relatively
    obj["plan"] = str(plan_dir.resolve())
    sj.write_text(json.dumps(obj))
    p = read_protocol(extra / "day1_afternoon")
    write_protocol(extra / "day1_afternoon", Protocol(days[0].date, 10.0, 40, 120.0, 50.0, target="dlpfc",
                                                      patient="SIM-001"))
    from targets.plan import load_plan

    targets = load_plan(plan_dir, checksum="skip", load_surfaces=False).targets
    s = create_session(extra / "not_navigated", targets, plan=str(plan_dir.resolve()))
    write_protocol(s.folder, Protocol("2026-11-09", 10.0, 40, 120.0, 50.0, target="dlpfc"))
    c = load_course(plan_dir, [extra])
    assert p.date == days[0].date and len(c.sessions) == 7
    assert c.per_day[days[0].date]["fired"] == 2 * days[0].pulses
    assert c.per_day[days[0].date]["sessions"] == ["day1_2026-11-02", "day1_afternoon"]
    assert c.per_day["2026-11-09"]["fired"] == 0 and c.per_day["2026-11-09"]["distance_mm"]["median"] is None
    # the session without pulses does not enter the spread; the duplicate of day 1 does
    assert len(c.repositioning.centres_mri_mm) == 6
    png = report_page(c, tmp_path / "page.png")
    assert png.stat().st_size > 10_000
    one = load_course(plan_dir, [extra / "day1_afternoon"])
    assert len(one.sessions) == 6


@pytest.mark.slow
def test_a_long_course_report_runs_over_pages(course, tmp_path):
    import dataclasses
    import datetime as dt
    import re

    from navtms.course import Course, delivery_figures
    from navtms.course_report import report_page

    base = course.sessions
    sessions = [dataclasses.replace(base[k % len(base)], name=f"s{k:02d}",
                                    date=(dt.date(2026, 11, 2) + dt.timedelta(days=k)).isoformat())
                for k in range(25)]
    per_day = {s.date: {"sessions": [s.name], **delivery_figures([s])} for s in sessions}
    long = Course(course.plan_dir, course.plan_name, course.patient, course.target, sessions, course.thresholds,
                  course.repositioning, per_day)
    png = report_page(long, tmp_path / "p.png", tmp_path / "p.pdf")
    assert sorted(p.name for p in tmp_path.glob("p*.png")) == ["p.png", "p_2.png", "p_3.png"]
    assert png == tmp_path / "p.png"
    assert len(re.findall(rb"/Type\s*/Page[^s]", (tmp_path / "p.pdf").read_bytes())) == 3
