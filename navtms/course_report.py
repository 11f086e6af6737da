"""Printable course and session reports: A4 report pages (PNG per page + one PDF) and
self-contained HTML (PNG plots embedded as base64), all with matplotlib's Agg backend (plots
in navtms.course_plots).

Units: mm and deg as in navtms.course; positions are drawn in the planned coil frame of the
course target (x, y: the scalp tangent plane at the planned coil, y along the handle).
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_bytes, atomic_write_text, write_json
from navtms.course import Course, SessionSummary, delivery_figures
from navtms.course_plan import course_line, planned_vs_delivered
from navtms.course_plan import day_rows as pvd_day_rows
from navtms.course_plan import session_rows as pvd_session_rows
from navtms.course_plots import _plt, _save, draw_errors_per_day, draw_positions
from navtms.course_plots import draw_response_map, response_map_png  # noqa: F401 (re-exported)

A4_IN = (8.27, 11.69)


def _fmt(v, nd=1, unit="") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}{unit}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


# ----------------------------------------------------------------------------- tables
def day_table(course: Course) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one per day (pulses, on-target, distance and angle errors, offset of
    the day's mean centre from the course mean)."""
    head = ["day", "sessions", "pulses\nfired", "with\npose", "on\ntarget", "dist. mm\nmed / p95",
            "tilt deg\nmed / p95", "|twist| deg\nmed / p95", "day mean\nto course mean"]
    rep = course.repositioning
    posed = [s for s in course.sessions if s.with_pose]
    dmean = {s.name: d for s, d in zip(posed, rep.distance_from_mean_mm)}
    rows = []
    for d, f in course.per_day.items():
        names = f["sessions"]
        dm = [dmean[n] for n in names if n in dmean]
        rows.append([d, str(len(names)), str(f["fired"]), str(f["with_pose"]), _pct(f["on_target_fraction"]),
                     f"{_fmt(f['distance_mm']['median'])} / {_fmt(f['distance_mm']['p95'])}",
                     f"{_fmt(f['tilt_deg']['median'])} / {_fmt(f['tilt_deg']['p95'])}",
                     f"{_fmt(f['abs_twist_deg']['median'])} / {_fmt(f['abs_twist_deg']['p95'])}",
                     _fmt(float(np.mean(dm)) if dm else None, 2, " mm")])
    return head, rows


def session_table(course: Course) -> tuple[list[str], list[list[str]]]:
    head = ["date", "session", "protocol", "FRE mm", "pulses", "on target", "dist. med/p95 mm"]
    rows = []
    for s in course.sessions:
        f = delivery_figures([s])
        rows.append([s.date, s.name, s.protocol.describe() if s.protocol else "not recorded", _fmt(s.fre_mm, 2),
                     f"{s.fired}/{s.requested}", _pct(f["on_target_fraction"]),
                     f"{_fmt(f['distance_mm']['median'])} / {_fmt(f['distance_mm']['p95'])}"])
    return head, rows


def header_lines(course: Course) -> list[tuple[str, str]]:
    """(label, value) pairs for the report head."""
    dates = [s.date for s in course.sessions]
    thr = course.thresholds
    thr_txt = "; ".join(f"{m.threshold_pct:g}% MSO ({m.date}, {m.method})" if m.threshold_pct is not None
                        else f"not reached ({m.date})" for m in thr) or "not recorded"
    protos = sorted({s.protocol.describe(pulses=False) for s in course.sessions if s.protocol})
    planned = sorted({s.protocol.pulses_planned for s in course.sessions if s.protocol and s.protocol.pulses_planned})
    if planned:
        protos.append(f"{planned[0]}" + (f"-{planned[-1]}" if planned[-1] != planned[0] else "") + " pulses per session")
    total = sum(s.fired for s in course.sessions)
    hs = course.hotspot
    hs_txt = "not recorded"
    if hs:
        st = {s.get("name"): s for s in hs.get("site_stats", []) if isinstance(s, dict)}.get(hs["hotspot"], {})
        mean = st.get("mean")
        hs_txt = (f"grid site {hs['hotspot']} ({'largest mean response' if hs.get('method') == 'max-mean' else 'picked by the operator'}"
                  + (f", mean {mean:.0f} {hs.get('unit', 'uV')}" if isinstance(mean, (int, float)) else "")
                  + f"), {str(hs.get('created_utc', ''))[:10]}")
    return [("Patient / plan", f"{course.patient}   (plan folder: {course.plan_name})"),
            ("Target", course.target),
            ("Dates", f"{dates[0]} to {dates[-1]}, {len(set(dates))} days, {len(dates)} sessions" if dates else "-"),
            ("Protocol", "; ".join(protos) or "not recorded"),
            ("Motor hotspot", hs_txt),
            ("Protocol record", _record_line(course)),
            ("Motor threshold", thr_txt),
            ("Pulses delivered", f"{total} fired ({sum(s.with_pose for s in course.sessions)} with a tracked coil pose)")]


