"""Planned against delivered, per session and per day, for a course whose sessions recorded
their protocol (navtms protocol; navtms.session_protocol.Protocol and its treatment record).

Planned, per session: the protocol record's pulses per session (else the flat pulses_planned).
Planned, per day: the record's sessions per day and the gap between sessions (minutes, end of
one session to the start of the next); the course: its days and sessions (taper included).
Delivered: fired pulses to the course target; sessions held that day; the gap from the last
fired pulse of one session to the first of the next on the same day, from the pulse logs'
clock (monotonic, of the navigating machine: valid between sessions of one day on one machine;
a gap that comes out negative, a clock restart, is reported unknown). A gap is kept when it is
at least the planned gap less `gap_tolerance_min` (2 min).
"""
from __future__ import annotations

from collections import Counter
from typing import Optional

from navtms.course import Course, SessionSummary

GAP_TOLERANCE_MIN = 2.0


def _planned(s: SessionSummary):
    """(protocol name, pulses per session, sessions per day, gap min, treatment record or None)."""
    if s.protocol is None:
        return None, None, None, None, None
    rec = s.protocol.treatment
    if rec is None:
        return None, s.protocol.pulses_planned, None, None, None
    p = rec.protocol
    return p.name, p.pulses_per_session, p.schedule.sessions_per_day, p.schedule.gap_min, rec


def planned_vs_delivered(course: Course, gap_tolerance_min: float = GAP_TOLERANCE_MIN) -> dict:
    """{"sessions": [...], "days": {date: {...}}, "course": {...}} (see the module docstring)."""
    sessions = []
    prev: Optional[SessionSummary] = None
    for s in course.sessions:
        name, pulses, per_day, gap_plan, rec = _planned(s)
        gap = None
        if prev is not None and prev.date == s.date and prev.last_pulse_ns is not None and s.first_pulse_ns is not None:
            g = (s.first_pulse_ns - prev.last_pulse_ns) / 60e9
            gap = g if g >= 0 else None
        kept = None
        if gap is not None and gap_plan:
            kept = bool(gap >= gap_plan - gap_tolerance_min)
        sessions.append({"name": s.name, "date": s.date, "protocol": name, "pulses_planned": pulses,
                         "pulses_fired": s.fired, "complete": None if pulses is None else bool(s.fired >= pulses),
                         "gap_before_min": gap, "gap_planned_min": gap_plan if prev is not None and prev.date == s.date else None,
                         "gap_kept": kept, "mt_pct_mso": None if rec is None else rec.mt_pct_mso,
                         "output_pct_mso": None if rec is None else rec.output_pct_mso,
                         "override": None if rec is None or rec.protocol.override is None else rec.protocol.override.reason,
                         "flags": [] if rec is None else list(rec.flags)})
        prev = s
    days: dict[str, dict] = {}
    for row in sessions:
        d = days.setdefault(row["date"], {"sessions_delivered": 0, "sessions_planned": None, "pulses_planned": 0,
                                          "pulses_fired": 0, "gaps_kept": 0, "gaps_checked": 0, "gaps_short": 0})
        d["sessions_delivered"] += 1
        d["pulses_fired"] += row["pulses_fired"]
        d["pulses_planned"] += row["pulses_planned"] or 0
        if row["gap_kept"] is not None:
            d["gaps_checked"] += 1
            d["gaps_kept"] += row["gap_kept"]
            d["gaps_short"] += not row["gap_kept"]
    for date, d in days.items():
        per_day = [(_planned(s)[2]) for s in course.sessions if s.date == date]
        known = [p for p in per_day if p]
        d["sessions_planned"] = Counter(known).most_common(1)[0][0] if known else None
        d["pulses_planned_day"] = (d["sessions_planned"] * (d["pulses_planned"] / max(1, d["sessions_delivered"]))
                                   if d["sessions_planned"] else d["pulses_planned"])
    recs = [_planned(s)[4] for s in course.sessions]
    recs = [r for r in recs if r is not None]
    course_fig = {"protocols": sorted({r.protocol.name for r in recs}),
                  "days_delivered": len(days), "sessions_delivered": len(sessions),
                  "pulses_fired": sum(r["pulses_fired"] for r in sessions)}
    if recs:
        sch = recs[-1].protocol.schedule
        course_fig.update({"days_planned": sch.days, "sessions_planned": sch.sessions,
                           "pulses_planned": recs[-1].protocol.pulses_per_course})
    return {"sessions": sessions, "days": days, "course": course_fig, "gap_tolerance_min": gap_tolerance_min}


def _f(v, nd=0) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def day_rows(pvd: dict) -> tuple[list[str], list[list[str]]]:
    head = ["day", "sessions\ndelivered / planned", "pulses\nfired / planned", "gaps kept\n(of checked)"]
    rows = [[d, f"{x['sessions_delivered']} / {_f(x['sessions_planned'])}",
             f"{x['pulses_fired']} / {_f(x['pulses_planned_day'])}",
             f"{x['gaps_kept']} / {x['gaps_checked']}" if x["gaps_checked"] else "-"]
            for d, x in pvd["days"].items()]
    return head, rows


def session_rows(pvd: dict) -> tuple[list[str], list[list[str]]]:
    head = ["date", "session", "protocol", "pulses\nfired / planned", "gap min\ndelivered / planned",
            "MT used\n% MSO", "output\n% MSO", "override / flags"]
    rows = []
    for r in pvd["sessions"]:
        gap = "-" if r["gap_before_min"] is None else (
            f"{r['gap_before_min']:.0f} / {_f(r['gap_planned_min'])}" + ("" if r["gap_kept"] in (None, True) else " SHORT"))
        notes = ([f"override: {r['override']}"] if r["override"] else []) + r["flags"]
        rows.append([r["date"], r["name"], r["protocol"] or "-", f"{r['pulses_fired']} / {_f(r['pulses_planned'])}",
                     gap, _f(r["mt_pct_mso"], 1), _f(r["output_pct_mso"]), "; ".join(notes) or "-"])
    return head, rows


def course_line(pvd: dict) -> str:
    c = pvd["course"]
    if "sessions_planned" not in c:
        return (f"{c['sessions_delivered']} sessions on {c['days_delivered']} days, {c['pulses_fired']} pulses "
                "(no protocol record: nothing planned to compare)")
    return (f"{', '.join(c['protocols'])}: {c['sessions_delivered']} of {c['sessions_planned']} sessions, "
            f"{c['days_delivered']} of {c['days_planned']} days, {c['pulses_fired']} of {c['pulses_planned']} pulses")
