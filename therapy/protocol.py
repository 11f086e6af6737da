"""A treatment protocol as data: pattern, trains, intensity, schedule, target, coil, sources.

Units: seconds (`*_s`), minutes (`*_min`), hertz (`*_hz`), intensity in % of a motor
threshold (`pct`, of resting or active MT) or % of maximum stimulator output (`*_pct_mso`).

Pattern (one of two kinds):
- SINGLE: single pulses at `rate_hz` (F Hz, e.g. 10 Hz rTMS, 1 Hz rTMS);
- BURST: bursts of `burst_pulses` pulses at `burst_rate_hz` (f Hz inside a burst), the bursts
  repeated at `rate_hz` (F Hz): theta burst is 3 pulses at 50 Hz repeated at 5 Hz
  (Huang YZ, Edwards MJ, Rounis E, Bhatia KP, Rothwell JC, 2005, Neuron 45:201-206).
Trains: `on_s` seconds of the pattern, then `off_s` seconds of rest (the inter-train
interval), `trains` trains per session (a continuous protocol is one train with off_s 0).

A protocol file (format_version 1) is `Protocol.to_json()`; `protocol_from_json` reads one and
raises InputFileError naming the file and the field when anything is malformed.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import InputFileError

FORMAT_VERSION = 1


class PatternKind(enum.Enum):
    SINGLE = "single"
    BURST = "burst"


class ThresholdKind(enum.Enum):
    RESTING = "rmt"     # resting motor threshold
    ACTIVE = "amt"      # active motor threshold (during a light contraction)


@dataclass(frozen=True)
class Pattern:
    """SINGLE: pulses at rate_hz. BURST: burst_pulses pulses at burst_rate_hz, bursts at rate_hz."""

    kind: PatternKind
    rate_hz: float
    burst_pulses: int = 1
    burst_rate_hz: float = 0.0

    def pulses_in(self, seconds: float) -> int:
        """Pulses delivered in `seconds` of the pattern (a burst counts whole when it starts)."""
        events = int(math.floor(seconds * self.rate_hz + 1e-9))
        return events * (self.burst_pulses if self.kind is PatternKind.BURST else 1)

    def describe(self) -> str:
        if self.kind is PatternKind.SINGLE:
            return f"{self.rate_hz:g} Hz"
        return f"bursts of {self.burst_pulses} at {self.burst_rate_hz:g} Hz repeated at {self.rate_hz:g} Hz"


@dataclass(frozen=True)
class Trains:
    """on_s of stimulation, off_s of rest after each train but the last, `trains` per session."""

    on_s: float
    off_s: float
    trains: int


@dataclass(frozen=True)
class MotorThresholdRef:
    """The MT measurement an intensity refers to: value (% MSO), method (e.g. 'relative-frequency
    5/10', 'ml-pest'), date YYYY-MM-DD, site (e.g. 'hotspot')."""

    value_pct_mso: float
    method: str
    date: str
    site: str = "hotspot"


@dataclass(frozen=True)
class Intensity:
    """pct % of the `of` motor threshold; depth_adjusted: the MT is moved to the target's
    scalp-cortex distance (therapy.dose) before pct is applied; mt: the measurement used, when
    known (a library protocol has none, a patient's protocol does)."""

    pct: float
    of: ThresholdKind = ThresholdKind.RESTING
    depth_adjusted: bool = False
    mt: Optional[MotorThresholdRef] = None

    def describe(self) -> str:
        t = f"{self.pct:g}% {'RMT' if self.of is ThresholdKind.RESTING else 'AMT'}"
        return t + (" (depth-adjusted)" if self.depth_adjusted else "")


@dataclass(frozen=True)
class TaperStep:
    """After the daily phase: `weeks` weeks with `sessions_per_week` sessions."""

    weeks: int
    sessions_per_week: int


@dataclass(frozen=True)
class Schedule:
    """sessions_per_day sessions `gap_min` minutes apart (end of one to start of the next) on
    `days` treatment days, `days_per_week` of them a week, then the taper steps."""

    days: int
    sessions_per_day: int = 1
    gap_min: float = 0.0
    days_per_week: int = 5
    taper: tuple[TaperStep, ...] = ()

    @property
    def sessions(self) -> int:
        return self.days * self.sessions_per_day + sum(t.weeks * t.sessions_per_week for t in self.taper)


@dataclass(frozen=True)
class TargetRef:
    """name (e.g. 'dlpfc-left'), space ('mni', 'mri', 'scalp-rule'), how it was derived."""

    name: str
    space: str = ""
    derivation: str = ""


@dataclass(frozen=True)
class CoilRef:
    """Coil model (e.g. 'figure-8 70 mm') and orientation (e.g. 'handle 45 deg posterior-lateral')."""

    model: str = ""
    orientation: str = ""


@dataclass(frozen=True)
class Source:
    """Where a protocol's numbers come from: the citation (authors, year, journal, volume:pages),
    which figures it gives, and whether those were checked against the paper (verified False:
    recalled, check before clinical use)."""

    citation: str
    gives: str = ""
    verified: bool = False


@dataclass(frozen=True)
class Override:
    """A protocol run outside the safety tables on purpose: the reason, who, when (YYYY-MM-DD)."""

    reason: str
    by: str = ""
    date: str = ""


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    pattern: Pattern
    trains: Trains
    intensity: Intensity
    schedule: Schedule
    target: TargetRef
    coil: CoilRef = CoilRef()
    sources: tuple[Source, ...] = ()
    notes: str = ""
    override: Optional[Override] = None

    # -------------------------------------------------------------- derived figures
    @property
    def pulses_per_train(self) -> int:
        return self.pattern.pulses_in(self.trains.on_s)

    @property
    def pulses_per_session(self) -> int:
        return self.pulses_per_train * self.trains.trains

    @property
    def session_duration_s(self) -> float:
        """First pulse to end of the last train (no rest after the last train)."""
        return self.trains.trains * self.trains.on_s + (self.trains.trains - 1) * self.trains.off_s

    @property
    def pulses_per_course(self) -> int:
        return self.pulses_per_session * self.schedule.sessions

    def pulse_times_s(self) -> np.ndarray:
        """(pulses_per_session,) times (s) of every pulse from the session's first pulse: train k
        starts at k (on_s + off_s); inside it, events (single pulses or burst starts) every
        1/rate_hz, and a burst's pulses every 1/burst_rate_hz. navigation.pulses.ProtocolTrigger
        fires such a schedule (times_ns = start_ns + 1e9 * these)."""
        events = np.arange(int(math.floor(self.trains.on_s * self.pattern.rate_hz + 1e-9))) / self.pattern.rate_hz
        if self.pattern.kind is PatternKind.BURST:
            events = (events[:, None] + np.arange(self.pattern.burst_pulses)[None, :] / self.pattern.burst_rate_hz).ravel()
        starts = np.arange(self.trains.trains) * (self.trains.on_s + self.trains.off_s)
        return (starts[:, None] + events[None, :]).ravel()

    def with_override(self, override: Optional[Override]) -> "Protocol":
        return replace(self, override=override)

    def describe(self) -> str:
        """One line: '10 Hz, 4 s on / 26 s off x 75 = 3000 pulses (37.5 min), 120% RMT, 1/day x 30 days'."""
        t = self.trains
        s = self.schedule
        per_day = f"{s.sessions_per_day}/day" + (f" {s.gap_min:g} min apart" if s.sessions_per_day > 1 else "")
        taper = "".join(f" + {x.weeks} wk x {x.sessions_per_week}/wk" for x in s.taper)
        return (f"{self.pattern.describe()}, {t.on_s:g} s on / {t.off_s:g} s off x {t.trains} = "
                f"{self.pulses_per_session} pulses ({self.session_duration_s / 60:.1f} min), "
                f"{self.intensity.describe()}, {per_day} x {s.days} days{taper}")

    # -------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        i = self.intensity
        return {
            "name": self.name, "title": self.title,
            "pattern": {"kind": self.pattern.kind.value, "rate_hz": self.pattern.rate_hz,
                        "burst_pulses": self.pattern.burst_pulses, "burst_rate_hz": self.pattern.burst_rate_hz},
            "trains": {"on_s": self.trains.on_s, "off_s": self.trains.off_s, "trains": self.trains.trains},
            "intensity": {"pct": i.pct, "of": i.of.value, "depth_adjusted": i.depth_adjusted,
                          "mt": None if i.mt is None else {"value_pct_mso": i.mt.value_pct_mso, "method": i.mt.method,
                                                            "date": i.mt.date, "site": i.mt.site}},
            "schedule": {"days": self.schedule.days, "sessions_per_day": self.schedule.sessions_per_day,
                         "gap_min": self.schedule.gap_min, "days_per_week": self.schedule.days_per_week,
                         "taper": [{"weeks": t.weeks, "sessions_per_week": t.sessions_per_week}
                                   for t in self.schedule.taper]},
            "target": {"name": self.target.name, "space": self.target.space, "derivation": self.target.derivation},
            "coil": {"model": self.coil.model, "orientation": self.coil.orientation},
            "sources": [{"citation": s.citation, "gives": s.gives, "verified": s.verified} for s in self.sources],
            "notes": self.notes,
            "override": None if self.override is None else {"reason": self.override.reason, "by": self.override.by,
                                                            "date": self.override.date},
            "derived": {"pulses_per_train": self.pulses_per_train, "pulses_per_session": self.pulses_per_session,
                        "session_duration_s": self.session_duration_s, "sessions": self.schedule.sessions,
                        "pulses_per_course": self.pulses_per_course},
        }


# ------------------------------------------------------------------ reading
class _Reader:
    """Typed field access that names the file and the field on any problem."""

    def __init__(self, path: Path, where: str):
        self.path, self.where = path, where

    def fail(self, key: str, what: str):
        raise InputFileError(self.path, f"{self.where}: '{key}' {what}")

    def obj(self, o, key: str) -> dict:
        v = o.get(key) if isinstance(o, dict) else None
        if not isinstance(v, dict):
            self.fail(key, "must be a JSON object")
        return v

    def num(self, o: dict, key: str, lo: float, hi: float, default=None, integer: bool = False):
        v = o.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo <= v <= hi) \
                or (integer and float(v) != int(v)):
            self.fail(key, f"must be a{'n integer' if integer else ' number'} in [{lo:g}, {hi:g}]")
        return int(v) if integer else float(v)

    def text(self, o: dict, key: str, required: bool = False) -> str:
        v = o.get(key, "")
        if v is None:
            v = ""
        if not isinstance(v, str) or (required and not v.strip()):
            self.fail(key, "must be a non-empty text" if required else "must be text")
        return v

    def enum(self, o: dict, key: str, kind):
        try:
            return kind(o.get(key))
        except ValueError:
            self.fail(key, f"must be one of {[k.value for k in kind]}")


