"""Plots of the clinical course (matplotlib, Agg backend; no display needed): errors per day,
delivered coil centres in the target's tangent plane, the hotspot response map.

Units: mm and deg as in navtms.course. Positions are drawn in the planned coil frame of the
course target (x, y: the scalp tangent plane at the planned coil, y along the handle); the
response map in the hotspot grid's tangent plane (anterior up, lateral right), mm.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.fileio import atomic_write_bytes
from navcore.transforms import invert
from navtms.course import Course, SessionSummary

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt



def _offsets(s: SessionSummary) -> np.ndarray:
    """Delivered coil centres of a session in its planned coil frame (N, 3) mm."""
    T = invert(s.T_mri_from_plannedcoil)
    return s.centres_mri_mm @ T[:3, :3].T + T[:3, 3] if len(s.centres_mri_mm) else np.zeros((0, 3))


# ----------------------------------------------------------------------------- plots (on axes)
def draw_errors_per_day(ax_d, ax_a, course: Course) -> None:
    """Boxplots per day: distance (mm) on ax_d; tilt and |twist| (deg) on ax_a."""
    days = list(course.per_day)
    byday = {d: [s for s in course.sessions if s.date == d] for d in days}
    dist = [np.concatenate([s.distance_mm for s in byday[d]]) for d in days]
    tilt = [np.concatenate([s.tilt_deg for s in byday[d]]) for d in days]
    twist = [np.abs(np.concatenate([s.twist_deg for s in byday[d]])) for d in days]
    labels = [d[5:] if len(d) == 10 else d for d in days]
    pos = np.arange(1, len(days) + 1)
    kw = dict(widths=0.5, showfliers=True, flierprops={"markersize": 2})
    ax_d.boxplot([x if len(x) else [np.nan] for x in dist], positions=pos, **kw)
    tol = course.sessions[0].tolerances if course.sessions else {}
    top = max([float(np.nanmax(x)) for x in dist if len(x)] + [1.0])
    if tol.get("distance_mm") is not None:
        ax_d.axhline(tol["distance_mm"], color="g", ls="--", lw=0.8, label=f"tolerance {tol['distance_mm']:g} mm")
        top = max(top, tol["distance_mm"])
        ax_d.legend(fontsize=6, loc="upper left", ncol=2)
    ax_d.set_ylim(0, top * 1.35)
    ax_d.set_ylabel("distance (mm)", fontsize=8)
    ax_d.set_title("coil position error at each pulse, per day", fontsize=9)
    b1 = ax_a.boxplot([x if len(x) else [np.nan] for x in tilt], positions=pos - 0.18, widths=0.3,
                      patch_artist=True, showfliers=False)
    b2 = ax_a.boxplot([x if len(x) else [np.nan] for x in twist], positions=pos + 0.18, widths=0.3,
                      patch_artist=True, showfliers=False)
    for b, c in ((b1, "#9ecae1"), (b2, "#fdae6b")):
        for p in b["boxes"]:
            p.set_facecolor(c)
    ax_a.legend([b1["boxes"][0], b2["boxes"][0]], ["tilt", "|twist|"], fontsize=6, loc="upper left", ncol=2)
    atop = max([float(np.nanmax(x)) for x in tilt + twist if len(x)] + [1.0])
    ax_a.set_ylim(0, atop * 1.35)
    ax_a.set_ylabel("angle (deg)", fontsize=8)
    ax_a.set_title("coil angle error at each pulse, per day", fontsize=9)
    for ax in (ax_d, ax_a):
        ax.set_xticks(pos)
        ax.set_xticklabels(labels if (ax is ax_a or len(days) <= 8) else [], fontsize=7 if len(days) <= 8 else 5.5,
                           rotation=0 if len(days) <= 8 else 90)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", lw=0.3)
    ax_a.set_xlabel("day (month-day)", fontsize=8)


def draw_positions(ax, course: Course) -> None:
    """Delivered coil centres per session in the planned coil's x/y plane (mm): pulses as
    small dots, session means as large markers, the course mean as a cross."""
    plt = _plt()
    many = len(course.sessions) > 10      # a long course: colour by session order, no per-session legend
    cmap = plt.get_cmap("viridis" if many else "tab10")
    tol = course.sessions[0].tolerances.get("distance_mm", 3.0) if course.sessions else 3.0
    allxy = [np.zeros((1, 2))]
    for i, s in enumerate(course.sessions):
        o = _offsets(s)
        if not len(o):
            continue
        c = cmap(i / max(len(course.sessions) - 1, 1)) if many else cmap(i % 10)
        ax.scatter(o[:, 0], o[:, 1], s=4, color=c, alpha=0.35, lw=0)
        m = o.mean(axis=0)
        label = None if many else (s.date if s.date in s.name else f"{s.date} ({s.name})")
        ax.scatter([m[0]], [m[1]], s=40, color=c, edgecolor="k", lw=0.6, zorder=3, label=label)
        allxy.append(o[:, :2])
    if many:
        import matplotlib as mpl

        sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(1, len(course.sessions)))
        cb = plt.colorbar(sm, ax=ax, orientation="horizontal", shrink=0.7, pad=0.14, aspect=30)
        cb.set_label("session (in date order)", fontsize=7)
        cb.ax.tick_params(labelsize=6)
    rep = course.repositioning
    if len(rep.offsets_mm):
        cm = rep.offsets_mm.mean(axis=0)
        ax.scatter([cm[0]], [cm[1]], marker="x", s=60, color="k", zorder=4, label="course mean")
    ax.add_patch(plt.Circle((0, 0), tol, fill=False, ls="--", color="g", lw=0.8))
    ax.axhline(0, color="0.6", lw=0.4)
    ax.axvline(0, color="0.6", lw=0.4)
    lim = max(1.5 * tol, float(np.max(np.abs(np.concatenate(allxy)))) * 1.15)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("planned coil x (mm)", fontsize=8)
    ax.set_ylabel("planned coil y, handle (mm)", fontsize=8)
    ax.set_title("delivered coil centres (tangent plane at the target)", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=5.5, loc="upper left", framealpha=0.8)


def draw_response_map(ax, grid, stats, hotspot_index: Optional[int] = None, unit: str = "uV") -> None:
    """Grid sites in the tangent plane (anterior up, lateral right) coloured by mean response;
    the hotspot circled; sites without pulses hollow."""
    plt = _plt()
    u = np.array([s.u_mm for s in grid.sites])
    v = np.array([s.v_mm for s in grid.sites])
    m = np.asarray(stats.mean, dtype=float)
    ok = np.isfinite(m)
    sc = ax.scatter(v[ok], u[ok], c=m[ok], s=260, cmap="viridis", edgecolor="k", lw=0.5,
                    vmin=0, vmax=max(float(np.nanmax(m)) if ok.any() else 1.0, 1e-9))
    ax.scatter(v[~ok], u[~ok], s=260, facecolor="none", edgecolor="0.6", lw=0.8)
    for s, x, y, n in zip(grid.sites, v, u, stats.n):
        ax.text(x, y - 0.36 * grid.spacing_mm, f"{s.name[3:]} n={n}", ha="center", va="top", fontsize=5.5)
    if hotspot_index is not None:
        ax.scatter([v[hotspot_index]], [u[hotspot_index]], s=700, facecolor="none", edgecolor="r", lw=2,
                   label=f"hotspot {grid.sites[hotspot_index].name}")
        ax.legend(fontsize=7, loc="lower right", markerscale=0.3)
    plt.colorbar(sc, ax=ax, label=f"mean response ({unit})", shrink=0.8)
    pad = grid.spacing_mm
    ax.set_xlim(v.min() - pad, v.max() + pad)
    ax.set_ylim(u.min() - pad, u.max() + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("lateral (mm, tangent plane)")
    ax.set_ylabel("anterior (mm, tangent plane)")
    ax.set_title("hotspot search: mean response per grid site")


def response_map_png(path: str | Path, grid, stats, hotspot_index: Optional[int] = None, unit: str = "uV") -> Path:
    """The response map as a PNG (atomic)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    draw_response_map(ax, grid, stats, hotspot_index, unit)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    _plt().close(fig)
    return atomic_write_bytes(path, buf.getvalue())
