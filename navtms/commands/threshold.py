"""`navtms threshold PLAN_DIR --trial PCT:RESPONSES ...`: record a motor threshold measurement.

RESPONSES per intensity: y/n per pulse ('50:nnynnnynnn') or MEP amplitudes in uV
('52:30,80,12,...', a response when >= --criterion-uv). The threshold follows the
relative-frequency rule (--rule 5/10: lowest intensity with at least 5 responses in 10 pulses).
The measurement is appended to PLAN_DIR/threshold.json (older ones are kept). Without
--trial, prints the recorded history.
"""
from __future__ import annotations

import datetime as _dt

from navcore.errors import NavtmsError

NAME = "threshold"
HELP = "record the motor threshold (intensities tried and responses) in the plan folder, or show the history"


def add_arguments(p) -> None:
    p.add_argument("plan", help="plan folder")
    p.add_argument("--trial", action="append", default=[], metavar="PCT:RESPONSES",
                   help="intensity (%% MSO) and responses: y/n per pulse or MEP uV list; repeat per intensity")
    p.add_argument("--date", default=_dt.date.today().isoformat(), help="YYYY-MM-DD (default today)")
    p.add_argument("--rule", default="5/10", help="min responses / pulses (default 5/10)")
    p.add_argument("--criterion-uv", type=float, default=50.0, help="MEP amplitude counted as a response (uV)")
    p.add_argument("--site", default="hotspot", help="where it was measured (default hotspot)")
    p.add_argument("--notes", default="")


def run(args) -> int:
    from navtms.threshold import Measurement, ThresholdRule, load_thresholds, parse_trial_text, record_threshold

    if not args.trial:
        ms = load_thresholds(args.plan)
        if not ms:
            print("no motor threshold recorded")
        for m in ms:
            t = "not reached" if m.threshold_pct is None else f"{m.threshold_pct:g}% MSO"
            print(f"{m.date}  {t:12s}  site {m.site}, {len(m.trials)} intensities, rule "
                  f"{m.rule.min_responses}/{m.rule.n_trials} at {m.rule.mep_criterion_uv:g} uV  {m.notes}")
        return 0
    try:
        k, n = (int(x) for x in args.rule.split("/"))
    except ValueError:
        raise NavtmsError(f"--rule {args.rule!r} is not MIN/N (e.g. 5/10)") from None
    from targets.plan import load_plan

    load_plan(args.plan, checksum="skip", load_surfaces=False)  # a plan folder, readable: else nothing is written
    rule = ThresholdRule(k, n, args.criterion_uv)
    trials = tuple(parse_trial_text(t, rule.mep_criterion_uv) for t in args.trial)
    m = Measurement(args.date, trials, rule, args.site, args.notes)
    path = record_threshold(args.plan, m)
    for t in sorted(trials, key=lambda t: t.intensity_pct):
        print(f"{t.intensity_pct:5g}% MSO: {sum(t.responses)}/{len(t.responses)} responses")
    print(f"motor threshold: {'not reached' if m.threshold_pct is None else f'{m.threshold_pct:g}% MSO'} "
          f"(rule {k}/{n}); recorded in {path}")
    return 0
