"""TMS pulse triggers and the per-pulse log.

A pulse is requested at a time `pulse_ns` (monotonic ns; on replay, the recorded clock). Its
logged sample carries the coil pose INTERPOLATED to that time between the two nearest frames
(the last frame at or before it and the first frame at or after it; navcore.transforms.
interpolate_pose), the alignment errors of that pose to the target that was selected when the
pulse was requested, and the on-target state the operator saw. The pose is "not visible" when
either neighbour frame had no coil pose, when the two are more than `max_gap_ns` apart, or
when no frame follows the pulse before the session ends (never extrapolated).

With lock_to_target the request is refused (and the refusal logged) while the navigator is
not on target or its output is stale.

Triggers: KeyTrigger (a callable, e.g. bound to a key), LineTrigger (one pulse per text line
read from a device or file, e.g. a serial port set up as a tty, or a FIFO), and
ProtocolTrigger firing a TimedProtocol (trains of pulses at a fixed rate, for testing; the
one parser of the operator's `N,HZ,GAP_S,TRAINS,START_S` is parse_protocol).

pulses.csv columns: pulse, time_s, trigger, fired, refusal, target_index, target, visible,
frame_before, frame_after, on_target, within_tolerance, + records.ERROR_COLUMNS (mm, deg)
+ records.POSE_COLUMNS (interpolated T_mri_from_coil).
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, TextIO

import numpy as np

from navcore.transforms import interpolate_pose
from navigation.csvlog import CsvLog
from navigation.records import ERROR_COLUMNS, POSE_COLUMNS, error_fields, pose_fields
from targets.alignment import Alignment
from tracking.poselog import format_time_ns

PULSE_COLUMNS = ("pulse", "time_s", "trigger", "fired", "refusal", "target_index", "target", "visible",
                 "frame_before", "frame_after", "on_target", "within_tolerance") + ERROR_COLUMNS + POSE_COLUMNS
MAX_GAP_NS = 100_000_000    # neighbours further apart than 100 ms (the stale limit) are not interpolated
HISTORY = 256               # frames kept for interpolation


@dataclass(frozen=True)
class PulseDecision:
    """Answer to a pulse request: fired (True) or refused with a reason."""

    index: int
    pulse_ns: int
    fired: bool
    refusal: str = ""


@dataclass(frozen=True)
class PulseSample:
    """One logged pulse. T_mri_from_coil: interpolated pose (4x4 mri mm) or None."""

    index: int
    pulse_ns: int
    trigger: str
    fired: bool
    refusal: str
    target_index: int
    target_name: str
    T_mri_from_coil: Optional[np.ndarray]
    errors: Optional[Alignment]
    frame_before: Optional[int]
    frame_after: Optional[int]
    on_target: bool
    within_tolerance: bool

    @property
    def visible(self) -> bool:
        return self.T_mri_from_coil is not None

    def row(self) -> dict:
        r = {"pulse": self.index, "time_s": format_time_ns(self.pulse_ns), "trigger": self.trigger,
             "fired": self.fired, "refusal": self.refusal, "target_index": self.target_index,
             "target": self.target_name, "visible": self.visible, "frame_before": self.frame_before,
             "frame_after": self.frame_after, "on_target": self.on_target,
             "within_tolerance": self.within_tolerance}
        r.update(error_fields(self.errors))
        r.update(pose_fields(self.T_mri_from_coil))
        return r


@dataclass
class _Pending:
    index: int
    pulse_ns: int
    trigger: str
    target_index: int
    on_target: bool


class PulseLog:
    """Takes pulse requests (any thread) and navigator outputs (tracking thread); writes samples.

    navigator: navigation.navigator.Navigator (for target errors, tolerances and on-target state).
    log: a CsvLog with PULSE_COLUMNS (or None). on_sample: optional callback per sample."""

    def __init__(self, navigator, log: Optional[CsvLog] = None, lock_to_target: bool = False,
                 max_gap_ns: int = MAX_GAP_NS, history: int = HISTORY,
                 on_sample: Optional[Callable[[PulseSample], None]] = None):
        self.navigator = navigator
        self.log = log
        self.lock_to_target = lock_to_target
        self.max_gap_ns = int(max_gap_ns)
        self.on_sample = on_sample
        self.samples: list[PulseSample] = []
        self.fired_count = 0
        self._times: deque = deque(maxlen=history)     # capture_ns, ascending
        self._frames: deque = deque(maxlen=history)    # (frame_number, capture_ns, T or None)
        self._pending: list[_Pending] = []
        self._count = 0
        self._lock = threading.Lock()

    # -- tracking thread -------------------------------------------------------------
    def on_output(self, out) -> list[PulseSample]:
        """Record one NavOutput and resolve the pending pulses it brackets."""
        with self._lock:
            if self._times and out.capture_ns < self._times[-1]:
                return []   # out of order: never rewrites history
            self._times.append(out.capture_ns)
            self._frames.append((out.frame_number, out.capture_ns, out.T_mri_from_coil))
            ready = [p for p in self._pending if p.pulse_ns <= out.capture_ns]
            self._pending = [p for p in self._pending if p.pulse_ns > out.capture_ns]
            return [self._resolve(p) for p in ready]

    def finish(self) -> list[PulseSample]:
        """Resolve pulses no frame followed (logged as not visible)."""
        with self._lock:
            ready, self._pending = self._pending, []
            return [self._resolve(p, final=True) for p in ready]

    # -- any thread ------------------------------------------------------------------
    def request(self, pulse_ns: int, trigger: str = "key") -> PulseDecision:
        """Ask for a pulse at `pulse_ns`. Refused (and logged) under lock_to_target when the
        navigator is off target or stale; otherwise logged once a frame follows the pulse."""
        nav = self.navigator
        with self._lock:
            self._count += 1
            idx = self._count
            last = nav.last
            on_target = bool(last is not None and last.on_target and last.visible)
            refusal = ""
            if self.lock_to_target:
                if last is None or not last.visible:
                    refusal = "coil not visible"
                elif nav.is_stale():
                    refusal = "tracking stale"
                elif not on_target:
                    refusal = "off target"
            p = _Pending(idx, int(pulse_ns), trigger, nav.target_index, on_target)
            if refusal:
                self._emit(self._sample(p, None, None, None, fired=False, refusal=refusal))
                return PulseDecision(idx, int(pulse_ns), False, refusal)
            if self._times and self._times[-1] >= p.pulse_ns:
                self._resolve(p)
            else:
                self._pending.append(p)
            return PulseDecision(idx, int(pulse_ns), True)

    # -- internals (lock held) ---------------------------------------------------------
    def _resolve(self, p: _Pending, final: bool = False) -> PulseSample:
        T, before, after = self._interpolate(p.pulse_ns)
        return self._emit(self._sample(p, T, before, after, fired=True, refusal=""))

    def _interpolate(self, t: int):
        times = self._times
        j = bisect.bisect_left(times, t)          # first frame at or after t
        if j >= len(times):
            return None, (self._frames[-1][0] if times else None), None
        f1 = self._frames[j]
        if times[j] == t:
            return (None if f1[2] is None else f1[2].copy()), f1[0], f1[0]
        if j == 0:
            return None, None, f1[0]
        f0 = self._frames[j - 1]
        if f0[2] is None or f1[2] is None or f1[1] - f0[1] > self.max_gap_ns:
            return None, f0[0], f1[0]
        s = (t - f0[1]) / (f1[1] - f0[1])
        return interpolate_pose(f0[2], f1[2], s), f0[0], f1[0]

    def _sample(self, p: _Pending, T, before, after, fired: bool, refusal: str) -> PulseSample:
        nav = self.navigator
        errs = None if T is None else nav.errors_for(T, p.target_index)
        inside = bool(errs is not None and nav.tolerances.inside(errs, margin=False))
        return PulseSample(p.index, p.pulse_ns, p.trigger, fired, refusal, p.target_index,
                           nav.targets[p.target_index].name, T, errs, before, after, p.on_target, inside)

    def _emit(self, s: PulseSample) -> PulseSample:
        self.samples.append(s)
        self.fired_count += bool(s.fired)
        if self.log is not None:
            self.log.write(s.row())
        if self.on_sample is not None:
            self.on_sample(s)
        return s


class KeyTrigger:
    """A callable that requests a pulse now (bind it to a key): returns the PulseDecision."""

    def __init__(self, pulses: PulseLog, clock: Callable[[], int] = time.monotonic_ns, name: str = "key"):
        self.pulses, self.clock, self.name = pulses, clock, name

    def __call__(self) -> PulseDecision:
        return self.pulses.request(int(self.clock()), self.name)


class LineTrigger:
    """One pulse per non-empty text line read from a device or file (a tty set to the
    stimulator's serial line, a FIFO, a file). Reads on its own thread; stops at end of file."""

    def __init__(self, pulses: PulseLog, stream: TextIO | str,
                 clock: Callable[[], int] = time.monotonic_ns, name: str = "line"):
        self.pulses, self.clock, self.name = pulses, clock, name
        self._stream = open(stream, "r", encoding="utf-8", errors="replace") if isinstance(stream, str) else stream
        self._owns = isinstance(stream, str)
        self.decisions: list[PulseDecision] = []
        self._thread = threading.Thread(target=self._run, name="pulse-line", daemon=True)

    def start(self) -> "LineTrigger":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for line in self._stream:
                if line.strip():
                    self.decisions.append(self.pulses.request(int(self.clock()), self.name))
        finally:
            if self._owns:
                self._stream.close()

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)


