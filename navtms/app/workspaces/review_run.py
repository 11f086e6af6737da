"""ReviewRun: one navigation run's logs, loaded for replay in the Review workspace.

A run folder holds frames.csv (and pulses.csv, timing.csv, summary.json, errors.png,
bullseye.png): a `navtms replay` report folder, a session folder after `navtms navigate`, or the
report folder of `navtms demo`. Times are seconds from the first frame; offsets mm in the
planned coil x/y plane; angles degrees (as the logs hold them). No Qt here.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import InputFileError
from navigation.csvlog import column, read_log
from tracking.poselog import parse_time_ns

FRAMES, PULSES, TIMING = "frames.csv", "pulses.csv", "timing.csv"


@dataclass(frozen=True)
class RunFrame:
    """One logged frame (screen values). Errors are NaN when the coil pose was not available."""

    index: int
    frame: int
    time_s: float
    visible: bool
    coil_visible: bool
    head_visible: bool
    on_target: bool
    stale: bool
    distance_mm: float
    offset_x_mm: float
    offset_y_mm: float
    offset_z_mm: float
    tilt_deg: float
    twist_deg: float
    target: str


@dataclass
class ReviewRun:
    folder: Path
    frames: list[dict]
    pulses: list[dict]
    timing: list[dict]
    times_s: np.ndarray                    # (N,) from the first frame
    t0_ns: int
    summary: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)    # name -> PNG path that exists

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1]) if len(self.times_s) else 0.0

    def index_at(self, t_s: float) -> int:
        """The last frame at or before t_s (0 before the first)."""
        return max(0, bisect.bisect_right(self.times_s, float(t_s)) - 1)

    def frame(self, i: int) -> RunFrame:
        r = self.frames[i]

        def f(k):
            v = r.get(k, "")
            return float(v) if v not in ("", None) else math.nan
        return RunFrame(i, int(r["frame"]), float(self.times_s[i]), r["visible"] == "1", r["coil_visible"] == "1",
                        r["head_visible"] == "1", r["on_target"] == "1", r["stale"] == "1", f("distance_mm"),
                        f("offset_x_mm"), f("offset_y_mm"), f("offset_z_mm"), f("tilt_deg"), f("twist_deg"),
                        r.get("target", ""))

    def pulse_times_s(self) -> np.ndarray:
        return np.array([(parse_time_ns(r["time_s"]) - self.t0_ns) / 1e9 for r in self.pulses])

    def series(self, name: str) -> np.ndarray:
        return column(self.frames, name)


def load_run(folder: str | Path) -> ReviewRun:
    """Read a run folder; InputFileError when it has no frames.csv or the logs are malformed."""
    from navtms.report import summarize

    folder = Path(folder)
    if not (folder / FRAMES).is_file():
        raise InputFileError(folder, f"has no {FRAMES}: open a report folder (navtms replay / demo) or a "
                                     "session folder after navigation")
    frames = read_log(folder / FRAMES, "frame")
    if not frames:
        raise InputFileError(folder / FRAMES, "holds no frames")
    pulses = read_log(folder / PULSES, "pulse") if (folder / PULSES).is_file() else []
    timing = read_log(folder / TIMING, "timing") if (folder / TIMING).is_file() else []
    ns = np.array([parse_time_ns(r["time_s"]) for r in frames], dtype=np.int64)
    summary = summarize(frames, pulses, timing)
    figures = {k: folder / f for k, f in (("errors", "errors.png"), ("bullseye", "bullseye.png"))
               if (folder / f).is_file()}
    figures.update({p.stem: p for p in sorted(folder.glob("snapshot_*.png"))})
    return ReviewRun(folder, frames, pulses, timing, (ns - ns[0]) / 1e9, int(ns[0]), summary, figures)


def summary_lines(run: ReviewRun) -> list[str]:
    """The report's headline figures in words."""
    s = run.summary
    p = s.get("pulses", {})
    lines = [f"{s['frames']} frames over {s['duration_s']:.1f} s; coil pose in "
             f"{100 * (s['visible_fraction'] or 0):.0f} % of them"]
    if s.get("on_target_fraction_of_visible") is not None:
        lines.append(f"on target in {100 * s['on_target_fraction_of_visible']:.0f} % of the frames with a pose")
    d = s.get("distance_mm", {})
    if d.get("median") is not None:
        lines.append(f"distance median {d['median']:.2f} mm (p95 {d['p95']:.2f}); "
                     f"tilt median {s['tilt_deg']['median']:.2f} deg")
    lines.append(f"pulses: {p.get('fired', 0)} fired ({p.get('on_target', 0)} on target, "
                 f"{p.get('fired', 0) - p.get('visible', 0)} without a coil pose), {p.get('refused', 0)} refused")
    if "latency_us" in s:
        lines.append(f"capture-to-errors latency p50 {s['latency_us']['p50'] / 1000:.2f} ms, "
                     f"p99 {s['latency_us']['p99'] / 1000:.2f} ms; {s.get('dropped', 0)} frames dropped")
    return lines


def view_state_at(run: ReviewRun, i: int, tolerances, fre_mm: float = math.nan, tre_mm: float = math.nan):
    """viewer.state.ViewState of logged frame i, as the loop's viewer sink made it live: the
    pose (T_mri_from_coil from the pose columns, None when not visible), errors, verdict, the
    run's tolerances as screen limits and their reasons in words, pulses fired up to then."""
    from navcore.transforms import transform_from_pose
    from viewer.sink import screen_limits
    from viewer.state import ViewState

    f = run.frame(i)
    r = run.frames[i]
    T = None
    if f.visible and r.get("tx_mm"):
        T = transform_from_pose([float(r[k]) for k in ("tx_mm", "ty_mm", "tz_mm")],
                                [float(r[k]) for k in ("qw", "qx", "qy", "qz")])
    reasons = () if (f.on_target or T is None) else tuple(x.text for x in tolerances.reasons(f, margin=False))
    t_pulses = run.pulse_times_s()
    fired = sum(1 for p, t in zip(run.pulses, t_pulses) if t <= f.time_s and p["fired"] == "1")
    depth = float(r["depth_mm"]) if r.get("depth_mm") else math.nan
    return ViewState(T_mri_from_coil=T, coil_visible=f.coil_visible, head_visible=f.head_visible,
                     distance_mm=f.distance_mm, tilt_deg=f.tilt_deg, twist_deg=f.twist_deg, depth_mm=depth,
                     fre_mm=fre_mm, predicted_tre_mm=tre_mm, pose_age_ms=math.nan, stale=f.stale,
                     on_target=f.on_target, active_target=f.target or None, pulses_delivered=fired,
                     limits=screen_limits(tolerances), off_target_reasons=reasons)


def pulses_until(run: ReviewRun, up_to_s: float) -> list[tuple[dict, Optional[np.ndarray]]]:
    """The pulse rows requested up to a time, each with its logged coil pose (4x4 mri mm, the
    pose interpolated to the pulse) or None when the coil was not seen."""
    from navcore.transforms import transform_from_pose

    out = []
    for p, t in zip(run.pulses, run.pulse_times_s()):
        if t > up_to_s:
            break
        T = None
        if p.get("tx_mm"):
            T = transform_from_pose([float(p[k]) for k in ("tx_mm", "ty_mm", "tz_mm")],
                                    [float(p[k]) for k in ("qw", "qx", "qy", "qz")])
        out.append((p, T))
    return out
