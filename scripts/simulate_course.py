#!/usr/bin/env python
"""Simulate a whole TMS course on the sample head and report it.

    python scripts/simulate_course.py OUT_DIR [--docs-figure docs/img/course_report.png] [--seed 0]
                                      [--plan PLAN_DIR --target NAME --motor-target NAME] [--protocol NAME]

Makes OUT_DIR/plan (sample head, targets m1-hand and dlpfc-fox2012; or a copy of --plan), a hotspot search
(5 x 5 grid at 10 mm around the hand knob, simulated MEPs in an EMG CSV, replayed through the
navigation loop), a motor threshold measurement (simulated 5/10 rule data), five daily
sessions at dlpfc-fox2012 with known repositioning offsets (navtms.course_sim.default_days),
each replayed through navtms.replay.replay_session (with --protocol, each session records that
library protocol with `navtms protocol SESSION --use NAME`: safety check, MT, depth-adjusted
dose when the protocol asks for it), and then runs
`navtms course OUT_DIR/plan --out OUT_DIR/report`. Prints the simulated vs recovered
repositioning figures.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to create")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--docs-figure", type=Path, help="copy the one-page report PNG here")
    ap.add_argument("--plan", type=Path, help="use a copy of this plan folder instead of planning the sample head")
    ap.add_argument("--target", default="dlpfc-fox2012", help="treatment target of the plan")
    ap.add_argument("--motor-target", default="m1-hand", help="plan target the hotspot grid is centred on")
    ap.add_argument("--protocol", help="record this library protocol (navtms protocols) for every session")
    args = ap.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out} exists and is not empty", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    from navtms.cli import main as navtms_main
    from navtms.course_report import response_map_png
    from navtms.course_sim import (default_days, expected_repositioning, simulate_course_sessions,
                                   simulate_hotspot_search, simulate_threshold_trials)
    from navtms.motor import hotspot_from_session
    from navtms.threshold import Measurement, record_threshold
    from targets.hotspot import grid_from_target
    from targets.placement import HeadAxes
    from targets.plan import load_plan, save_plan
    from targets.planner import PlanOptions, TargetRequest, build_plan, fiducial_lookup

    plan_dir = args.out / "plan"
    if args.plan:
        shutil.copytree(args.plan, plan_dir, ignore=shutil.ignore_patterns("sessions", "reports"))
        plan = load_plan(plan_dir, checksum="skip")
    else:
        mri = REPO / "data" / "sample_head" / "head_t1.nii.gz"
        fid = REPO / "data" / "sample_head" / "fiducials.csv"
        plan = build_plan(mri, [TargetRequest("library", args.motor_target), TargetRequest("library", args.target)],
                          fid, opts=PlanOptions(log=print))
        save_plan(plan, plan_dir)
    print(f"plan: {plan_dir}")
    rng = np.random.default_rng(args.seed)
    look = fiducial_lookup(plan.fiducials)
    axes = HeadAxes.from_fiducials(look["nasion"], look["lpa"], look["rpa"])
    grid = grid_from_target(plan.scalp, plan.target(args.motor_target), axes)
    plan = load_plan(plan_dir, checksum="skip")
    sim = simulate_hotspot_search(plan_dir / "hotspot_search", plan_dir, plan, grid, rng)
    run = hotspot_from_session(plan_dir, sim["session"], emg_csv=sim["emg"])
    response_map_png(plan_dir / "hotspot_map.png", run.grid, run.result.stats, run.result.index)
    best = int(np.argmax(sim["expected_uv"]))
    print(f"hotspot: {run.result.name} (site nearest the simulated hotspot: {grid.sites[best].name})")
    m = Measurement("2026-11-02", tuple(simulate_threshold_trials(rng)), notes="simulated")
    record_threshold(plan_dir, m)
    print(f"motor threshold: {m.threshold_pct}% MSO (simulated true value 52%)")
    days = default_days()
    dirs = simulate_course_sessions(plan_dir, args.target, days, seed=args.seed + 1,
                                    threshold_pct_mso=m.threshold_pct, plots=True)
    for d, day in zip(dirs, days):
        if args.protocol and navtms_main(["protocol", str(d), "--use", args.protocol, "--date", day.date,
                                          "--m1-target", args.motor_target, "--patient", "SIM-001"]) != 0:
            return 2
    code = navtms_main(["course", str(plan_dir), "--out", str(args.out / "report")])
    e = expected_repositioning(days)
    print(f"simulated repositioning: coil centre RMS {e['rms_mm']:.2f} mm from the mean, max pairwise "
          f"{e['max_pairwise_mm']:.2f} mm; orientation RMS {e['rms_deg']:.2f} deg, max pairwise "
          f"{e['max_pairwise_deg']:.2f} deg")
    if args.docs_figure:
        shutil.copyfile(args.out / "report" / "course_page.png", args.docs_figure)
        print(f"copied the report page to {args.docs_figure}")
    return code if run.result.index == best else 1


if __name__ == "__main__":
    raise SystemExit(main())
