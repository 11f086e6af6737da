"""Safety check of a protocol against the published rTMS safety tables.

Conventional rTMS (single pulses at 1-25 Hz): the longest single train (s) by frequency and
intensity (% of resting MT), Table 3 of
  Rossi S, Hallett M, Rossini PM, Pascual-Leone A, and the Safety of TMS Consensus Group (2009)
  Safety, ethical considerations, and application guidelines for the use of transcranial
  magnetic stimulation in clinical practice and research. Clinical Neurophysiology
  120(12):2008-2039,
said to reproduce Table 4 of Wassermann EM (1998) Risk and safety of repetitive transcranial
magnetic stimulation: report and suggested guidelines from the International Workshop on the
Safety of Repetitive Transcranial Magnetic Stimulation, June 5-7, 1996. Electroencephalography
and Clinical Neurophysiology 108(1):1-16, built on Pascual-Leone A et al. (1993) and Chen R et
al. (1997).

What was checked (issue 17 source audit, `search` over stored copies of the papers; see
`VERIFICATION` for every figure and where in its source it was read):
- Rossi 2009: title, journal, volume, pages 2008-2039 and the abstract (stored copies on
  vdocuments.mx and pdffox.com; front matter only). The TABLE ITSELF COULD NOT BE REACHED: every
  stored copy is returned from its beginning, and no query on the table's words (frequencies,
  intensities, "maximum safe duration") returned the table text. The cell values below are
  therefore still the ones written from memory and remain UNVERIFIED (`TABLE_VERIFIED` False,
  `VERIFIED_CELLS` empty); every train-duration finding says so. Check them against the printed
  table before clinical use.
- Wassermann 1998: title, journal, volume and pages read from its first page (scribd copy); its
  Table 4 was not reached either.
- Rossi S, Antal A, Bestmann S, et al. (2021) Safety and recommendations for TMS use in healthy
  subjects and patient populations, with updates on training, ethical and regulatory issues:
  Expert Guidelines. Clinical Neurophysiology 132(1):269-306. Abstract (scholars.duke.edu,
  cris.bgu.ac.il): only emerging and new issues are covered, "leaving still valid the 2009
  recommendations regarding the description of conventional or patterned TMS protocols, the
  screening ..., the utilization of reference thresholds of stimulation, the managing of
  seizures ...". Whether its body holds a new duration table was NOT checked; the 2009 table is
  used.
A '>' cell in the paper (the longest duration tested was safe) is taken as that duration.

Inter-train interval: Chen R, Gerloff C, Classen J, Wassermann EM, Hallett M, Cohen LG (1997)
Safety of different inter-train intervals for repetitive transcranial magnetic stimulation and
recommendations for safe ranges of stimulation parameters. Electroencephalography and Clinical
Neurophysiology 105(6):415-421. Abstract (PubMed 9448642, VERIFIED): ten trains at 20 Hz for
1.6 s at 110% MT were safe 5 s apart; intervals of 1 s or less were unsafe for such trains above
100% MT; the authors also "suggest reducing the duration for individual rTMS trains by 25% from
our previous recommendations" (their updated tables were not reached, and the table here is not
reduced by 25%). Rule here (navtms's generalisation of that one tested condition, not a figure
of the paper): a repeated high-frequency (> 1 Hz) train above 100% MT needs >= 5 s between
trains.

Patterned (theta burst) and accelerated schedules have no duration table; they are checked
against the envelope of published use (not a safety limit, an experience limit): <= 1800 pulses
a session, <= 10 sessions a day, >= 50 min between sessions (Cole EJ, Stimpson KH, Bentzley BS,
et al. (2020) Am J Psychiatry 177(8):716-726, abstract, VERIFIED); intensity <= 120% RMT
(Blumberger et al. 2018, Lancet 391:1683-1692: NOT in the abstract, UNVERIFIED) or <= 80% AMT
(Huang et al. 2005, Neuron 45(2):201-206: NOT in the abstract, UNVERIFIED).

A protocol outside any rule is refused (`require_safe` raises ProtocolSafetyError) unless it
carries an Override with a reason; the findings and the override go into the session record.
Intensities given as % AMT are checked as if they were % RMT (AMT < RMT, so this is stricter).
"""
from __future__ import annotations

from dataclasses import dataclass

from navcore.errors import NavtmsError
from therapy.protocol import PatternKind, Protocol, ThresholdKind

ROSSI_2009 = ("Rossi S, Hallett M, Rossini PM, Pascual-Leone A, et al. (2009) Clinical Neurophysiology "
              "120(12):2008-2039, Table 3 (after Wassermann 1998, Electroencephalogr Clin Neurophysiol 108:1-16, Table 4)")
