"""Simulated subjects for motor-threshold methods: a known logistic response with the
variability of real muscle, and the two threshold procedures run against it.

Subject (the truth): a response (MEP >= 50 uV) at x % MSO occurs with probability

    P(x) = f + (1 - f - m) * 1 / (1 + exp(-(x - T) / s))

T the true threshold (50 % point, as f = m here), s the logistic spread (% MSO; trial-to-trial
excitability fluctuation, the input-side variability of Goetz SM, Luber B, Lisanby SH,
Peterchev AV (2014) A novel model incorporating two variability sources for describing motor
evoked potentials. Brain Stimulation 7(4):541-552; citation verified on PMC4108579; the model
here borrows only its idea of input-side variability, no figure), f the chance of a false response (EMG
noise, background contraction) and m of a missed one. MEP amplitudes (uV) are drawn log-normal
around the criterion for the EMG-file path (above 50 uV for a response, below for none).

Population (ASSUMED ranges, chosen to be wide, not taken from a paper): T uniform in
[30, 75] % MSO; s = T * u with u uniform in [0.02, 0.06] (10-90 % width of the curve 4.4 s:
about 2.6-20 % MSO); f, m uniform in [0, 0.04].

Procedures:
- ML hunt: therapy.threshold_ml.run_hunt (logistic truth against its cumulative-Gaussian
  model with its own fixed spread: a deliberate model mismatch).
- Relative frequency (Rossini PM, Barker AT, Berardelli A, et al. (1994)
  Electroencephalography and Clinical Neurophysiology 91(2):79-92; Rossini PM, Burke D, Chen R,
  et al. (2015) Clinical Neurophysiology 126(6):1071-1107): the lowest intensity giving >= 5
  responses in 10 pulses, searched as done at the bench: from the same start, 5 % MSO steps
  (down while the intensity qualifies, up while it does not) until a qualifying intensity sits
  5 % above a failing one, then 1 % steps down from the qualifying one to the first that fails;
  at each intensity pulses stop as soon as 5 responses (qualifies) or 6 misses (cannot) are
  seen (early_stop), or all 10 pulses are given (early_stop False, the textbook count).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from therapy.threshold_ml import HuntSettings, run_hunt


@dataclass(frozen=True)
class Subject:
    threshold_pct: float
    spread_pct: float
    false_rate: float
    miss_rate: float

    def p_response(self, x) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.threshold_pct) / self.spread_pct
        return self.false_rate + (1 - self.false_rate - self.miss_rate) * expit(z)

    def pulse(self, x: float, rng: np.random.Generator) -> bool:
        return bool(rng.random() < self.p_response(x))

    def mep_uv(self, response: bool, rng: np.random.Generator, criterion_uv: float = 50.0) -> float:
        """A peak-to-peak amplitude consistent with the response (log-normal, factor ~3 spread)."""
        k = abs(rng.normal(0.0, 1.1)) + 0.05
        return float(criterion_uv * (np.exp(k) if response else np.exp(-k)))


def population(n: int, rng: np.random.Generator) -> list[Subject]:
    t = rng.uniform(30, 75, n)
    return [Subject(float(t[i]), float(t[i] * rng.uniform(0.02, 0.06)), float(rng.uniform(0, 0.04)),
                    float(rng.uniform(0, 0.04))) for i in range(n)]


@dataclass(frozen=True)
class MethodResult:
    estimate_pct: float     # NaN when the procedure found none
    pulses: int


def relative_frequency(subject: Subject, rng: np.random.Generator, start_pct: float = 45.0,
                       coarse_pct: float = 5.0, k: int = 5, n: int = 10, max_pulses: int = 400,
                       early_stop: bool = True) -> MethodResult:
    """The relative-frequency procedure of the module docstring."""
    used = 0
    cache: dict[float, bool] = {}

    def qualifies(x: float) -> bool:
        nonlocal used
        if x in cache:
            return cache[x]
        yes = no = 0
        while yes + no < n and used < max_pulses and (not early_stop or (yes < k and no < n - k + 1)):
            used += 1
            if subject.pulse(x, rng):
                yes += 1
            else:
                no += 1
        cache[x] = yes >= k
        return cache[x]

    x = float(round(start_pct))
    if qualifies(x):
        while x - coarse_pct >= 1 and qualifies(x - coarse_pct) and used < max_pulses:
            x -= coarse_pct
    else:
        while x < 100 and not qualifies(x) and used < max_pulses:
            x = min(100.0, x + coarse_pct)
        if not cache.get(x, False):
            return MethodResult(float("nan"), used)
    lowest = x                      # qualifies; x - coarse fails (or is below 1 % MSO)
    y = x - 1
    while y > x - coarse_pct and y >= 1 and used < max_pulses and qualifies(y):
        lowest = y
        y -= 1
    return MethodResult(lowest, used)


def ml_hunt(subject: Subject, rng: np.random.Generator, settings: HuntSettings = HuntSettings()) -> MethodResult:
    r = run_hunt(lambda x: subject.pulse(x, rng), settings)
    return MethodResult(r.threshold_pct, r.pulses)


def summarize(true_pct, results: list[MethodResult]) -> dict:
    """Pulses and error (estimate - truth, % MSO) figures of one method over the subjects."""
    t = np.asarray(true_pct, dtype=np.float64)
    est = np.array([r.estimate_pct for r in results])
    pulses = np.array([r.pulses for r in results], dtype=np.float64)
    err = est - t
    ok = np.isfinite(err)
    a = np.abs(err[ok])
    q = lambda v, p: float(np.percentile(v, p)) if len(v) else float("nan")  # noqa: E731
    return {"subjects": int(len(t)), "found": int(ok.sum()),
            "pulses_median": q(pulses, 50), "pulses_p90": q(pulses, 90), "pulses_max": float(pulses.max()),
            "abs_error_median": q(a, 50), "abs_error_p90": q(a, 90), "abs_error_max": float(a.max()) if len(a) else float("nan"),
            "bias": float(np.mean(err[ok])) if ok.any() else float("nan"),
            "within_2pct": float(np.mean(a <= 2.0)) if len(a) else float("nan"),
            "error_histogram": dict(zip(["<-4", "-4..-2", "-2..0", "0..2", "2..4", ">4"],
                                        np.histogram(np.clip(err[ok], -1e3, 1e3),
                                                     [-1e9, -4, -2, 0, 2, 4, 1e9])[0].tolist()))}


def compare(n_subjects: int = 1000, seed: int = 17, settings: HuntSettings = HuntSettings(),
            variants: dict | None = None) -> dict:
    """Both methods on the same simulated subjects (each method its own random pulses).
    variants: more ML hunts by name ({"ml_hunt_max15": HuntSettings(...)})."""
    rng = np.random.default_rng(seed)
    subs = population(n_subjects, rng)
    truth = [s.threshold_pct for s in subs]
    rng_rf = np.random.default_rng(seed + 1)
    rng_ml = np.random.default_rng(seed + 2)
    rng_rf10 = np.random.default_rng(seed + 3)
    rf = [relative_frequency(s, rng_rf, start_pct=settings.start_pct) for s in subs]
    rf10 = [relative_frequency(s, rng_rf10, start_pct=settings.start_pct, early_stop=False) for s in subs]
    ml = [ml_hunt(s, rng_ml, settings) for s in subs]
    more = {}
    for k, (name, st) in enumerate((variants or {}).items()):
        rng_v = np.random.default_rng(seed + 10 + k)
        more[name] = summarize(truth, [ml_hunt(s, rng_v, st) for s in subs])
    return {"relative_frequency_5_of_10": summarize(truth, rf),
            "relative_frequency_10_pulses_each": summarize(truth, rf10), "ml_hunt": summarize(truth, ml), **more,
            "settings": settings.__dict__, "seed": seed}
