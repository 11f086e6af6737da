"""`navtms hotspot grid|pick`: motor hotspot search around the M1 hand knob.

    navtms hotspot grid PLAN_DIR --session-out DIR [--around m1-hand | --centre X,Y,Z]
                        [--rows 5] [--cols 5] [--spacing 10] [--handle-angle 45]
        makes a session folder whose targets are the grid sites (hs-A1 ...), with
        hotspot_grid.json; register it and navigate to the sites as for any session.
    navtms hotspot pick PLAN_DIR --session DIR (--emg CSV [--tolerance-ms 5] | --responses CSV
                        | --site NAME) [--max-distance 5] [--map PNG]
        assigns the session's pulses to sites, reads the responses, picks the site with the
        largest mean response (or the operator's --site), writes PLAN_DIR/hotspot.json and the
        plan target "hotspot", and draws the response map.
"""
from __future__ import annotations

from pathlib import Path

from navcore.errors import NavtmsError

NAME = "hotspot"
HELP = "motor hotspot search: grid of coil sites around the hand knob, pulses -> sites, responses -> hotspot"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="step", metavar="STEP", required=True)
    g = sub.add_parser("grid", help="make a hotspot-search session with the grid sites as targets")
    g.add_argument("plan")
    g.add_argument("--session-out", required=True, help="session folder to create")
    g.add_argument("--around", default="m1-hand", help="plan target to centre the grid on (default m1-hand)")
    g.add_argument("--centre", help="grid centre X,Y,Z (mri mm) instead of --around")
    g.add_argument("--rows", type=int, default=5)
    g.add_argument("--cols", type=int, default=5)
    g.add_argument("--spacing", type=float, default=10.0, help="site spacing in the tangent plane (mm)")
    g.add_argument("--handle-angle", type=float, default=45.0, help="handle angle (deg, posterior-lateral)")
    k = sub.add_parser("pick", help="pick the hotspot from a search session's pulses and responses")
    k.add_argument("plan")
    k.add_argument("--session", required=True)
    src = k.add_mutually_exclusive_group(required=True)
    src.add_argument("--emg", help="EMG CSV: time_s,p2p_uv (peak-to-peak per pulse)")
    src.add_argument("--responses", help="operator CSV: pulse,response (uV or y/n)")
    src.add_argument("--site", help="the operator's pick (site name, e.g. hs-C3)")
    k.add_argument("--tolerance-ms", type=float, default=5.0, help="EMG-to-pulse time tolerance (ms)")
    k.add_argument("--max-distance", type=float, default=5.0, help="pulse-to-site distance limit (mm)")
    k.add_argument("--map", help="response map PNG (default PLAN_DIR/hotspot_map.png)")


def _grid(args):
    import warnings

    import numpy as np

    from navtms.motor import create_grid_session
    from targets.hotspot import grid_from_target, make_grid
    from targets.placement import HeadAxes
    from targets.plan import load_plan
    from targets.planner import fiducial_lookup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = load_plan(args.plan, checksum="skip")
    look = fiducial_lookup(plan.fiducials)
    axes = HeadAxes.from_fiducials(look["nasion"], look["lpa"], look["rpa"]) if {"nasion", "lpa", "rpa"} <= set(look) else None
    kw = dict(rows=args.rows, cols=args.cols, spacing_mm=args.spacing, handle_angle_deg=args.handle_angle)
    if args.centre:
        try:
            c = np.array([float(x) for x in args.centre.split(",")])
            assert c.shape == (3,) and np.all(np.isfinite(c))
        except (ValueError, AssertionError):
            raise NavtmsError(f"--centre {args.centre!r} is not X,Y,Z in mm") from None
        grid = make_grid(plan.scalp, c, axes, **kw)
    else:
        grid = grid_from_target(plan.scalp, plan.target(args.around), axes, **kw)
    create_grid_session(args.session_out, args.plan, grid)
    print(f"{args.session_out}: hotspot-search session with {len(grid.sites)} sites "
          f"({args.rows} x {args.cols}, {args.spacing:g} mm); register it, then navigate to the sites")
    return 0


def _pick(args):
    from navtms.course_report import response_map_png
    from navtms.motor import hotspot_from_session

    run = hotspot_from_session(args.plan, args.session, emg_csv=args.emg, responses_csv=args.responses,
                               tolerance_ms=args.tolerance_ms, max_distance_mm=args.max_distance,
                               operator_pick=args.site)
    png = Path(args.map) if args.map else Path(args.plan) / "hotspot_map.png"
    response_map_png(png, run.grid, run.result.stats, run.result.index, run.result.unit)
    st = run.result.stats
    assigned = int((run.assignment >= 0).sum())
    print(f"{len(run.assignment)} pulses, {assigned} assigned to a site; hotspot {run.result.name} "
          f"({run.result.method}, mean {st.mean[run.result.index]:.4g} {run.result.unit} over {st.n[run.result.index]} pulses)")
    print(f"written: {run.hotspot_json}, plan target 'hotspot', map {png}")
    return 0


def run(args) -> int:
    return _grid(args) if args.step == "grid" else _pick(args)
