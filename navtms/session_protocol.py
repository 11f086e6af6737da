"""A session's protocol file (SESSION/protocol.json): what the operator entered, read and written,
and the pulse schedule of its treatment record (navtms protocol --use; navigate and replay drive it).

Each session folder may hold protocol.json (format_version 1, atomic), what the operator
entered: {date (YYYY-MM-DD), patient, frequency_hz, pulses_planned, intensity_pct_mt (% of
motor threshold), threshold_pct_mso (the motor threshold used, % MSO), intensity_pct_mso (the
stimulator output used, % MSO), target, notes, and, when a protocol record was used, record
(navtms.treatment: the full protocol, safety check, depth adjustment, output)}.
The course (navtms.course) reads it for every session; without it the date is session.json's
created_utc and the protocol is unknown.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from navcore.errors import InputFileError, NavtmsError
from navcore.fileio import read_json, write_json
from navtms.session import SESSION_FILE
from navtms.treatment import record_from_json

FORMAT_VERSION = 1
PROTOCOL_FILE = "protocol.json"


@dataclass(frozen=True)
class Protocol:
    """What the operator entered for one session (see the module docstring). Intensities in %
    (of motor threshold: *_pct_mt; of maximum stimulator output: *_pct_mso)."""

    date: str
    frequency_hz: Optional[float] = None
    pulses_planned: Optional[int] = None
    intensity_pct_mt: Optional[float] = None
    threshold_pct_mso: Optional[float] = None
    intensity_pct_mso: Optional[float] = None
    target: str = ""
    patient: str = ""
    notes: str = ""
    record: Optional[dict] = None     # navtms.treatment.TreatmentRecord.to_json() when a protocol record was used

    def __post_init__(self):
        if self.intensity_pct_mso is None and self.intensity_pct_mt is not None and self.threshold_pct_mso is not None:
            from therapy.dose import output_pct_mso

            object.__setattr__(self, "intensity_pct_mso", output_pct_mso(self.threshold_pct_mso, self.intensity_pct_mt)[0])

    def to_json(self) -> dict:
        return {"date": self.date, "patient": self.patient, "frequency_hz": self.frequency_hz,
                "pulses_planned": self.pulses_planned, "intensity_pct_mt": self.intensity_pct_mt,
                "threshold_pct_mso": self.threshold_pct_mso, "intensity_pct_mso": self.intensity_pct_mso,
                "target": self.target, "notes": self.notes,
                **({} if self.record is None else {"record": self.record})}

    @property
    def treatment(self):
        """navtms.treatment.TreatmentRecord of the record block, or None."""
        if self.record is None:
            return None
        return record_from_json(self.record, PROTOCOL_FILE)

    def describe(self, pulses: bool = True) -> str:
        """'10 Hz 3000 pulses 120% MT = 62% MSO' (what is known); with a protocol record
        'itbs-left-dlpfc 120% RMT = 62% MSO' (the pulses are in the record)."""
        parts = []
        if self.record is not None:
            p = self.record.get("protocol") or {}
            i = p.get("intensity") or {}
            parts.append(str(p.get("name", "")))
            parts.append(f"{i.get('pct', 0):g}% {str(i.get('of', 'rmt')).upper()}")
            parts.append(f"= {self.intensity_pct_mso:g}% MSO")
            return " ".join(parts)
        if self.frequency_hz is not None:
            parts.append(f"{self.frequency_hz:g} Hz")
        if pulses and self.pulses_planned is not None:
            parts.append(f"{self.pulses_planned} pulses")
        if self.intensity_pct_mt is not None:
            parts.append(f"{self.intensity_pct_mt:g}% MT")
        if self.intensity_pct_mso is not None:
            parts.append(f"= {self.intensity_pct_mso:g}% MSO")
        return " ".join(parts) or "not recorded"


def write_protocol(session_dir: str | Path, protocol: Protocol) -> Path:
    """Write SESSION/protocol.json atomically (the session folder must exist)."""
    folder = Path(session_dir)
    if not (folder / SESSION_FILE).is_file():
        raise InputFileError(folder, "is not a session folder (no session.json)")
    _date(protocol.date, folder / PROTOCOL_FILE)
    return write_json(folder / PROTOCOL_FILE, protocol.to_json(), format_version=FORMAT_VERSION)


def _date(text, where) -> str:
    try:
        _dt.date.fromisoformat(str(text))
    except ValueError:
        raise InputFileError(where, f"the date {text!r} is not YYYY-MM-DD") from None
    return str(text)


def _num(path, obj, key, kind=float):
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1e6:  # also NaN, 10**400
        raise InputFileError(path, f"'{key}' in the protocol file must be a non-negative number or null")
    return kind(v)


def read_protocol(session_dir: str | Path) -> Optional[Protocol]:
    """SESSION/protocol.json, or None when the session has none (InputFileError when malformed)."""
    path = Path(session_dir) / PROTOCOL_FILE
    if not path.exists():
        return None
    obj = read_json(path, what="protocol file", supported_versions=(FORMAT_VERSION,))
    return Protocol(date=_date(obj.get("date"), path), frequency_hz=_num(path, obj, "frequency_hz"),
                    pulses_planned=_num(path, obj, "pulses_planned", int),
                    intensity_pct_mt=_num(path, obj, "intensity_pct_mt"),
                    threshold_pct_mso=_num(path, obj, "threshold_pct_mso"),
                    intensity_pct_mso=_num(path, obj, "intensity_pct_mso"),
                    target=str(obj.get("target") or ""), patient=str(obj.get("patient") or ""),
                    notes=str(obj.get("notes") or ""), record=_record(path, obj.get("record")))


def _record(path: Path, obj) -> Optional[dict]:
    if obj is None:
        return None
    record_from_json(obj, path)          # validates (InputFileError naming the file)
    return obj


def session_schedule(session_dir: str | Path, start_s: float = 1.0):
    """The pulse schedule of a session's protocol record (navtms protocol --use), the first
    pulse start_s after the first frame: a navigation.pulses.PulseSchedule for navigate/replay.
    NavtmsError when the session has no protocol record."""
    from navigation.pulses import PulseSchedule

    if not (math.isfinite(start_s) and start_s >= 0):
        raise NavtmsError(f"the protocol start {start_s} s must be a finite, non-negative time")
    proto = read_protocol(session_dir)
    if proto is None or proto.record is None:
        raise NavtmsError(f"{session_dir}: the session has no protocol record; record one with "
                          "navtms protocol SESSION --use NAME")
    times = proto.treatment.protocol.pulse_times_s() + float(start_s)
    return PulseSchedule(tuple(float(t) for t in times))
