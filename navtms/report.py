"""Figures and plots of a navigation run, from its logs (frames.csv, pulses.csv, timing.csv).

summarize(...) -> dict of figures (mm, deg, s, us); plot_errors / plot_bullseye write PNGs with
matplotlib's Agg backend (no display needed).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from navigation.csvlog import column


def _stats(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    return {"n": int(len(x)), "median": float(np.median(x)), "p95": float(np.percentile(x, 95)),
            "min": float(np.min(x)), "max": float(np.max(x))}


def _flag(rows, name) -> np.ndarray:
    return np.array([r[name] == "1" for r in rows], dtype=bool)


def _times_s(rows) -> np.ndarray:
    from tracking.poselog import parse_time_ns

    ns = np.array([parse_time_ns(r["time_s"]) for r in rows], dtype=np.int64)
    return (ns - ns[0]) / 1e9 if len(ns) else np.zeros(0)


def summarize(frame_rows: Sequence[dict], pulse_rows: Sequence[dict], timing_rows: Sequence[dict] = ()) -> dict:
    """Figures of one run: frames seen, visibility, on-target share, error statistics,
    pulses (fired, refused, visible, on target, errors), latency percentiles."""
    n = len(frame_rows)
    vis = _flag(frame_rows, "visible") if n else np.zeros(0, bool)
    on = _flag(frame_rows, "on_target") if n else np.zeros(0, bool)
    t = _times_s(frame_rows)
    out: dict = {"frames": n, "frames_visible": int(vis.sum()),
                 "visible_fraction": float(vis.mean()) if n else None,
                 "on_target_fraction_of_visible": float(on[vis].mean()) if vis.any() else None,
                 "duration_s": float(t[-1]) if n else 0.0,
                 "time_to_first_on_target_s": float(t[np.argmax(on)]) if on.any() else None}
    for name in ("distance_mm", "tilt_deg", "twist_deg", "axis_miss_mm", "depth_mm"):
        out[name] = _stats(column(frame_rows, name)) if n else _stats(np.zeros(0))
    if vis.any():
        last = frame_rows[int(np.nonzero(vis)[0][-1])]
        out["last_visible"] = {"frame": int(last["frame"]), "distance_mm": float(last["distance_mm"]),
                               "tilt_deg": float(last["tilt_deg"]), "twist_deg": float(last["twist_deg"])}
    p = list(pulse_rows)
    fired = [r for r in p if r["fired"] == "1"]
    out["pulses"] = {
        "requested": len(p), "fired": len(fired), "refused": len(p) - len(fired),
        "visible": sum(r["visible"] == "1" for r in fired),
        "on_target": sum(r["on_target"] == "1" for r in fired),
        "within_tolerance": sum(r["within_tolerance"] == "1" for r in fired),
        "distance_mm": _stats(column(fired, "distance_mm")) if fired else _stats(np.zeros(0)),
        "tilt_deg": _stats(column(fired, "tilt_deg")) if fired else _stats(np.zeros(0)),
    }
    if timing_rows:
        lat = column(timing_rows, "latency_us")
        out["latency_us"] = {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
                             "max": float(np.max(lat))}
        out["dropped"] = int(sum(int(r["dropped_before"] or 0) for r in timing_rows))
    return out


def plot_errors(frame_rows: Sequence[dict], pulse_rows: Sequence[dict], path: str | Path,
                tolerance_mm: float = 3.0, tolerance_deg: float = 3.0) -> Path:
    """Distance (mm) and tilt/twist (deg) over time; not-visible frames as gaps; pulses as ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tracking.poselog import parse_time_ns

    t = _times_s(frame_rows)
    t0 = parse_time_ns(frame_rows[0]["time_s"]) if frame_rows else 0
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    a1.plot(t, column(frame_rows, "distance_mm"), lw=1, label="distance")
    a1.axhline(tolerance_mm, color="g", ls="--", lw=0.8, label=f"tolerance {tolerance_mm:g} mm")
    a1.set_ylabel("distance (mm)")
    a2.plot(t, column(frame_rows, "tilt_deg"), lw=1, label="tilt")
    a2.plot(t, column(frame_rows, "twist_deg"), lw=1, label="twist")
    a2.axhline(tolerance_deg, color="g", ls="--", lw=0.8)
    a2.set_ylabel("angle (deg)")
    a2.set_xlabel("time (s)")
    hidden = ~_flag(frame_rows, "visible") if frame_rows else np.zeros(0, bool)
    for ax in (a1, a2):
        if hidden.any():
            ax.fill_between(t, 0, 1, where=hidden, transform=ax.get_xaxis_transform(), color="0.85",
                            step="mid", label="coil not visible")
        for r in pulse_rows:
            if r["fired"] == "1":
                ax.axvline((parse_time_ns(r["time_s"]) - t0) / 1e9, color="r", lw=0.4, alpha=0.5)
        ax.legend(loc="upper right", fontsize=7)
    a1.set_title("coil alignment errors over time (red ticks: pulses)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_bullseye(pulse_rows: Sequence[dict], path: str | Path, tolerance_mm: float = 3.0,
                  frame_rows: Optional[Sequence[dict]] = None) -> Path:
    """Pulse positions in the planned coil's x/y plane (mm); rings at the tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    if frame_rows:
        ax.plot(column(frame_rows, "offset_x_mm"), column(frame_rows, "offset_y_mm"), color="0.7", lw=0.6,
                label="coil path")
    fired = [r for r in pulse_rows if r["fired"] == "1" and r["visible"] == "1"]
    x, y = column(fired, "offset_x_mm") if fired else [], column(fired, "offset_y_mm") if fired else []
    ok = np.array([r["within_tolerance"] == "1" for r in fired], bool)
    if fired:
        ax.scatter(np.asarray(x)[ok], np.asarray(y)[ok], s=14, c="g", label="pulse within tolerance")
        ax.scatter(np.asarray(x)[~ok], np.asarray(y)[~ok], s=14, c="r", label="pulse outside")
    for k in (1, 2):
        ax.add_patch(plt.Circle((0, 0), k * tolerance_mm, fill=False, ls="--", color="g" if k == 1 else "0.5"))
    lim = max(3 * tolerance_mm, float(np.nanmax(np.abs(np.r_[x, y]))) * 1.1 if len(x) else 0.0)
    lim = lim if math.isfinite(lim) else 3 * tolerance_mm
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("planned coil x (mm)")
    ax.set_ylabel("planned coil y, handle (mm)")
    ax.set_title(f"pulses on the bullseye ({len(fired)} with a pose)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
