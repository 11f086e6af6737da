"""The issue-17 source audit pinned: every figure the therapy code uses that was read in a stored
copy of its source is typed here by hand from that source (not copied from the code), and every
figure that could not be read must stay flagged unverified.

Sources as read (the `search` tool over stored public copies):
- Stokes et al. 2005, J Neurophysiol 94(6):4520-4527, abstract: "an additional 3% of TMS output"
  per millimetre.
- Stokes et al. 2007, Clin Neurophysiol 118(7):1617-1625, abstract: "an additional 2.8% of
  absolute stimulator output (0.062 T)" per millimetre.
- Chen et al. 1997, Electroencephalogr Clin Neurophysiol 105(6):415-421, abstract: 20 Hz trains of
  1.6 s at 110% MT safe 5 s apart; 1 s or less unsafe above 100% MT.
- Cole et al. 2020, Am J Psychiatry 177(8):716-726, abstract: 1,800 pulses per session, 50-minute
  intersession interval, 10 daily sessions over 5 consecutive days, 90% resting MT adjusted for
  cortical depth.
- O'Reardon et al. 2007, Biol Psychiatry 62(11):1208-1216, abstract: 10 pulses/s, 120% of MT,
  3000 pulses/session, five sessions a week.
- Blumberger et al. 2018, Lancet 391(10131):1683-1692, abstract: iTBS "in 3 min, versus 37.5 min
  for a standard 10 Hz treatment session".
- Rossi et al. 2009 Table 3: NOT reached (no cell could be read), so no cell is pinned as
  verified; the tests below make sure nothing claims otherwise.
"""
from dataclasses import replace

import pytest

from therapy import safety
from therapy.dose import K_PCT_PER_MM, adjust_mt
from therapy.library import standard_protocols
from therapy.protocol import PatternKind, ThresholdKind, Trains

# Typed from the sources above, not from the code.
PAPER_K = {"stokes2005": 3.0, "stokes2007": 2.8}
CHEN_1997_SAFE_ITI_S = 5.0
CHEN_1997_UNSAFE_ABOVE_PCT_MT = 100.0
COLE_2020 = {"pulses": 1800, "gap_min": 50.0, "per_day": 10, "days": 5, "pct_rmt": 90.0}
OREARDON_2007 = {"rate_hz": 10.0, "pct_mt": 120.0, "pulses": 3000, "per_week": 5}
BLUMBERGER_2018 = {"itbs_min": 3.0, "ten_hz_min": 37.5}


def lib():
    return {p.name: p for p in standard_protocols()}


def test_verified_depth_slopes_match_the_papers():
    for name, k in PAPER_K.items():
        value, source, verified = K_PCT_PER_MM[name]
        assert value == k and verified, name
        a = adjust_mt(50.0, 10.0, 12.0, name)
        assert a.k_verified and not any("not verified" in f for f in a.flags)
        assert a.adjusted_mt_pct_mso == pytest.approx(50.0 + 2 * k)


def test_unverified_slope_stays_flagged():
    value, source, verified = K_PCT_PER_MM["stokes2013"]
    assert not verified                           # no stored copy of Stokes et al. 2013 was found
    assert any("not verified" in f for f in adjust_mt(50.0, 10.0, 12.0, "stokes2013").flags)


def test_train_duration_table_is_not_claimed_verified():
    """No cell of Rossi et al. 2009 Table 3 could be read: the table must say so everywhere."""
    assert safety.VERIFIED_CELLS == {}
    assert safety.TABLE_VERIFIED is False
    p = lib()["10hz-left-dlpfc"]
    f = [x for x in safety.check(p).findings if x.rule == "train-duration"]
    assert len(f) == 1 and f[0].verified is False
    value, unit, verified, where = safety.VERIFICATION["max_train_s table (all cells)"]
    assert verified is False and "not reached" in where