def _record_line(course: Course) -> str:
    """Library protocols used (with the first source), depth adjustment and safety overrides."""
    recs = [s.protocol.treatment for s in course.sessions if s.protocol and s.protocol.record]
    if not recs:
        return "none (figures entered by hand)"
    names = {}
    for r in recs:
        names.setdefault(r.protocol.name, r.protocol)
    parts = list(names)
    dep = [r.depth for r in recs if r.depth]
    if dep:
        d = dep[-1]
        parts.append(f"depth-adjusted (target {d['d_target_mm']:.1f} mm, M1 {d['d_m1_mm']:.1f} mm, "
                     f"{d['k_pct_per_mm']:g} %/mm)")
    over = sum(r.protocol.override is not None for r in recs)
    if over:
        parts.append(f"SAFETY OVERRIDE in {over} session(s)")
    return "; ".join(parts)


def repositioning_lines(course: Course) -> list[str]:
    r = course.repositioning
    return [f"Session mean coil centre vs course mean: RMS {_fmt(r.rms_mm, 2)} mm, "
            f"largest day-to-day difference {_fmt(r.max_pairwise_mm, 2)} mm.",
            f"Session mean coil orientation vs course mean: RMS {_fmt(r.rms_deg, 2)} deg, "
            f"largest day-to-day difference {_fmt(r.max_pairwise_deg, 2)} deg."]


# ----------------------------------------------------------------------------- one report page
DAY_ROWS_PAGE1 = 10     # day rows on the first page; more go to the following pages
SESSION_ROWS_PAGE1 = 8  # the sessions table is on page 1 only when it is this short
ROWS_PER_PAGE = 44      # table rows on a continuation page
PVD_SESSION_COLS = [0.1, 0.11, 0.13, 0.11, 0.14, 0.07, 0.07, 0.27]
DAY_COLS = [0.11, 0.08, 0.08, 0.07, 0.07, 0.14, 0.14, 0.15, 0.14]
SESSION_COLS = [0.1, 0.14, 0.3, 0.08, 0.09, 0.09, 0.14]
ROW_IN = 0.17           # table row height (inches)


def _table(ax, head, rows, fontsize=6.5, col_widths=None):
    """A table filling the axes exactly (header row 1.7 rows high), so it never spills over."""
    ax.axis("off")
    if not rows:
        ax.text(0, 0.5, "no sessions", fontsize=fontsize)
        return
    t = ax.table(cellText=rows, colLabels=head, cellLoc="center", colWidths=col_widths, bbox=[0, 0, 1, 1])
    t.auto_set_font_size(False)
    t.set_fontsize(fontsize)
    h = 1.0 / (len(rows) + 1.7)
    for (r, _), cell in t.get_celld().items():
        cell.set_linewidth(0.3)
        cell.set_height(1.7 * h if r == 0 else h)
        if r == 0:
            cell.set_facecolor("#e8e8e8")


def _footer(fig, page: int, pages: int) -> None:
    fig.text(0.08, 0.015, f"navtms course report, made {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. "
             "Errors are those of the tracked coil against the plan; they do not include registration error "
             "(see FRE per session).", fontsize=5.5, color="0.35")
    fig.text(0.96, 0.015, f"page {page} of {pages}", fontsize=6, color="0.35", ha="right")


def _chunks(rows, n):
    return [rows[i:i + n] for i in range(0, len(rows), n)]