def _date_ok(text: str) -> bool:
    import datetime as _dt
    try:
        _dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def protocol_from_json(obj: dict, path: str | Path = "protocol") -> Protocol:
    """A Protocol from its to_json() dict (the 'derived' block is recomputed, not read)."""
    path = Path(path)
    if not isinstance(obj, dict):
        raise InputFileError(path, "a protocol must be a JSON object")
    r = _Reader(path, f"protocol {obj.get('name', '?')!r}")
    name = r.text(obj, "name", required=True)
    p = r.obj(obj, "pattern")
    kind = r.enum(p, "kind", PatternKind)
    pattern = Pattern(kind, r.num(p, "rate_hz", 0.01, 100.0),
                      r.num(p, "burst_pulses", 1, 10, default=1, integer=True),
                      r.num(p, "burst_rate_hz", 0.0, 200.0, default=0.0))
    if kind is PatternKind.BURST and (pattern.burst_pulses < 2 or pattern.burst_rate_hz <= pattern.rate_hz
                                      or pattern.burst_pulses / pattern.burst_rate_hz >= 1.0 / pattern.rate_hz):
        r.fail("pattern", "is a burst pattern whose bursts do not fit between burst starts "
                          "(need 2+ pulses, burst_rate_hz > rate_hz, pulses/burst_rate < 1/rate)")
    t = r.obj(obj, "trains")
    trains = Trains(r.num(t, "on_s", 0.01, 7200.0), r.num(t, "off_s", 0.0, 3600.0),
                    r.num(t, "trains", 1, 10000, integer=True))
    i = r.obj(obj, "intensity")
    mt = None
    if i.get("mt") is not None:
        m = r.obj(i, "mt")
        mt = MotorThresholdRef(r.num(m, "value_pct_mso", 1.0, 100.0), r.text(m, "method", required=True),
                               r.text(m, "date", required=True), r.text(m, "site"))
        if not _date_ok(mt.date):
            r.fail("date", f"of the motor threshold is {mt.date!r}, not YYYY-MM-DD")
    dep = i.get("depth_adjusted", False)
    if not isinstance(dep, bool):
        r.fail("depth_adjusted", "must be true or false")
    intensity = Intensity(r.num(i, "pct", 1.0, 300.0), r.enum(i, "of", ThresholdKind), dep, mt)
    s = r.obj(obj, "schedule")
    taper_raw = s.get("taper") or []
    if not isinstance(taper_raw, list):
        r.fail("taper", "must be a list")
    taper = tuple(TaperStep(r.num(x, "weeks", 1, 52, integer=True), r.num(x, "sessions_per_week", 1, 7, integer=True))
                  if isinstance(x, dict) else r.fail("taper", "must hold objects") for x in taper_raw)
    schedule = Schedule(r.num(s, "days", 1, 365, integer=True), r.num(s, "sessions_per_day", 1, 48, default=1, integer=True),
                        r.num(s, "gap_min", 0.0, 1440.0, default=0.0), r.num(s, "days_per_week", 1, 7, default=5, integer=True),
                        taper)
    tg = r.obj(obj, "target")
    target = TargetRef(r.text(tg, "name", required=True), r.text(tg, "space"), r.text(tg, "derivation"))
    c = obj.get("coil") or {}
    coil = CoilRef(r.text(c, "model"), r.text(c, "orientation")) if isinstance(c, dict) else r.fail("coil", "must be an object")
    src = obj.get("sources") or []
    if not isinstance(src, list) or not all(isinstance(x, dict) for x in src):
        r.fail("sources", "must be a list of objects")
    sources = tuple(Source(r.text(x, "citation", required=True), r.text(x, "gives"), bool(x.get("verified", False)))
                    for x in src)
    ov = None
    if obj.get("override") is not None:
        o = r.obj(obj, "override")
        ov = Override(r.text(o, "reason", required=True), r.text(o, "by"), r.text(o, "date"))
    return Protocol(name, r.text(obj, "title"), pattern, trains, intensity, schedule, target, coil, sources,
                    r.text(obj, "notes"), ov)
