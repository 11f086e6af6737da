"""navtms.threshold: the relative-frequency rule (property tests over response patterns), MEP
criterion, the threshold.json history (append only, atomic, refusals), command-line trials."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import InputFileError, NavtmsError
from navtms.threshold import (THRESHOLD_FILE, Measurement, ThresholdRule, Trial, load_thresholds,
                              mso_from_threshold, parse_trial_text, qualifies, record_threshold,
                              threshold_from_trials, threshold_on)


def _pattern(n_resp: int, n: int, rnd: random.Random) -> tuple[bool, ...]:
    r = [True] * n_resp + [False] * (n - n_resp)
    rnd.shuffle(r)
    return tuple(r)


@st.composite
def known_threshold_case(draw):
    """Intensities (ascending, distinct) with responses built so that the threshold is known:
    below it at most min-1 responses in n; at it >= min; above it anything."""
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, n))
    levels = sorted(draw(st.sets(st.integers(20, 100), min_size=1, max_size=8)))
    idx = draw(st.integers(0, len(levels)))            # == len(levels): never reached
    rnd = random.Random(draw(st.integers(0, 10**6)))
    trials = []
    for i, lv in enumerate(levels):
        if i < idx:
            c = draw(st.integers(0, k - 1))
        elif i == idx:
            c = draw(st.integers(k, n))
        else:
            c = draw(st.integers(0, n))
        trials.append(Trial(float(lv), _pattern(c, n, rnd)))
    expected = float(levels[idx]) if idx < len(levels) else None
    return ThresholdRule(k, n), trials, expected, rnd


@settings(max_examples=150)
@given(known_threshold_case())
def test_rule_gives_the_known_threshold_in_any_trial_order(case):
    rule, trials, expected, rnd = case
    assert threshold_from_trials(trials, rule) == expected
    shuffled = list(trials)
    rnd.shuffle(shuffled)
    assert threshold_from_trials(shuffled, rule) == expected


@settings(max_examples=100)
@given(known_threshold_case(), st.data())
def test_more_responses_never_raise_the_threshold(case, data):
    rule, trials, expected, _ = case
    i = data.draw(st.integers(0, len(trials) - 1))
    t = trials[i]
    more = Trial(t.intensity_pct, tuple(True for _ in t.responses))
    after = threshold_from_trials(trials[:i] + [more] + trials[i + 1:], rule)
    assert after is not None and (expected is None or after <= expected)


def test_default_rule_five_of_ten_and_only_the_first_ten_count():
    assert ThresholdRule() == ThresholdRule(5, 10, 50.0)
    assert not qualifies([True] * 4 + [False] * 6)
    assert qualifies([False] * 5 + [True] * 5)
    assert not qualifies([False] * 10 + [True] * 5)       # pulses beyond the 10th do not count
    assert qualifies([True] * 5)                           # 5 of 5 already meets 5 of 10
    assert not qualifies([True] * 4)                       # undecided -> not (yet) a threshold
    trials = [Trial(48, (True,) * 4 + (False,) * 6), Trial(50, (True,) * 3 + (False,) * 2),
              Trial(50, (True,) * 2)]                      # pooled at 50 %: 5 of 7 respond
    assert threshold_from_trials(trials) == 50.0
    late = [Trial(50, (True,) * 3 + (False,) * 7), Trial(50, (True,) * 2)]   # 3 of the first 10
    assert threshold_from_trials(late) is None


def test_mep_criterion_counts_amplitudes_at_or_above_50_uv():
    t = Trial.from_mep(52, [50.0, 49.99, 120, 0, 51, 50, 10, 80, 5, 3])
    assert t.responses == (True, False, True, False, True, True, False, True, False, False)
    assert threshold_from_trials([t]) == 52.0
    assert threshold_from_trials([Trial.from_mep(52, [60] * 4 + [40] * 6)]) is None
    assert Trial.from_mep(52, [60] * 10, criterion_uv=100).responses == (False,) * 10


def test_bad_rules_are_refused():
    for k, n in ((0, 10), (11, 10)):
        with pytest.raises(NavtmsError):
            ThresholdRule(k, n)


def test_history_is_appended_never_overwritten(tmp_path):
    m1 = Measurement("2026-11-02", (Trial(50, (True,) * 5 + (False,) * 5),), notes="first")
    m2 = Measurement("2026-11-16", (Trial.from_mep(55, [100] * 6 + [10] * 4),), ThresholdRule(6, 10), notes="second")
    record_threshold(tmp_path, m1)
    first = json.loads((tmp_path / THRESHOLD_FILE).read_text())["measurements"][0]
    record_threshold(tmp_path, m2)
    obj = json.loads((tmp_path / THRESHOLD_FILE).read_text())
    assert obj["format_version"] == 1 and obj["measurements"][0] == first
    ms = load_thresholds(tmp_path)
    assert [(m.date, m.threshold_pct, m.notes) for m in ms] == [("2026-11-02", 50.0, "first"),
                                                               ("2026-11-16", 55.0, "second")]
    assert ms[1].rule == ThresholdRule(6, 10) and ms[1].trials[0].mep_uv == (100.0,) * 6 + (10.0,) * 4
    assert threshold_on(ms, "2026-11-10").threshold_pct == 50.0
    assert threshold_on(ms).threshold_pct == 55.0 and threshold_on(ms, "2026-11-01") is None
    assert load_thresholds(tmp_path / "none") == []


def test_malformed_history_is_refused_and_left_unchanged(tmp_path):
    p = tmp_path / THRESHOLD_FILE
    for text in ('{"format_version": 1, "measurements": {}}',
                 '{"format_version": 1, "measurements": [{"date": "2026-13-45", "trials": []}]}',
                 '{"format_version": 1, "measurements": [{"date": "2026-11-02", "trials": [{"responses": [1]}]}]}',
                 '{"format_version": 2, "measurements": []}', "not json"):
        p.write_text(text)
        with pytest.raises(InputFileError, match="threshold"):
            record_threshold(tmp_path, Measurement("2026-11-02", (Trial(50, (True,) * 5),)))
        assert p.read_text() == text
    with pytest.raises(InputFileError, match="not YYYY-MM-DD"):
        record_threshold(tmp_path, Measurement("yesterday", ()))
    with pytest.raises(InputFileError, match="does not exist"):
        record_threshold(tmp_path / "missing", Measurement("2026-11-02", ()))


def test_trial_text_and_output_from_threshold():
    t = parse_trial_text("48:yynnnynnny")
    assert t.intensity_pct == 48.0 and sum(t.responses) == 4 and t.mep_uv is None
    t = parse_trial_text("50:60,20,55.5")
    assert t.responses == (True, False, True) and t.mep_uv == (60.0, 20.0, 55.5)
    for bad in ("50", "0:yy", "101:yy", "x:yy", "50:y,n", "50:"):
        with pytest.raises(NavtmsError, match="trial"):
            parse_trial_text(bad)
    assert mso_from_threshold(52, 120) == 62.0 and mso_from_threshold(45, 110) == 50.0


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                     max_leaves=20)


@settings(max_examples=60)
@given(m=st.fixed_dictionaries({}, optional={"date": st.sampled_from(["2026-11-02", "x", 5]), "rule": _json,
                                             "trials": st.lists(st.fixed_dictionaries(
                                                 {}, optional={"intensity_pct": _json, "responses": _json,
                                                               "mep_uv": _json}), max_size=3) | _json,
                                             "site": _json, "notes": _json}))
def test_random_threshold_files_load_or_give_one_clear_error(tmp_path_factory, m):
    d = tmp_path_factory.mktemp("thr")
    (d / THRESHOLD_FILE).write_text(json.dumps({"format_version": 1, "measurements": [m]}))
    try:
        ms = load_thresholds(d)
    except InputFileError as e:
        assert THRESHOLD_FILE in str(e)
        return
    t = ms[0]
    assert all(0 < x.intensity_pct <= 100 and all(isinstance(r, bool) for r in x.responses) for x in t.trials)


def test_strings_are_not_response_lists(tmp_path):
    m = {"date": "2026-11-02", "trials": [{"intensity_pct": 50, "responses": "yyyyy"}]}
    (tmp_path / THRESHOLD_FILE).write_text(json.dumps({"format_version": 1, "measurements": [m]}))
    with pytest.raises(InputFileError, match="measurement 1"):
        load_thresholds(tmp_path)
