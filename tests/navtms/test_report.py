"""Report figures and plots from navigation logs."""
from __future__ import annotations

import math

from navtms.report import plot_bullseye, plot_errors, summarize


def _frame(i, visible, on, d=None, tilt=None):
    r = {"frame": str(i), "time_s": f"{10 + i // 10}.{(i % 10) * 100_000_000:09d}", "visible": "1" if visible else "0",
         "on_target": "1" if on else "0"}
    for k in ("distance_mm", "tilt_deg", "twist_deg", "axis_miss_mm", "depth_mm", "offset_x_mm", "offset_y_mm"):
        r[k] = "" if not visible else repr(float(d if k == "distance_mm" else (tilt if k == "tilt_deg" else 0.5)))
    return r


def _pulse(i, fired, visible, on, inside, d):
    return {"pulse": str(i), "time_s": f"10.{i * 100_000_000:09d}", "fired": "1" if fired else "0",
            "visible": "1" if visible else "0", "on_target": "1" if on else "0",
            "within_tolerance": "1" if inside else "0", "distance_mm": repr(d) if visible else "",
            "tilt_deg": "1.0" if visible else "", "offset_x_mm": repr(d) if visible else "",
            "offset_y_mm": "0.0" if visible else ""}


def test_summary_figures():
    frames = ([_frame(i, True, False, 10.0 - i, 5.0) for i in range(8)] + [_frame(8, False, False)]
              + [_frame(9, True, True, 1.0, 1.0), _frame(10, True, True, 2.0, 2.0)])
    pulses = [_pulse(1, True, True, True, True, 1.5), _pulse(2, False, False, False, False, 0),
              _pulse(3, True, False, True, False, 0)]
    timing = [{"frame": str(i), "latency_us": str(100.0 * (i + 1)), "pose_age_us": "0", "dropped_before": "1"}
              for i in range(11)]
    s = summarize(frames, pulses, timing)
    assert s["frames"] == 11 and s["frames_visible"] == 10
    assert abs(s["on_target_fraction_of_visible"] - 0.2) < 1e-12
    assert abs(s["time_to_first_on_target_s"] - 0.9) < 1e-9 and abs(s["duration_s"] - 1.0) < 1e-9
    assert s["distance_mm"]["min"] == 1.0 and s["distance_mm"]["max"] == 10.0 and s["distance_mm"]["n"] == 10
    assert s["last_visible"]["frame"] == 10
    p = s["pulses"]
    assert (p["requested"], p["fired"], p["refused"], p["visible"], p["within_tolerance"]) == (3, 2, 1, 1, 1)
    assert p["distance_mm"]["median"] == 1.5
    assert s["latency_us"]["max"] == 1100.0 and s["dropped"] == 11
    empty = summarize([], [])
    assert empty["frames"] == 0 and empty["pulses"]["fired"] == 0 and empty["distance_mm"]["median"] is None
    assert not math.isnan(s["distance_mm"]["p95"])


def test_plots_are_pngs(tmp_path):
    frames = [_frame(i, i != 3, False, 5.0 - 0.3 * i, 2.0) for i in range(12)]
    pulses = [_pulse(1, True, True, True, True, 1.5), _pulse(2, True, True, False, False, 7.0)]
    for path in (plot_errors(frames, pulses, tmp_path / "e.png"), plot_bullseye(pulses, tmp_path / "b.png", 3.0, frames),
                 plot_bullseye([], tmp_path / "empty.png")):
        assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 2000