CHEN_1997 = "Chen R, Gerloff C, Classen J, et al. (1997) Electroencephalogr Clin Neurophysiol 105(6):415-421"
ENVELOPE = ("published use: Huang et al. 2005 Neuron 45:201-206; Blumberger et al. 2018 Lancet 391:1683-1692; "
            "Cole et al. 2020 Am J Psychiatry 177:716-726")
COLE_2020 = "Cole EJ, Stimpson KH, Bentzley BS, et al. (2020) Am J Psychiatry 177(8):716-726, abstract"
# The train-duration table was not reached in any stored copy of Rossi et al. 2009 (docstring).
TABLE_VERIFIED = False
# (frequency Hz, intensity % MT) -> seconds, for every cell read in the printed table. Empty: no
# cell could be read. A test requires MAX_TRAIN_S to agree with every cell listed here and
# TABLE_VERIFIED to be True only when every cell of MAX_TRAIN_S is listed.
VERIFIED_CELLS: dict[tuple[int, int], float] = {}

# Every figure the rules use: (value, unit, verified, source and where in it it was read).
VERIFICATION = {
    "max_train_s table (all cells)": (None, "s", False,
                                      "Rossi et al. 2009 Table 3: table text not reached in the stored copies; from memory"),
    "min_iti_s": (5.0, "s", True, "Chen et al. 1997 abstract (PubMed 9448642): ten 20 Hz, 1.6 s trains at 110% MT "
                                  "safe 5 s apart; <= 1 s unsafe above 100% MT"),
    "iti_applies_above_pct_mt": (100.0, "% MT", True, "Chen et al. 1997 abstract: '<= 1 s unsafe ... higher than 100% of MT'"),
    "tbs_max_pct_rmt": (120.0, "% RMT", False, "Blumberger et al. 2018: intensity not in the abstract; recalled"),
    "tbs_max_pct_amt": (80.0, "% AMT", False, "Huang et al. 2005: intensity not in the abstract; recalled"),
    "max_pulses_per_session_patterned": (1800, "pulses", True, "Cole et al. 2020 abstract: '1,800 pulses per session'"),
    "max_sessions_per_day": (10, "sessions", True, "Cole et al. 2020 abstract: '10 daily sessions over 5 consecutive days'"),
    "min_gap_min": (50.0, "min", True, "Cole et al. 2020 abstract: '50-minute intersession interval'"),
}

INTENSITIES_PCT_MT = (90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220)
# Longest safe single train (s) by frequency (Hz) and intensity (% MT). UNVERIFIED: written from
# memory of Rossi et al. 2009 Table 3; the table text could not be reached to check it (above).
# Two recollections of the 5 Hz row disagree by one column (7.6 s at 140% or at 150% MT); until
# the printed table is read, each 5 Hz cell is the SMALLER of the two (the stricter limit).
MAX_TRAIN_S = {
    1: (1800, 1800, 360, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50),
    5: (10, 10, 10, 10, 10, 7.6, 5.2, 3.6, 2.6, 2.4, 1.6, 1.4, 1.4, 1.2),
    10: (5, 5, 5, 4.2, 2.9, 1.3, 0.8, 0.9, 0.8, 0.5, 0.6, 0.4, 0.3, 0.3),
    20: (2.05, 2.05, 1.6, 1.0, 0.55, 0.35, 0.25, 0.25, 0.15, 0.2, 0.25, 0.2, 0.1, 0.1),
    25: (1.28, 1.28, 0.84, 0.4, 0.24, 0.2, 0.24, 0.2, 0.12, 0.08, 0.12, 0.12, 0.08, 0.08),
}
MIN_ITI_S = 5.0
TBS_MAX_PCT = {ThresholdKind.RESTING: 120.0, ThresholdKind.ACTIVE: 80.0}
MAX_PULSES_PER_SESSION_PATTERNED = 1800
MAX_SESSIONS_PER_DAY = 10
MIN_GAP_MIN = 50.0


class ProtocolSafetyError(NavtmsError):
    """A protocol outside the safety tables (or published use) without an override."""


@dataclass(frozen=True)
class Finding:
    """One rule applied: rule id, whether it passed, the protocol's value, the limit, the
    citation of the limit and whether that limit was verified against the paper."""

    rule: str
    ok: bool
    value: float
    limit: float
    unit: str
    citation: str
    verified: bool
    text: str


