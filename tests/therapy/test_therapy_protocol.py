"""therapy.protocol and therapy.library: derived figures against the published numbers (not
the code's own output), JSON round trips, malformed files, the clinic library."""
import json

import numpy as np

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import InputFileError, NavtmsError
from therapy.library import add_protocol, all_protocols, find_protocol, read_library, standard_protocols
from therapy.protocol import (Intensity, MotorThresholdRef, Override, Pattern, PatternKind, Protocol, Schedule,
                              TargetRef, ThresholdKind, Trains, protocol_from_json)


def lib():
    return {p.name: p for p in standard_protocols()}


def test_standard_library_matches_the_published_figures():
    L = lib()
    assert set(L) >= {"10hz-left-dlpfc", "1hz-right-dlpfc", "itbs-left-dlpfc", "ctbs-huang2005", "saint-accelerated-itbs"}
    ten = L["10hz-left-dlpfc"]
    assert ten.pulses_per_session == 3000                                  # O'Reardon 2007
    assert (ten.session_duration_s + ten.trains.off_s) / 60 == pytest.approx(37.5)   # THREE-D: 37.5 min
    itbs = L["itbs-left-dlpfc"]
    assert itbs.pulses_per_session == 600 and 3.0 <= itbs.session_duration_s / 60 <= 3.5   # about 3 min
    ctbs = L["ctbs-huang2005"]
    assert ctbs.pulses_per_session == 600 and ctbs.session_duration_s == 40.0
    saint = L["saint-accelerated-itbs"]
    assert saint.pulses_per_session == 1800 and saint.schedule.sessions_per_day == 10
    assert saint.schedule.gap_min == 50 and saint.schedule.days == 5 and saint.schedule.sessions == 50
    assert saint.intensity.pct == 90 and saint.intensity.depth_adjusted
    assert saint.pulses_per_course == 90_000
    for p in L.values():
        assert p.sources and all(s.citation for s in p.sources)
        assert all(isinstance(s.verified, bool) and s.gives for s in p.sources)
    assert [s.verified for s in saint.sources if "Cole EJ, Stimpson" in s.citation] == [True]


def test_taper_counts_in_the_sessions():
    ten = lib()["10hz-left-dlpfc"]
    assert ten.schedule.sessions == 30 + 3 + 2 + 1


def _protocols():
    kinds = st.sampled_from([PatternKind.SINGLE, PatternKind.BURST])
    return st.builds(
        lambda k, rate, on, off, n, pct, of, dep, days, spd, gap: Protocol(
            "p", "t", Pattern(k, rate, 3, 50.0) if k is PatternKind.BURST else Pattern(k, rate * 4),
            Trains(on, off, n), Intensity(pct, of, dep, MotorThresholdRef(50.0, "ml-pest", "2026-01-02")),
            Schedule(days, spd, gap), TargetRef("dlpfc", "mni", "library")),
        kinds, st.floats(0.5, 5.0), st.floats(0.1, 100), st.floats(0, 60), st.integers(1, 100),
        st.floats(50, 130), st.sampled_from(list(ThresholdKind)), st.booleans(), st.integers(1, 40),
        st.integers(1, 10), st.floats(0, 120))


@settings(max_examples=60, deadline=None)
@given(_protocols())
def test_json_round_trip(p):
    q = protocol_from_json(json.loads(json.dumps(p.to_json())))
    assert q == p
    assert q.pulses_per_session == p.pulses_per_session


def test_pulse_count_by_hand():
    p = Pattern(PatternKind.BURST, 5.0, 3, 50.0)
    assert p.pulses_in(2.0) == 30 and p.pulses_in(40.0) == 600
    assert Pattern(PatternKind.SINGLE, 10.0).pulses_in(4.0) == 40


@pytest.mark.parametrize("mutate, word", [
    (lambda o: o["pattern"].update(rate_hz=-1), "rate_hz"),
    (lambda o: o["pattern"].update(kind="ramp"), "kind"),
    (lambda o: o["trains"].update(trains=2.5), "trains"),
    (lambda o: o["intensity"].update(pct="high"), "pct"),
    (lambda o: o["intensity"].update(of="mt"), "of"),
    (lambda o: o["intensity"].update(mt={"value_pct_mso": 50, "method": "x", "date": "yesterday"}), "YYYY-MM-DD"),
    (lambda o: o.pop("schedule"), "schedule"),
    (lambda o: o["pattern"].update(burst_rate_hz=4.0), "burst"),
    (lambda o: o.update(override={"reason": ""}), "reason"),
])
def test_malformed_protocol_names_the_field(mutate, word):
    o = json.loads(json.dumps(lib()["saint-accelerated-itbs"].to_json()))
    mutate(o)
    with pytest.raises(InputFileError, match=word):
        protocol_from_json(o, "x.json")


def test_clinic_library_adds_and_refuses_duplicates(tmp_path):
    path = tmp_path / "clinic.json"
    base = lib()["10hz-left-dlpfc"]
    from dataclasses import replace
    mine = replace(base, name="10hz-110", intensity=replace(base.intensity, pct=110.0))
    add_protocol(path, mine)
    assert [p.name for p in read_library(path)] == ["10hz-110"]
    assert "10hz-110" in all_protocols(path) and find_protocol("10hz-110", path).intensity.pct == 110.0
    before = path.read_bytes()
    with pytest.raises(NavtmsError, match="exists already"):
        add_protocol(path, mine)
    with pytest.raises(NavtmsError, match="exists already"):
        add_protocol(path, base)
    assert path.read_bytes() == before


def test_find_protocol_reads_a_file_and_refuses_unknown(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"format_version": 1, **lib()["ctbs-huang2005"].to_json()}))
    assert find_protocol(str(f)).name == "ctbs-huang2005"
    with pytest.raises(NavtmsError, match="no protocol named"):
        find_protocol("nope")


def test_override_round_trips():
    p = lib()["itbs-left-dlpfc"].with_override(Override("clinical decision", "dr x", "2026-01-01"))
    assert protocol_from_json(p.to_json()).override == p.override


def test_pulse_times_by_hand():
    L = lib()
    t = L["itbs-left-dlpfc"].pulse_times_s()
    assert len(t) == 600 and np.all(np.diff(t) > 0)
    assert t[:4] == pytest.approx([0.0, 0.02, 0.04, 0.2])          # 50 Hz inside a burst, bursts at 5 Hz
    assert t[30] == pytest.approx(10.0)                             # train 2 starts 2 s on + 8 s off later
    assert t[-1] == pytest.approx(19 * 10 + 1.8 + 0.04)
    ten = L["10hz-left-dlpfc"].pulse_times_s()
    assert len(ten) == 3000 and ten[40] == pytest.approx(30.0) and ten[-1] == pytest.approx(74 * 30 + 3.9)
    ctbs = L["ctbs-huang2005"].pulse_times_s()
    assert len(ctbs) == 600 and ctbs[-1] == pytest.approx(39.8 + 0.04)


@settings(max_examples=40, deadline=None)
@given(_protocols())
def test_pulse_times_count_and_span(p):
    t = p.pulse_times_s()
    assert len(t) == p.pulses_per_session
    if len(t):
        assert t[-1] <= p.session_duration_s + 1e-9 and np.all(np.diff(t) > 0)