def test_verified_cells_agree_with_the_table_and_gate_the_flag():
    """Whoever reads cells in the printed table lists them in VERIFIED_CELLS; each must then agree
    with MAX_TRAIN_S, and the whole table may be called verified only when every cell is listed."""
    for (f, i), s in safety.VERIFIED_CELLS.items():
        assert safety.MAX_TRAIN_S[f][safety.INTENSITIES_PCT_MT.index(i)] == s
    every = {(f, i) for f in safety.MAX_TRAIN_S for i in safety.INTENSITIES_PCT_MT}
    assert safety.TABLE_VERIFIED == (set(safety.VERIFIED_CELLS) == every)


def test_chen_1997_inter_train_interval():
    assert safety.MIN_ITI_S == CHEN_1997_SAFE_ITI_S
    assert safety.VERIFICATION["min_iti_s"][:3] == (CHEN_1997_SAFE_ITI_S, "s", True)
    p = lib()["10hz-left-dlpfc"]
    short = replace(p, trains=Trains(4.0, CHEN_1997_SAFE_ITI_S - 0.5, 75))
    assert [f.rule for f in safety.check(short).failures] == ["inter-train-interval"]
    at = replace(short, intensity=replace(short.intensity, pct=CHEN_1997_UNSAFE_ABOVE_PCT_MT))
    assert "inter-train-interval" not in [f.rule for f in safety.check(at).findings]
    ok = replace(p, trains=Trains(4.0, CHEN_1997_SAFE_ITI_S, 75))
    iti = [f for f in safety.check(ok).findings if f.rule == "inter-train-interval"]
    assert iti[0].ok and iti[0].verified


def test_cole_2020_envelope_and_saint_protocol():
    assert safety.MAX_PULSES_PER_SESSION_PATTERNED == COLE_2020["pulses"]
    assert safety.MAX_SESSIONS_PER_DAY == COLE_2020["per_day"]
    assert safety.MIN_GAP_MIN == COLE_2020["gap_min"]
    saint = lib()["saint-accelerated-itbs"]
    assert saint.pulses_per_session == COLE_2020["pulses"]
    assert saint.schedule.sessions_per_day == COLE_2020["per_day"]
    assert saint.schedule.gap_min == COLE_2020["gap_min"]
    assert saint.schedule.days == COLE_2020["days"]
    assert saint.intensity.pct == COLE_2020["pct_rmt"] and saint.intensity.of is ThresholdKind.RESTING
    assert saint.intensity.depth_adjusted
    by_rule = {f.rule: f for f in safety.check(saint).findings}
    for rule in ("patterned-pulses", "sessions-per-day", "session-gap"):
        assert by_rule[rule].verified and "Cole" in by_rule[rule].citation
    assert not by_rule["patterned-intensity"].verified        # 120% RMT / 80% AMT not found


def test_oreardon_and_three_d_figures():
    p = lib()["10hz-left-dlpfc"]
    assert p.pattern.kind is PatternKind.SINGLE and p.pattern.rate_hz == OREARDON_2007["rate_hz"]
    assert p.intensity.pct == OREARDON_2007["pct_mt"]
    assert p.pulses_per_session == OREARDON_2007["pulses"]
    assert p.schedule.days_per_week == OREARDON_2007["per_week"]
    # 37.5 min a session: 75 trains of 4 s + 26 s (the train timing itself is recalled)
    assert p.trains.trains * (p.trains.on_s + p.trains.off_s) / 60.0 == BLUMBERGER_2018["ten_hz_min"]
    itbs = lib()["itbs-left-dlpfc"]
    assert abs(itbs.session_duration_s / 60.0 - BLUMBERGER_2018["itbs_min"]) < 0.5


def test_each_source_is_verified_only_with_the_verified_figures():
    """A source marked verified must name where it was read; the recalled figures sit in sources
    marked unverified."""
    for p in standard_protocols():
        for s in p.sources:
            if s.verified:
                assert "abstract" in s.gives, (p.name, s.citation)
            assert "recalled" not in s.gives or not s.verified, (p.name, s.citation)
    ten = lib()["10hz-left-dlpfc"]
    assert [s.verified for s in ten.sources if "O'Reardon" in s.citation] == [True, False]
    assert all(not s.verified for s in lib()["1hz-right-dlpfc"].sources)
    assert all(not s.verified for s in lib()["ctbs-huang2005"].sources)
