"""Motor threshold record: what the operator tried at the hotspot and the threshold it gives.

navtms does not drive the stimulator; it records the intensities the operator used (% of
maximum stimulator output, "% MSO") and the response to each pulse, either an MEP amplitude
(peak-to-peak uV; a response when >= `mep_criterion_uv`, 50 uV by default) or a twitch seen
(yes/no).

Relative-frequency rule (default; the rule itself is therapy.threshold_rf, re-exported here):
the threshold is the lowest intensity at which at least `min_responses` (5) of `n_trials` (10)
pulses give a response. None when no intensity qualifies.

threshold.json (PLAN_DIR/threshold.json, format_version 1, written atomically) keeps every
measurement: {"format_version": 1, "measurements": [{date, recorded_utc, site, rule {...},
trials [{intensity_pct, responses [bool], mep_uv [uV] or null}], threshold_pct, notes}]}.
A new measurement is appended; older ones are never changed or removed.

Maximum-likelihood threshold hunt (therapy.threshold_ml, ML-PEST style): a measurement whose
rule is {"kind": "ml-pest", "settings": {...HuntSettings}} keeps one trial per pulse in pulse
order; its threshold is the ML estimate (% MSO, 0.1 % resolution) of those pulses, with the 95 %
likelihood-ratio interval (`ml_result`).
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from navcore.errors import InputFileError, NavtmsError
from navcore.fileio import read_json, write_json
from therapy.threshold_rf import MEP_CRITERION_UV, ThresholdRule, Trial, qualifies, threshold_from_trials  # noqa: F401

FORMAT_VERSION = 1
THRESHOLD_FILE = "threshold.json"
ML_KIND = "ml-pest"


@dataclass(frozen=True)
class Measurement:
    """One threshold measurement: date (YYYY-MM-DD), site (e.g. 'hotspot'), trials, rule, the
    threshold it gives (% MSO or None) and free notes."""

    date: str
    trials: tuple[Trial, ...]
    rule: ThresholdRule = ThresholdRule()
    site: str = "hotspot"
    notes: str = ""
    recorded_utc: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    ml_settings: Optional[object] = None     # therapy.threshold_ml.HuntSettings for an ML hunt

    @property
    def method(self) -> str:
        return "relative-frequency" if self.ml_settings is None else ML_KIND

    def ml_result(self):
        """therapy.threshold_ml.HuntResult of an ML hunt (None for the relative-frequency rule)."""
        if self.ml_settings is None or not self.trials:
            return None
        from therapy.threshold_ml import evaluate

        xs = [t.intensity_pct for t in self.trials for _ in t.responses]
        rs = [r for t in self.trials for r in t.responses]
        return evaluate(xs, rs, self.ml_settings)

    @property
    def threshold_pct(self) -> Optional[float]:
        if self.ml_settings is not None:
            r = self.ml_result()
            return None if r is None else round(r.threshold_pct, 1)
        return threshold_from_trials(self.trials, self.rule)

    def describe_method(self) -> str:
        if self.ml_settings is None:
            return f"relative frequency {self.rule.min_responses}/{self.rule.n_trials} at {self.rule.mep_criterion_uv:g} uV"
        r = self.ml_result()
        ci = "" if r is None else f", 95% CI {r.ci_pct[0]:.1f}-{r.ci_pct[1]:.1f}"
        return f"ML threshold hunt, {sum(len(t.responses) for t in self.trials)} pulses{ci}"

    def _rule_json(self) -> dict:
        if self.ml_settings is None:
            return self.rule.to_json()
        r = self.ml_result()
        return {"kind": ML_KIND, "mep_criterion_uv": self.rule.mep_criterion_uv, "settings": dict(self.ml_settings.__dict__),
                "ci95_pct": None if r is None else list(r.ci_pct)}

    def to_json(self) -> dict:
        return {"date": self.date, "recorded_utc": self.recorded_utc, "site": self.site, "rule": self._rule_json(),
                "trials": [{"intensity_pct": t.intensity_pct, "responses": list(t.responses),
                            "mep_uv": None if t.mep_uv is None else list(t.mep_uv)} for t in self.trials],
                "threshold_pct": self.threshold_pct, "notes": self.notes}


def _check_date(date: str, where) -> str:
    try:
        _dt.date.fromisoformat(date)
    except (TypeError, ValueError):
        raise InputFileError(where, f"the date {date!r} is not YYYY-MM-DD") from None
    return date


def _parse_measurement(path: Path, i: int, m) -> Measurement:
    what = f"measurement {i + 1} of the threshold file"
    if not isinstance(m, dict) or not isinstance(m.get("trials"), list):
        raise InputFileError(path, f"{what} has no 'trials' list")
    r = m.get("rule") or {}
    ml = None
    try:
        if isinstance(r, dict) and r.get("kind") == ML_KIND:
            from therapy.threshold_ml import HuntSettings

            ml = HuntSettings(**{k: (int(v) if k.endswith("pulses") else float(v))
                                 for k, v in (r.get("settings") or {}).items() if k in HuntSettings.__dataclass_fields__})
        rule = ThresholdRule(int(r.get("min_responses", 5)), int(r.get("n_trials", 10)),
                             float(r.get("mep_criterion_uv", MEP_CRITERION_UV)))
        trials = []
        for t in m["trials"]:
            mep = t.get("mep_uv")
            pct = float(t["intensity_pct"])
            resp = t["responses"]
            if not (0 < pct <= 100) or not isinstance(resp, list) or not all(isinstance(x, bool) for x in resp) \
                    or not (mep is None or (isinstance(mep, list) and len(mep) == len(resp))):
                raise ValueError
            trials.append(Trial(pct, tuple(resp), None if mep is None else tuple(float(x) for x in mep)))
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, NavtmsError):
        raise InputFileError(path, f"{what} is malformed (rule or trials)") from None
    return Measurement(_check_date(str(m.get("date", "")), path), tuple(trials), rule, str(m.get("site", "")),
                       str(m.get("notes", "")), str(m.get("recorded_utc", "")), ml)


def ml_measurement(date: str, intensities: Sequence[float], responses: Sequence[bool], settings=None,
                   site: str = "hotspot", notes: str = "", mep_uv: Optional[Sequence[float]] = None,
                   criterion_uv: float = MEP_CRITERION_UV) -> Measurement:
    """A Measurement of an ML threshold hunt: one Trial per pulse, in pulse order."""
    from therapy.threshold_ml import HuntSettings

    if len(intensities) != len(responses) or (mep_uv is not None and len(mep_uv) != len(responses)):
        raise NavtmsError(f"{len(intensities)} intensities for {len(responses)} responses")
    trials = tuple(Trial(float(x), (bool(r),), None if mep_uv is None else (float(mep_uv[i]),))
                   for i, (x, r) in enumerate(zip(intensities, responses)))
    return Measurement(date, trials, ThresholdRule(mep_criterion_uv=criterion_uv), site, notes,
                       ml_settings=settings or HuntSettings())


def load_thresholds(plan_dir: str | Path) -> list[Measurement]:
    """All measurements of PLAN_DIR/threshold.json, oldest first ([] when there is no file)."""
    path = Path(plan_dir) / THRESHOLD_FILE
    if not path.exists():
        return []
    obj = read_json(path, what="threshold file", supported_versions=(FORMAT_VERSION,))
    ms = obj.get("measurements")
    if not isinstance(ms, list):
        raise InputFileError(path, "the threshold file has no 'measurements' list")
    return [_parse_measurement(path, i, m) for i, m in enumerate(ms)]


def record_threshold(plan_dir: str | Path, measurement: Measurement) -> Path:
    """Append a measurement to PLAN_DIR/threshold.json (atomic; older ones kept as they were).
    A malformed existing file is refused (InputFileError) and left unchanged."""
    plan_dir = Path(plan_dir)
    if not plan_dir.is_dir():
        raise InputFileError(plan_dir, "the plan folder does not exist")
    _check_date(measurement.date, plan_dir / THRESHOLD_FILE)
    path = plan_dir / THRESHOLD_FILE
    old = []
    if path.exists():
        load_thresholds(plan_dir)      # validates
        old = read_json(path, what="threshold file")["measurements"]
    return write_json(path, {"measurements": old + [measurement.to_json()]}, format_version=FORMAT_VERSION)


def threshold_on(measurements: Sequence[Measurement], date: Optional[str] = None) -> Optional[Measurement]:
    """The latest measurement with a threshold on or before `date` (YYYY-MM-DD; None: latest)."""
    ok = [m for m in measurements if m.threshold_pct is not None and (date is None or m.date <= date)]
    return max(ok, key=lambda m: (m.date, m.recorded_utc)) if ok else None


def parse_trial_text(text: str, criterion_uv: float = MEP_CRITERION_UV) -> Trial:
    """A trial from the command line: 'PCT:yynny...' (y/n per pulse) or 'PCT:uv,uv,...' (MEPs)."""
    try:
        pct_s, rest = text.split(":", 1)
        pct = float(pct_s)
        if not (0 < pct <= 100 and math.isfinite(pct)):
            raise ValueError
        rest = rest.strip().lower()
        if rest and set(rest) <= {"y", "n", "1", "0"} and "," not in rest:
            return Trial(pct, tuple(c in "y1" for c in rest))
        return Trial.from_mep(pct, [float(v) for v in rest.split(",")], criterion_uv)
    except ValueError:
        raise NavtmsError(f"trial {text!r} is not PCT:ynyn... or PCT:uV,uV,... with PCT in (0, 100]") from None


def mso_from_threshold(threshold_pct: float, intensity_pct_of_mt: float) -> float:
    """Stimulator output (% MSO) for an intensity given as % of motor threshold, rounded to 1 %
    (therapy.dose.output_pct_mso, capped at 100 % MSO)."""
    from therapy.dose import output_pct_mso

    return output_pct_mso(threshold_pct, intensity_pct_of_mt)[0]


def trials_from_dict(d: Mapping[float, Sequence[bool]]) -> list[Trial]:
    return [Trial(float(k), tuple(bool(x) for x in v)) for k, v in d.items()]
