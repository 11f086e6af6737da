"""therapy.safety: the rules against hand-built protocols with known answers."""
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from therapy.library import standard_protocols
from therapy.protocol import Override, Pattern, PatternKind, ThresholdKind, Trains
from therapy.safety import (INTENSITIES_PCT_MT, MAX_TRAIN_S, ProtocolSafetyError, check, max_train_s,
                            require_safe)


def lib():
    return {p.name: p for p in standard_protocols()}


def test_every_standard_protocol_passes():
    for p in standard_protocols():
        rep = check(p)
        assert rep.ok, (p.name, [f.text for f in rep.failures])
        assert rep.findings


def test_table_lookup_is_conservative():
    assert max_train_s(10, 120) == 4.2                     # a tabulated cell
    assert max_train_s(10, 115) == max_train_s(10, 120)    # between columns: the higher intensity
    assert max_train_s(8, 120) == max_train_s(10, 120)     # between rows: the higher frequency
    assert max_train_s(10, 60) == max_train_s(10, 90)
    assert max_train_s(30, 100) is None and max_train_s(10, 230) is None
    for row in MAX_TRAIN_S.values():
        assert len(row) == len(INTENSITIES_PCT_MT)
    for i in range(len(INTENSITIES_PCT_MT)):               # higher frequency never allows a longer train
        col = [MAX_TRAIN_S[f][i] for f in sorted(MAX_TRAIN_S)]
        assert all(a >= b for a, b in zip(col, col[1:]))


def test_long_train_is_refused_and_override_records_the_reason():
    p = replace(lib()["10hz-left-dlpfc"], trains=Trains(6.0, 26.0, 50))
    rep = check(p)
    assert not rep.ok and [f.rule for f in rep.failures] == ["train-duration"]
    with pytest.raises(ProtocolSafetyError, match="train of 6 s"):
        require_safe(p)
    with pytest.raises(ProtocolSafetyError):
        require_safe(p.with_override(Override("   ")))
    rep2 = require_safe(p.with_override(Override("treating physician's decision after review", "dr a")))
    assert not rep2.ok and rep2.failures[0].limit == 4.2


def test_short_inter_train_interval_is_refused_above_mt():
    p = replace(lib()["10hz-left-dlpfc"], trains=Trains(4.0, 2.0, 75))
    assert [f.rule for f in check(p).failures] == ["inter-train-interval"]
    at_mt = replace(p, intensity=replace(p.intensity, pct=100.0))
    assert check(at_mt).ok                        # Chen 1997: <= 1 s unsafe only above 100% MT


def test_outside_the_table_is_refused():
    p = replace(lib()["10hz-left-dlpfc"], pattern=Pattern(PatternKind.SINGLE, 30.0), trains=Trains(0.5, 20, 10))
    assert not check(p).ok


def test_patterned_and_accelerated_envelope():
    saint = lib()["saint-accelerated-itbs"]
    assert not check(replace(saint, schedule=replace(saint.schedule, gap_min=30))).ok
    assert not check(replace(saint, schedule=replace(saint.schedule, sessions_per_day=12))).ok
    assert not check(replace(saint, trains=Trains(2.0, 8.0, 80))).ok          # 2400 pulses
    assert not check(replace(saint, intensity=replace(saint.intensity, pct=130))).ok
    ctbs = lib()["ctbs-huang2005"]
    assert ctbs.intensity.of is ThresholdKind.ACTIVE and check(ctbs).ok
    assert not check(replace(ctbs, intensity=replace(ctbs.intensity, pct=90))).ok


@given(f1=st.floats(1, 25), f2=st.floats(1, 25), i1=st.floats(50, 220), i2=st.floats(50, 220))
def test_limit_never_grows_with_frequency_or_intensity(f1, f2, i1, i2):
    """More frequency or more intensity never allows a longer train (the raw table would: 10 Hz
    at 160% allows 0.9 s against 0.8 s at 150%)."""
    (fa, fb), (ia, ib) = sorted((f1, f2)), sorted((i1, i2))
    assert max_train_s(fb, ia) <= max_train_s(fa, ia)
    assert max_train_s(fa, ib) <= max_train_s(fa, ia)
    assert max_train_s(10, 160) == 0.8