@dataclass(frozen=True)
class SafetyReport:
    protocol: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)

    def to_json(self) -> dict:
        return {"protocol": self.protocol, "ok": self.ok,
                "findings": [f.__dict__ for f in self.findings]}


def max_train_s(rate_hz: float, pct_mt: float) -> float | None:
    """Longest safe train (s) at rate_hz and pct_mt from the table, read conservatively: the
    next tabulated frequency at or above rate_hz, the next intensity at or above pct_mt (below
    90% MT: the 90% column), and never more than any lower intensity of that row allows (the
    table is not monotone: at 10 Hz, 160% MT allows 0.9 s but 150% only 0.8 s). None when
    outside the table (> 25 Hz or > 220% MT)."""
    rows = sorted(MAX_TRAIN_S)
    f = next((r for r in rows if r >= rate_hz - 1e-9), None)
    i = next((k for k, c in enumerate(INTENSITIES_PCT_MT) if c >= pct_mt - 1e-9), None)
    if f is None or i is None:
        return None
    return float(min(MAX_TRAIN_S[f][: i + 1]))


def check(protocol: Protocol) -> SafetyReport:
    """Apply every rule that concerns the protocol (see the module docstring)."""
    p, t, s = protocol.pattern, protocol.trains, protocol.schedule
    pct = protocol.intensity.pct
    out: list[Finding] = []
    if p.kind is PatternKind.SINGLE and p.rate_hz >= 1.0 - 1e-9:
        lim = max_train_s(p.rate_hz, pct)
        if lim is None:
            out.append(Finding("train-duration", False, t.on_s, float("nan"), "s", ROSSI_2009, TABLE_VERIFIED,
                               f"{p.rate_hz:g} Hz at {pct:g}% MT is outside the safety table (1-25 Hz, up to 220% MT)"))
        else:
            out.append(Finding("train-duration", t.on_s <= lim + 1e-9, t.on_s, lim, "s", ROSSI_2009, TABLE_VERIFIED,
                               f"train of {t.on_s:g} s at {p.rate_hz:g} Hz, {pct:g}% MT: table limit {lim:g} s"))
        if p.rate_hz > 1.0 + 1e-9 and t.trains > 1 and pct > 100.0:
            out.append(Finding("inter-train-interval", t.off_s >= MIN_ITI_S - 1e-9, t.off_s, MIN_ITI_S, "s",
                               CHEN_1997, True, f"{t.off_s:g} s between trains above 100% MT: at least {MIN_ITI_S:g} s"))
    elif p.kind is PatternKind.BURST:
        lim = TBS_MAX_PCT[protocol.intensity.of]
        unit = "% RMT" if protocol.intensity.of is ThresholdKind.RESTING else "% AMT"
        out.append(Finding("patterned-intensity", pct <= lim + 1e-9, pct, lim, unit, ENVELOPE, False,
                           f"theta burst at {pct:g}{unit}: published use up to {lim:g}{unit}"))
        out.append(Finding("patterned-pulses", protocol.pulses_per_session <= MAX_PULSES_PER_SESSION_PATTERNED,
                           protocol.pulses_per_session, MAX_PULSES_PER_SESSION_PATTERNED, "pulses", COLE_2020, True,
                           f"{protocol.pulses_per_session} pulses a session: published use up to "
                           f"{MAX_PULSES_PER_SESSION_PATTERNED}"))
    if s.sessions_per_day > 1:
        out.append(Finding("sessions-per-day", s.sessions_per_day <= MAX_SESSIONS_PER_DAY, s.sessions_per_day,
                           MAX_SESSIONS_PER_DAY, "sessions", COLE_2020, True,
                           f"{s.sessions_per_day} sessions a day: published use up to {MAX_SESSIONS_PER_DAY}"))
        out.append(Finding("session-gap", s.gap_min >= MIN_GAP_MIN - 1e-9, s.gap_min, MIN_GAP_MIN, "min", COLE_2020, True,
                           f"{s.gap_min:g} min between sessions: published use at least {MIN_GAP_MIN:g} min"))
    return SafetyReport(protocol.name, tuple(out))


def require_safe(protocol: Protocol) -> SafetyReport:
    """The report, or ProtocolSafetyError listing the failed rules when the protocol has no
    override. With an override (reason given) the failures are returned, not raised."""
    rep = check(protocol)
    if not rep.ok and (protocol.override is None or not protocol.override.reason.strip()):
        why = "; ".join(f.text for f in rep.failures)
        raise ProtocolSafetyError(f"protocol '{protocol.name}' is outside the safety tables ({why}); "
                                  "give an override with a reason to use it anyway")
    return rep
