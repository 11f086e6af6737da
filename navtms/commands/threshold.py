"""`navtms threshold PLAN_DIR ...`: record a motor threshold measurement, or show the history.

Relative-frequency rule (default, --rule 5/10): `--trial PCT:RESPONSES` per intensity, y/n per
pulse ('50:nnynnnynnn') or MEP amplitudes in uV ('52:30,80,12,...', a response when >=
--criterion-uv); the threshold is the lowest intensity with at least 5 responses in 10 pulses.

Maximum-likelihood threshold hunt (--method ml, therapy.threshold_ml):
- `--hunt`: the operator is asked for each pulse ("set 45% MSO, fire, response? y/n") until
  the stopping rule ends the hunt;
- `--next` with the pulses so far as --trial: print the next intensity (or that the hunt is
  done), record nothing;
- `--trial` in pulse order: record a hunt done elsewhere;
- `--emg CSV --session DIR`: responses from an EMG file matched by pulse time to the session's
  fired pulses, intensities as the hunt asked for them (replayed from the responses), or given
  with --intensities.
Every measurement is appended to PLAN_DIR/threshold.json (older ones are kept).
"""
from __future__ import annotations

import datetime as _dt

from navcore.errors import NavtmsError

NAME = "threshold"
HELP = "record the motor threshold (relative-frequency rule or ML threshold hunt) in the plan folder, or show the history"


def add_arguments(p) -> None:
    p.add_argument("plan", help="plan folder")
    p.add_argument("--trial", action="append", default=[], metavar="PCT:RESPONSES",
                   help="intensity (%% MSO) and responses: y/n per pulse or MEP uV list; repeat per intensity")
    p.add_argument("--method", choices=("relative-frequency", "ml"), default="relative-frequency",
                   help="relative-frequency rule (default) or ML threshold hunt")
    p.add_argument("--hunt", action="store_true", help="ML: run the hunt interactively (asks for each response)")
    p.add_argument("--next", action="store_true", help="ML: print the next intensity for the --trial pulses so far")
    p.add_argument("--emg", help="ML: EMG CSV (time_s, p2p_uv) matched by time to the --session's pulses")
    p.add_argument("--session", help="ML with --emg: the session folder whose pulses.csv holds the hunt's pulses")
    p.add_argument("--intensities", help="ML with --emg: intensities (%% MSO) per pulse, comma separated "
                                         "(default: as the hunt asked for them)")
    p.add_argument("--tolerance-ms", type=float, default=5.0, help="EMG to pulse time tolerance (ms)")
    p.add_argument("--start", type=float, default=45.0, help="ML: first intensity (%% MSO, default 45)")
    p.add_argument("--max-pulses", type=int, default=20, help="ML: stop after this many pulses (default 20)")
    p.add_argument("--date", default=_dt.date.today().isoformat(), help="YYYY-MM-DD (default today)")
    p.add_argument("--rule", default="5/10", help="min responses / pulses (default 5/10)")
    p.add_argument("--criterion-uv", type=float, default=50.0, help="MEP amplitude counted as a response (uV)")
    p.add_argument("--site", default="hotspot", help="where it was measured (default hotspot)")
    p.add_argument("--notes", default="")


def _history(plan) -> int:
    from navtms.threshold import load_thresholds

    ms = load_thresholds(plan)
    if not ms:
        print("no motor threshold recorded")
    for m in ms:
        t = "not reached" if m.threshold_pct is None else f"{m.threshold_pct:g}% MSO"
        print(f"{m.date}  {t:12s}  site {m.site}, {m.describe_method()}  {m.notes}")
    return 0


