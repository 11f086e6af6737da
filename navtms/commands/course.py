"""`navtms course PLAN_DIR [--sessions DIR...] [--out REPORT_DIR]`: summarise a treatment course.

Reads every session of the plan (PLAN_DIR/sessions/* and --sessions folders), and writes a
report folder: course.json (figures), course.html and session_<name>.html (self-contained,
printable), course_page.png/.pdf (one A4 page), errors_per_day.png, positions.png.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

NAME = "course"
HELP = "summarise a treatment course: pulses and errors per day, day-to-day repositioning, printable report"
DESCRIPTION = (HELP + ". Sessions are the folders under PLAN_DIR/sessions/ and those given with --sessions "
               "(a session folder or a folder of session folders); each must name this plan.")


def add_arguments(p) -> None:
    p.add_argument("plan", help="plan folder (navtms plan)")
    p.add_argument("--sessions", nargs="+", default=[], metavar="DIR", help="more session folders (or folders of them)")
    p.add_argument("--out", help="report folder to create (default PLAN_DIR/reports/course_<time>)")
    p.add_argument("--target", help="course target (default: the target most pulses were aimed at)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def _fmt(v, nd=2) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def run(args) -> int:
    from navcore.fileio import to_jsonable
    from navtms.course import load_course
    from navtms.course_report import write_course_report

    course = load_course(args.plan, args.sessions, args.target)
    out = Path(args.out) if args.out else (Path(args.plan) / "reports" /
                                          f"course_{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    if not args.out:
        out.parent.mkdir(exist_ok=True)
    files = write_course_report(course, out)
    if args.json:
        from navtms.course_plan import planned_vs_delivered

        print(json.dumps(to_jsonable({**course.to_json(), "planned_vs_delivered": planned_vs_delivered(course),
                                      "report": str(out), "files": files}), indent=2))
        return 0
    print(f"course of {course.patient}: target {course.target}, {len(course.sessions)} sessions on "
          f"{len(course.per_day)} days")
    print(f"{'day':10s} {'pulses':>6s} {'on-target':>9s} {'dist med':>8s} {'dist p95':>8s} {'tilt med':>8s} "
          f"{'tilt p95':>8s} {'|twist| p95':>11s}")
    for d, f in course.per_day.items():
        ot = "n/a" if f["on_target_fraction"] is None else f"{100 * f['on_target_fraction']:.0f}%"
        print(f"{d:10s} {f['fired']:6d} {ot:>9s} {_fmt(f['distance_mm']['median']):>8s} "
              f"{_fmt(f['distance_mm']['p95']):>8s} {_fmt(f['tilt_deg']['median']):>8s} "
              f"{_fmt(f['tilt_deg']['p95']):>8s} {_fmt(f['abs_twist_deg']['p95']):>11s}")
    r = course.repositioning
    print(f"repositioning: coil centre RMS {_fmt(r.rms_mm)} mm from the course mean, max day-to-day "
          f"{_fmt(r.max_pairwise_mm)} mm; orientation RMS {_fmt(r.rms_deg)} deg, max day-to-day "
          f"{_fmt(r.max_pairwise_deg)} deg")
    from navtms.course_plan import course_line, planned_vs_delivered

    pvd = planned_vs_delivered(course)
    print(f"planned against delivered: {course_line(pvd)}")
    print(f"{'day':10s} {'sessions':>9s} {'pulses fired/planned':>21s} {'gaps kept':>9s}")
    for d, x in pvd["days"].items():
        sp = "-" if x["sessions_planned"] is None else str(x["sessions_planned"])
        pp = "-" if not x["pulses_planned_day"] else f"{x['pulses_planned_day']:.0f}"
        gk = f"{x['gaps_kept']}/{x['gaps_checked']}" if x["gaps_checked"] else "-"
        print(f"{d:10s} {str(x['sessions_delivered']) + '/' + sp:>9s} {str(x['pulses_fired']) + '/' + pp:>21s} {gk:>9s}")
    for r in pvd["sessions"]:
        if r["override"] or (r["gap_kept"] is False) or r["complete"] is False:
            why = ([f"override: {r['override']}"] if r["override"] else []) + (
                [f"gap {r['gap_before_min']:.0f} min < {r['gap_planned_min']:g} planned"] if r["gap_kept"] is False else []) + (
                [f"{r['pulses_fired']} of {r['pulses_planned']} pulses"] if r["complete"] is False else [])
            print(f"  {r['date']} {r['name']}: {'; '.join(why)}")
    print(f"report: {out / files['html']} (one page: {out / files['page_png']}, {out / files['page_pdf']})")
    return 0