def report_figures(course: Course) -> list:
    """The course report as A4 matplotlib figures: page 1 (head, delivery per day, repositioning,
    sessions when few, plots), then pages continuing the tables of a long course."""
    plt = _plt()
    from matplotlib.gridspec import GridSpec

    dhead, drows = day_table(course)
    shead, srows = session_table(course)
    d1, drest = drows[:DAY_ROWS_PAGE1], drows[DAY_ROWS_PAGE1:]
    s_on_1 = len(srows) <= SESSION_ROWS_PAGE1 and not drest
    fig = plt.figure(figsize=A4_IN)
    ratios = [1.4, (len(d1) + 1.7) * ROW_IN, 0.42] + ([(len(srows) + 1.7) * ROW_IN] if s_on_1 else [])
    plots_h = max(A4_IN[1] - 1.9 - sum(ratios) - 0.8, 3.0)
    ratios += [plots_h / 2, plots_h / 2]
    n = len(ratios)
    gs = GridSpec(n, 2, figure=fig, height_ratios=ratios, hspace=0.75, wspace=0.3,
                  left=0.08, right=0.96, top=0.95, bottom=0.075)
    fig.suptitle("TMS treatment course - neuronavigation report", fontsize=13, fontweight="bold", x=0.08, ha="left")
    ax = fig.add_subplot(gs[0, :])
    ax.axis("off")
    lines = header_lines(course)
    for i, (k, v) in enumerate(lines):
        ax.text(0.0, 1 - i / len(lines), k, fontsize=8, fontweight="bold", va="top")
        ax.text(0.22, 1 - i / len(lines), v, fontsize=8, va="top")
    ax = fig.add_subplot(gs[1, :])
    _table(ax, dhead, d1, col_widths=DAY_COLS)
    more = f" (days 1-{len(d1)} of {len(drows)}; continued on page 2)" if drest else ""
    ax.set_title("Delivery per day (errors of the coil at each pulse vs the planned coil)" + more, fontsize=9,
                 loc="left")
    ax = fig.add_subplot(gs[2, :])
    ax.axis("off")
    ax.set_title("Repositioning (day-to-day spread of the delivered coil)", fontsize=9, loc="left")
    for i, line in enumerate(repositioning_lines(course)):
        ax.text(0.0, 0.75 - i * 0.4, line, fontsize=8, va="top")
    if s_on_1:
        ax = fig.add_subplot(gs[3, :])
        _table(ax, shead, srows, fontsize=6, col_widths=SESSION_COLS)
        ax.set_title("Sessions", fontsize=9, loc="left")
    draw_errors_per_day(fig.add_subplot(gs[n - 2, 0]), fig.add_subplot(gs[n - 1, 0]), course)
    draw_positions(fig.add_subplot(gs[n - 2:, 1]), course)
    figs = [fig]
    blocks = [("Delivery per day (continued)", dhead, c, DAY_COLS, 6.5) for c in _chunks(drest, ROWS_PER_PAGE)]
    if not s_on_1:
        blocks += [("Sessions", shead, c, SESSION_COLS, 6) for c in _chunks(srows, ROWS_PER_PAGE)]
    if any(s.protocol is not None and s.protocol.record is not None for s in course.sessions):
        pvd = planned_vs_delivered(course)     # pages only when a protocol record says what was planned
        ph, pr = pvd_day_rows(pvd)
        blocks += [(f"Planned against delivered per day: {course_line(pvd)}", ph, c, None, 7)
                   for c in _chunks(pr, ROWS_PER_PAGE)]
        blocks += [("Planned against delivered per session", pvd_session_rows(pvd)[0], c, PVD_SESSION_COLS, 6)
                   for c in _chunks(pvd_session_rows(pvd)[1], ROWS_PER_PAGE)]
    for title, head, rows, cols, fs in blocks:
        f = plt.figure(figsize=A4_IN)
        h = (len(rows) + 1.7) * ROW_IN / A4_IN[1]
        ax = f.add_axes([0.08, 0.93 - h, 0.88, h])
        _table(ax, head, rows, fontsize=fs, col_widths=cols)
        ax.set_title(f"{title} - {course.patient}", fontsize=9, loc="left")
        figs.append(f)
    for i, f in enumerate(figs):
        _footer(f, i + 1, len(figs))
    return figs


def report_page(course: Course, png_path: str | Path, pdf_path: Optional[str | Path] = None, dpi: int = 110) -> Path:
    """The course report: page 1 as a PNG (further pages as <stem>_<k>.png) and, when asked, all
    pages in one PDF. Returns the page-1 PNG path."""
    import io

    from matplotlib.backends.backend_pdf import PdfPages

    plt = _plt()
    png_path = Path(png_path)
    figs = report_figures(course)
    pdf_buf = io.BytesIO()
    with PdfPages(pdf_buf) as pdf:
        for k, f in enumerate(figs):
            buf = io.BytesIO()
            f.savefig(buf, format="png", dpi=dpi)
            name = png_path if k == 0 else png_path.with_name(f"{png_path.stem}_{k + 1}{png_path.suffix}")
            atomic_write_bytes(name, buf.getvalue())
            if pdf_path is not None:
                pdf.savefig(f)
            plt.close(f)
    if pdf_path is not None:
        atomic_write_bytes(pdf_path, pdf_buf.getvalue())
    return png_path


