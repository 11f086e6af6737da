"""Hotspot search from a session's logs: the grid session, pulses -> sites, responses -> hotspot.

A hotspot-search session is a session folder whose targets are the grid sites (so the operator
can navigate to each) and which holds hotspot_grid.json (the grid, format_version 1). Pulses
come from its pulses.csv (or a replay sub-folder, navtms.course.pulses_file). Responses per
pulse: MEP amplitudes from an EMG CSV matched by time (targets.hotspot.read_emg_csv /
match_emg), or a responses CSV the operator filled in (`pulse,response`: uV, or y/n for a
twitch; unit "uV" or "twitch").
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import InputFileError, SessionError
from navcore.fileio import read_json, require_matrix, write_json
from navigation.csvlog import read_log
from targets.hotspot import (GridSite, HotspotGrid, HotspotResult, assign_pulses, match_emg, pick_hotspot,
                             read_emg_csv, save_hotspot, site_stats)
from tracking.poselog import parse_time_ns

GRID_FILE = "hotspot_grid.json"


def grid_from_json(path: Path, obj: dict) -> HotspotGrid:
    """A HotspotGrid from its to_json() dict (InputFileError naming `path` when malformed)."""
    try:
        sites = tuple(GridSite(str(s["name"]), int(s["row"]), int(s["col"]), float(s["u_mm"]), float(s["v_mm"]),
                               require_matrix(path, s, "entry_mri_mm", (3,), "grid file"),
                               require_matrix(path, s, "target_mri_mm", (3,), "grid file"),
                               require_matrix(path, s, "T_mri_from_coil", (4, 4), "grid file"))
                      for s in obj["sites"])
        return HotspotGrid(require_matrix(path, obj, "centre_mri_mm", (3,), "grid file"),
                           require_matrix(path, obj, "e_anterior", (3,), "grid file"),
                           require_matrix(path, obj, "e_lateral", (3,), "grid file"),
                           require_matrix(path, obj, "normal", (3,), "grid file"),
                           int(obj["rows"]), int(obj["cols"]), float(obj["spacing_mm"]),
                           float(obj["handle_angle_deg"]), float(obj["offset_mm"]), float(obj["depth_mm"]), sites)
    except (KeyError, TypeError, ValueError, OverflowError, IndexError) as e:
        raise InputFileError(path, f"the hotspot grid file is malformed ({e.__class__.__name__}: {e})") from None


def create_grid_session(folder: str | Path, plan_dir: str | Path, grid: HotspotGrid, **kw):
    """A new session folder for the hotspot search (targets = grid sites, plan = plan_dir) with
    hotspot_grid.json. Returns the Session (unregistered; register as for any session)."""
    from navtms.session import create_session

    folder = Path(folder)
    if (folder / "session.json").exists():
        raise SessionError(f"{folder}: already holds a session; choose a new folder to start another")
    folder.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(Path(plan_dir).resolve(), folder.resolve())   # survives moving plan + session together
    s = create_session(folder, list(grid.sites), plan=rel, **kw)
    write_json(Path(folder) / GRID_FILE, grid.to_json())
    return s


def load_grid(session_dir: str | Path) -> HotspotGrid:
    path = Path(session_dir) / GRID_FILE
    return grid_from_json(path, read_json(path, what="hotspot grid file"))


MAX_PULSE_NUMBER = 10_000_000  # far above any session; bounds the (max_pulse+1,) array read_responses_csv makes


def read_responses_csv(path: str | Path) -> tuple[np.ndarray, str]:
    """Operator responses: CSV `pulse,response` (pulse number as in pulses.csv; response in uV,
    or y/n/1/0 for a twitch). Returns ({pulse: value} as an (max_pulse+1,) NaN-filled array, unit)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the responses file does not exist")
    try:
        rows = [r for r in csv.reader(path.read_text(encoding="utf-8").splitlines()) if r and not r[0].startswith("#")]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(path, f"the responses file cannot be read as CSV text ({e.__class__.__name__})") from None
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["pulse", "response"]:
        raise InputFileError(path, "the responses file must start with the header 'pulse,response'")
    vals: dict[int, float] = {}
    twitch = None
    for n, r in enumerate(rows[1:], start=2):
        try:
            k = int(r[0])
            txt = r[1].strip().lower()
            is_tw = txt in ("y", "n", "yes", "no")
            v = float(txt in ("y", "yes")) if is_tw else float(txt)
            if not np.isfinite(v) or v < 0 or not 1 <= k <= MAX_PULSE_NUMBER:
                raise ValueError
        except (IndexError, ValueError):
            raise InputFileError(path, f"row {n} of the responses file is not 'pulse,response'") from None
        if twitch is not None and twitch != is_tw:
            raise InputFileError(path, f"row {n} mixes y/n twitches with MEP amplitudes")
        twitch = is_tw
        vals[k] = v
    if not vals:
        raise InputFileError(path, "the responses file has no rows")
    arr = np.full(max(vals) + 1, np.nan)
    for k, v in vals.items():
        arr[k] = v
    return arr, ("twitch" if twitch else "uV")


@dataclass(frozen=True)
class HotspotRun:
    grid: HotspotGrid
    result: HotspotResult
    pulse_times_ns: np.ndarray
    assignment: np.ndarray
    responses: np.ndarray
    hotspot_json: Optional[Path]


def hotspot_from_session(plan_dir: str | Path, session_dir: str | Path, emg_csv: Optional[str | Path] = None,
                         responses_csv: Optional[str | Path] = None, tolerance_ms: float = 5.0,
                         max_distance_mm: float = 5.0, operator_pick: Optional[str] = None,
                         save: bool = True) -> HotspotRun:
    """Assign the session's fired pulses (with a pose) to grid sites, attach responses (EMG CSV
    or operator CSV), pick the hotspot and (save) write hotspot.json + the plan's 'hotspot'."""
    from navtms.course import pulses_file

    if (emg_csv is None) == (responses_csv is None) and operator_pick is None:
        raise SessionError("give exactly one of an EMG file or a responses file (or pick the site by hand)")
    grid = load_grid(session_dir)
    pf = pulses_file(session_dir)
    if pf is None:
        raise SessionError(f"{session_dir}: the session has no pulses.csv (no pulses were logged)")
    rows = [r for r in read_log(pf, "pulse") if r["fired"] == "1"]
    times = np.array([parse_time_ns(r["time_s"]) for r in rows], dtype=np.int64)
    centres = np.array([[float(r[k]) if r["visible"] == "1" and r[k] != "" else np.nan for k in ("tx_mm", "ty_mm", "tz_mm")]
                        for r in rows]).reshape(-1, 3)
    assignment = assign_pulses(grid, centres, max_distance_mm)
    unit = "uV"
    if emg_csv is not None:
        et, ev = read_emg_csv(emg_csv)
        responses = match_emg(times, et, ev, tolerance_ms, source=emg_csv)
    elif responses_csv is not None:
        arr, unit = read_responses_csv(responses_csv)
        idx = np.array([int(r["pulse"]) for r in rows], dtype=np.int64)
        responses = np.array([arr[i] if i < len(arr) else np.nan for i in idx])
    else:
        responses = np.full(len(rows), np.nan)
    stats = site_stats(len(grid.sites), assignment, responses)
    result = pick_hotspot(grid, stats, operator_pick, unit)
    out = None
    if save:
        out = save_hotspot(plan_dir, grid, result, assignment, responses, times, session=str(session_dir))
    return HotspotRun(grid, result, times, assignment, responses, out)