def _ml(args) -> int:
    from navtms.threshold import ml_measurement, parse_trial_text, record_threshold
    from therapy.threshold_ml import HuntSettings, evaluate, next_intensity, stop_reason

    s = HuntSettings(start_pct=args.start, max_pulses=args.max_pulses, min_pulses=min(14, args.max_pulses))
    modes = sum(bool(x) for x in (args.hunt, args.next, args.emg))
    if modes > 1:
        raise NavtmsError("give one of --hunt, --next and --emg")
    xs, rs, mep = [], [], None
    for t in args.trial:
        tr = parse_trial_text(t, args.criterion_uv)
        xs += [tr.intensity_pct] * len(tr.responses)
        rs += list(tr.responses)
    if args.next:
        why = stop_reason(xs, rs, s)
        if why:
            r = evaluate(xs, rs, s, why)
            print(f"done ({why}): threshold {r.threshold_pct:.1f}% MSO (95% CI {r.ci_pct[0]:.1f}-{r.ci_pct[1]:.1f})")
        else:
            print(f"next: {next_intensity(xs, rs, s):g}% MSO (pulse {len(xs) + 1})")
        return 0
    if args.emg:
        xs, rs, mep = _from_emg(args, s)
    elif args.hunt:
        xs, rs = _interactive(s)
    if not xs:
        raise NavtmsError("no pulses: give --trial, --hunt or --emg")
    _check_plan(args.plan)
    m = ml_measurement(args.date, xs, rs, s, args.site, args.notes, mep, args.criterion_uv)
    path = record_threshold(args.plan, m)
    r = m.ml_result()
    print(f"motor threshold: {m.threshold_pct:g}% MSO (ML threshold hunt, {r.pulses} pulses, 95% CI "
          f"{r.ci_pct[0]:.1f}-{r.ci_pct[1]:.1f}); recorded in {path}")
    if r.at_limit(s):
        print(f"warning: the interval reaches the edge of the search ({s.floor_pct:g}-{s.ceiling_pct:g}% MSO); "
              "the threshold may lie outside what the stimulator reaches: check the coil and the EMG")
    return 0


def _from_emg(args, s):
    import numpy as np

    from navigation.csvlog import read_log
    from navtms.course import pulses_file
    from targets.hotspot import match_emg, read_emg_csv
    from therapy.threshold_ml import replay_intensities
    from tracking.poselog import parse_time_ns

    if not args.session:
        raise NavtmsError("--emg needs --session (the session whose pulses.csv holds the hunt's pulses)")
    pf = pulses_file(args.session)
    if pf is None:
        raise NavtmsError(f"{args.session}: the session has no pulses.csv (no pulses were logged)")
    rows = [r for r in read_log(pf, "pulse") if r["fired"] == "1"]
    times = np.array([parse_time_ns(r["time_s"]) for r in rows], dtype=np.int64)
    et, ev = read_emg_csv(args.emg)
    mep = match_emg(times, et, ev, args.tolerance_ms, source=args.emg)
    rs = [bool(v >= args.criterion_uv) for v in mep]
    if args.intensities:
        try:
            xs = [float(v) for v in args.intensities.split(",")]
        except ValueError:
            raise NavtmsError(f"--intensities {args.intensities!r} is not a comma-separated list of numbers") from None
        if len(xs) != len(rs):
            raise NavtmsError(f"--intensities gives {len(xs)} values for {len(rs)} fired pulses in {pf}")
    else:
        xs = replay_intensities(rs, s)
    return xs, rs, [float(v) for v in mep]


def _interactive(s):
    from therapy.threshold_ml import next_intensity, stop_reason

    xs, rs = [], []
    while stop_reason(xs, rs, s) is None:
        x = next_intensity(xs, rs, s)
        while True:
            try:
                a = input(f"pulse {len(xs) + 1}: set {x:g}% MSO and fire; response (MEP >= criterion)? [y/n/q] ")
            except EOFError:
                a = "q"
            a = a.strip().lower()
            if a in ("y", "n", "q"):
                break
        if a == "q":
            raise NavtmsError(f"threshold hunt stopped by the operator after {len(xs)} pulses; nothing recorded")
        xs.append(x)
        rs.append(a == "y")
    return xs, rs


def _check_plan(plan) -> None:
    from targets.plan import load_plan

    load_plan(plan, checksum="skip", load_surfaces=False)  # a plan folder, readable: else nothing is written


def run(args) -> int:
    from navtms.threshold import Measurement, ThresholdRule, parse_trial_text, record_threshold

    if args.method == "ml":
        return _ml(args)
    if args.hunt or args.next or args.emg:
        raise NavtmsError("--hunt, --next and --emg belong to the ML threshold hunt: add --method ml")
    if not args.trial:
        return _history(args.plan)
    try:
        k, n = (int(x) for x in args.rule.split("/"))
    except ValueError:
        raise NavtmsError(f"--rule {args.rule!r} is not MIN/N (e.g. 5/10)") from None
    _check_plan(args.plan)
    rule = ThresholdRule(k, n, args.criterion_uv)
    trials = tuple(parse_trial_text(t, rule.mep_criterion_uv) for t in args.trial)
    m = Measurement(args.date, trials, rule, args.site, args.notes)
    path = record_threshold(args.plan, m)
    for t in sorted(trials, key=lambda t: t.intensity_pct):
        print(f"{t.intensity_pct:5g}% MSO: {sum(t.responses)}/{len(t.responses)} responses")
    print(f"motor threshold: {'not reached' if m.threshold_pct is None else f'{m.threshold_pct:g}% MSO'} "
          f"(rule {k}/{n}); recorded in {path}")
    return 0
