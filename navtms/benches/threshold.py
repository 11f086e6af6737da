"""`navtms bench threshold`: the two motor-threshold methods on simulated subjects.

Every subject has a known logistic response with trial-to-trial spread and a few false and
missed responses (therapy.mep_sim); each method hunts its threshold with its own random pulses.
Figures per method: pulses needed (median, 90th percentile, max) and the error of the estimate
against the true 50 % point (median and 90th percentile of |error|, max, bias, share within
2 % MSO, a histogram). Goal (issue 17): ML hunt median |error| <= 2 % MSO in <= 25 pulses.
Methods: relative frequency 5/10 with early stopping, the same with all 10 pulses given at each
intensity, and the ML hunt (therapy.threshold_ml: default settings, and at most 15 or 25 pulses).
"""
from __future__ import annotations

import time

NAME = "threshold"
HELP = "motor threshold: relative-frequency rule vs ML threshold hunt on simulated subjects"

METHODS = (("relative_frequency_5_of_10", "relative frequency 5/10, early stop"),
           ("relative_frequency_10_pulses_each", "relative frequency 5/10, 10 pulses each"),
           ("ml_hunt", "ML threshold hunt (default: 14-20 pulses)"),
           ("ml_hunt_max15", "ML threshold hunt, at most 15 pulses"),
           ("ml_hunt_max25", "ML threshold hunt, 14-25 pulses"))


def run(json_out: bool = False, quick: bool = False) -> dict:
    from therapy.mep_sim import compare
    from therapy.threshold_ml import HuntSettings

    n = 120 if quick else 1000
    t0 = time.perf_counter()
    r = compare(n, seed=17, variants={"ml_hunt_max15": HuntSettings(min_pulses=10, max_pulses=15),
                                      "ml_hunt_max25": HuntSettings(max_pulses=25)})
    r["elapsed_s"] = time.perf_counter() - t0
    ml = r["ml_hunt"]
    r["goal"] = {"median_abs_error_max_pct": 2.0, "pulses_max": 25,
                 "met": bool(ml["abs_error_median"] <= 2.0 and ml["pulses_max"] <= 25)}
    if not json_out:
        print(f"motor threshold on {n} simulated subjects (true threshold 30-75 % MSO, logistic spread 2-6 % "
              f"of it, false and missed responses 0-4 %; seed {r['seed']})")
        print(f"{'method':44s} {'pulses med/p90/max':>20s} {'|err| med':>9s} {'|err| p90':>9s} {'|err| max':>9s} "
              f"{'bias':>6s} {'<=2%':>5s}")
        for key, label in METHODS:
            m = r[key]
            print(f"{label:44s} {m['pulses_median']:6.0f} /{m['pulses_p90']:4.0f} /{m['pulses_max']:4.0f}    "
                  f"{m['abs_error_median']:9.2f} {m['abs_error_p90']:9.2f} {m['abs_error_max']:9.2f} "
                  f"{m['bias']:6.2f} {100 * m['within_2pct']:4.0f}%")
        print("error distribution (estimate - truth, % MSO):")
        bins = list(r["ml_hunt"]["error_histogram"])
        print(f"{'':44s} " + " ".join(f"{b:>7s}" for b in bins))
        for key, label in METHODS:
            print(f"{label:44s} " + " ".join(f"{r[key]['error_histogram'][b]:7d}" for b in bins))
        ratio = r["relative_frequency_10_pulses_each"]["pulses_median"] / ml["pulses_median"]
        print(f"ML hunt: median {ml['pulses_median']:.0f} pulses ({ratio:.1f}x fewer than 10 pulses per intensity), "
              f"median error {ml['abs_error_median']:.2f} % MSO; goal (<= 2 % MSO in <= 25 pulses) "
              f"{'met' if r['goal']['met'] else 'NOT met'}  [{r['elapsed_s']:.1f} s]")
    return r
