"""The relative-frequency motor-threshold rule: the lowest intensity (% MSO) at which at least
`min_responses` of `n_trials` pulses give a response (an MEP >= 50 uV peak-to-peak by default,
or a twitch seen). Rossini PM, Barker AT, Berardelli A, et al. (1994) Electroencephalography
and Clinical Neurophysiology 91(2):79-92; Rossini PM, Burke D, Chen R, et al. (2015) Clinical
Neurophysiology 126(6):1071-1107 (the IFCN update).
Source audit (issue 17): the 2015 citation was read on its PMC copy (PMC6350257), which names the
1994 report as its predecessor; the rule itself (>= 5 of 10 MEPs >= 50 uV, about 75 pulses) was
found only in a secondary text (a book chapter on robotized TMS), not in either report: UNVERIFIED
against the reports.

At an intensity the first `n_trials` pulses count; with fewer pulses it qualifies only when the
responses already reach `min_responses`. Trials at the same intensity are pooled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from navcore.errors import NavtmsError

MEP_CRITERION_UV = 50.0


@dataclass(frozen=True)
class ThresholdRule:
    """min_responses of n_trials pulses at one intensity; mep_criterion_uv for MEP amplitudes."""

    min_responses: int = 5
    n_trials: int = 10
    mep_criterion_uv: float = MEP_CRITERION_UV

    def __post_init__(self):
        if not (1 <= self.min_responses <= self.n_trials) or not (self.mep_criterion_uv > 0):
            raise NavtmsError(f"threshold rule {self.min_responses} of {self.n_trials} (criterion "
                              f"{self.mep_criterion_uv} uV) is not possible")

    def to_json(self) -> dict:
        return {"kind": "relative-frequency", "min_responses": self.min_responses, "n_trials": self.n_trials,
                "mep_criterion_uv": self.mep_criterion_uv}


@dataclass(frozen=True)
class Trial:
    """Pulses at one intensity (% MSO): responses (bool per pulse) and, when measured, the MEP
    amplitudes (uV per pulse) they came from."""

    intensity_pct: float
    responses: tuple[bool, ...]
    mep_uv: Optional[tuple[float, ...]] = None

    @staticmethod
    def from_mep(intensity_pct: float, mep_uv: Sequence[float], criterion_uv: float = MEP_CRITERION_UV) -> "Trial":
        m = tuple(float(v) for v in mep_uv)
        return Trial(float(intensity_pct), tuple(v >= criterion_uv for v in m), m)


def qualifies(responses: Sequence[bool], rule: ThresholdRule = ThresholdRule()) -> bool:
    """Whether one intensity's responses meet the rule (first n_trials pulses count)."""
    return int(np.sum(np.asarray(list(responses), dtype=bool)[: rule.n_trials])) >= rule.min_responses


def threshold_from_trials(trials: Sequence[Trial], rule: ThresholdRule = ThresholdRule()) -> Optional[float]:
    """Lowest intensity (% MSO) whose pooled responses meet the rule, or None. Trials at the
    same intensity are pooled in the order given."""
    pooled: dict[float, list[bool]] = {}
    for t in trials:
        pooled.setdefault(float(t.intensity_pct), []).extend(bool(r) for r in t.responses)
    ok = [i for i, r in pooled.items() if qualifies(r, rule)]
    return min(ok) if ok else None