# ----------------------------------------------------------------------------- HTML
CSS = ("body{font-family:sans-serif;max-width:190mm;margin:auto;font-size:10pt}"
       "table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #999;padding:2px 6px;text-align:center}"
       "th{background:#eee}img{max-width:100%}dt{font-weight:bold;float:left;width:11em}dd{margin-left:11em}"
       "@media print{h2{page-break-before:auto}img{page-break-inside:avoid}}")


def _html_table(head, rows) -> str:
    h = "".join(f"<th>{html.escape(c).replace(chr(10), '<br>')}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{b}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fig_png(draw, size) -> bytes:
    import io

    plt = _plt()
    fig = plt.figure(figsize=size)
    draw(fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def course_html(course: Course) -> str:
    """The course report as one self-contained HTML page (plots embedded)."""
    def errs(fig):
        a, b = fig.subplots(2, 1, sharex=True)
        draw_errors_per_day(a, b, course)

    def pos(fig):
        draw_positions(fig.add_subplot(111), course)

    head = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in header_lines(course))
    pvd = planned_vs_delivered(course)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>TMS course report - "
            f"{html.escape(course.patient)}</title><style>{CSS}</style></head><body>"
            "<h1>TMS treatment course - neuronavigation report</h1>"
            f"<dl>{head}</dl><h2>Delivery per day</h2>{_html_table(*day_table(course))}"
            "<h2>Repositioning</h2>" + "".join(f"<p>{html.escape(x)}</p>" for x in repositioning_lines(course)) +
            f"<h2>Sessions</h2>{_html_table(*session_table(course))}"
            f"<h2>Planned against delivered</h2><p>{html.escape(course_line(pvd))}</p>"
            f"{_html_table(*pvd_day_rows(pvd))}{_html_table(*pvd_session_rows(pvd))}"
            f"<h2>Plots</h2>{_img(_fig_png(errs, (7, 5)), 'errors per day')}"
            f"{_img(_fig_png(pos, (6, 6)), 'delivered coil centres')}"
            f"<p style='color:#666;font-size:8pt'>navtms course report, made "
            f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.</p></body></html>")


def session_html(course: Course, s: SessionSummary) -> str:
    """One session's report (a course restricted to that session, same layout)."""
    one = Course(course.plan_dir, course.plan_name, course.patient, course.target, [s], course.thresholds,
                 course.repositioning, {s.date: {"sessions": [s.name], **delivery_figures([s])}}, course.hotspot)
    text = course_html(one).replace("TMS treatment course - neuronavigation report",
                                    f"TMS session {html.escape(s.name)} ({s.date}) - neuronavigation report")
    return text.replace("<h2>Repositioning</h2>", "<h2>Repositioning (whole course, for reference)</h2>")


def write_course_report(course: Course, out_dir: str | Path) -> dict:
    """Write into out_dir (new or empty): course.json, course.html, course_page.png (page 1;
    a long course adds course_page_2.png ...), course_page.pdf (all pages), errors_per_day.png,
    positions.png, session_<name>.html. Returns {kind: file name}."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputFileError(out, "the report folder already exists and is not empty; reports are never overwritten")
    if not out.parent.is_dir():
        raise InputFileError(out, "the report folder's parent does not exist")
    out.mkdir(exist_ok=True)
    plt = _plt()
    files = {}
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    draw_errors_per_day(a, b, course)
    fig.tight_layout()
    files["errors_per_day"] = _save(fig, out / "errors_per_day.png").name
    fig, ax = plt.subplots(figsize=(6, 6))
    draw_positions(ax, course)
    fig.tight_layout()
    files["positions"] = _save(fig, out / "positions.png").name
    files["page_png"] = report_page(course, out / "course_page.png", out / "course_page.pdf").name
    files["more_pages_png"] = sorted(p.name for p in out.glob("course_page_*.png"))
    files["page_pdf"] = "course_page.pdf"
    files["html"] = atomic_write_text(out / "course.html", course_html(course)).name
    files["sessions_html"] = [atomic_write_text(out / f"session_{s.name}.html", session_html(course, s)).name
                              for s in course.sessions]
    write_json(out / "course.json", {**course.to_json(), "planned_vs_delivered": planned_vs_delivered(course),
                                     "files": files})
    files["json"] = "course.json"
    return files