@dataclass(frozen=True)
class TimedProtocol:
    """Trains of pulses: `pulses_per_train` at `frequency_hz`, trains separated by
    `inter_train_s` (end of one train's last pulse to the next train's first), `trains` trains,
    starting at start_ns (monotonic ns or the recorded clock)."""

    start_ns: int
    pulses_per_train: int = 10
    frequency_hz: float = 10.0
    inter_train_s: float = 1.0
    trains: int = 1

    def times_ns(self) -> list[int]:
        period = 1e9 / self.frequency_hz
        out, t = [], float(self.start_ns)
        for _ in range(self.trains):
            for k in range(self.pulses_per_train):
                out.append(int(round(t + k * period)))
            t = out[-1] + self.inter_train_s * 1e9
        return out


@dataclass(frozen=True)
class ProtocolSpec:
    """Timed pulse trains as the operator gives them (`--protocol N,HZ,GAP_S,TRAINS,START_S`):
    the first pulse START_S seconds after the first frame of the run (see ProtocolTrigger)."""

    pulses_per_train: int
    frequency_hz: float
    inter_train_s: float
    trains: int
    start_s: float

    def at(self, first_frame_ns: int) -> TimedProtocol:
        """The protocol on a clock whose first frame came at first_frame_ns (ns)."""
        return TimedProtocol(int(first_frame_ns) + int(round(self.start_s * 1e9)), self.pulses_per_train,
                             self.frequency_hz, self.inter_train_s, self.trains)

    def offsets_ns(self) -> list[int]:
        """Pulse times (ns) after the first frame."""
        return self.at(0).times_ns()


@dataclass(frozen=True)
class PulseSchedule:
    """Pulses at any offsets (s, ascending) after the first frame of the run: a pattern the
    N,HZ,GAP_S,TRAINS,START_S form cannot say (theta bursts, a treatment protocol's trains:
    therapy.protocol.Protocol.pulse_times_s shifted by a start). Used like a ProtocolSpec."""

    offsets_s: tuple[float, ...]

    def offsets_ns(self) -> list[int]:
        """Pulse times (ns) after the first frame."""
        return [int(round(t * 1e9)) for t in self.offsets_s]


PROTOCOL_FORMAT = "N,HZ,GAP_S,TRAINS,START_S"


def parse_protocol(text: str) -> ProtocolSpec:
    """The one parser of a pulse protocol 'N,HZ,GAP_S,TRAINS,START_S' (e.g. '10,10,2,3,1.0': 3
    trains of 10 pulses at 10 Hz, 2 s apart, the first 1 s after the first frame). Raises
    NavtmsError with one sentence for anything else."""
    import math

    from navcore.errors import NavtmsError

    try:
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 5:
            raise ValueError
        n, hz, gap, trains, start = int(parts[0]), float(parts[1]), float(parts[2]), int(parts[3]), float(parts[4])
        if n < 1 or trains < 1 or not (math.isfinite(hz) and hz > 0) or not (math.isfinite(gap) and gap >= 0) \
                or not (math.isfinite(start) and start >= 0):
            raise ValueError
    except ValueError:
        raise NavtmsError(f"the pulse protocol {text!r} is not {PROTOCOL_FORMAT} (e.g. 10,10,2,3,1.0: whole "
                          "numbers N, TRAINS >= 1, HZ > 0, GAP_S and START_S >= 0 seconds)") from None
    return ProtocolSpec(n, hz, gap, trains, start)


class ProtocolTrigger:
    """Fires pulses as the loop's clock passes their times (call poll per frame).

    times_ns: absolute times on the loop's clock (a TimedProtocol's, a recorded pulses.csv's);
    offsets_ns: times after the first poll (the first frame), e.g. ProtocolSpec.offsets_ns()."""

    def __init__(self, pulses: PulseLog, times_ns: Iterable[int] = (), name: str = "protocol",
                 offsets_ns: Iterable[int] = ()):
        self.pulses, self.name = pulses, name
        self._times = sorted(int(t) for t in times_ns)
        self._offsets = [int(t) for t in offsets_ns]
        self._next = 0
        self.decisions: list[PulseDecision] = []

    @property
    def done(self) -> bool:
        return not self._offsets and self._next >= len(self._times)

    def poll(self, now_ns: int) -> list[PulseDecision]:
        if self._offsets:   # anchored at the first frame
            self._times = sorted(self._times[self._next:] + [int(now_ns) + t for t in self._offsets])
            self._offsets, self._next = [], 0
        out = []
        while self._next < len(self._times) and self._times[self._next] <= now_ns:
            out.append(self.pulses.request(self._times[self._next], self.name))
            self._next += 1
        self.decisions.extend(out)
        return out

