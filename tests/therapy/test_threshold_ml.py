"""therapy.threshold_ml and therapy.mep_sim: the likelihood against a second implementation,
deterministic subjects with a known answer, interval coverage, and the simulated goal
(median error <= 2 % MSO in <= 25 pulses) over many subjects."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import NavtmsError
from therapy.mep_sim import Subject, compare, ml_hunt, population, relative_frequency
from therapy.threshold_ml import (HuntSettings, confidence_interval, evaluate, log_likelihood, ml_estimate,
                                  next_intensity, replay_intensities, run_hunt)

S = HuntSettings()


def ll_by_hand(t, xs, rs, s):
    """Second implementation: one pulse at a time with math.erf."""
    total = 0.0
    for x, r in list(zip(xs, rs)) + [(s.floor_pct, False), (s.ceiling_pct, True)]:
        phi = 0.5 * (1 + math.erf((x - t) / (s.rel_spread * t) / math.sqrt(2)))
        p = s.false_rate + (1 - s.false_rate - s.miss_rate) * phi
        total += math.log(p) if r else math.log(1 - p)
    return total


@settings(max_examples=30, deadline=None)
@given(xs=st.lists(st.integers(25, 90), min_size=0, max_size=12), seed=st.integers(0, 1000))
def test_log_likelihood_matches_a_second_implementation(xs, seed):
    rs = list(np.random.default_rng(seed).random(len(xs)) < 0.5)
    ll = log_likelihood(xs, rs, S)
    g = S.grid
    for i in (0, len(g) // 3, len(g) // 2, len(g) - 1):
        assert ll[i] == pytest.approx(ll_by_hand(g[i], xs, rs, S), rel=1e-9, abs=1e-9)


def test_estimate_sits_between_responses_and_silences():
    xs = [40, 41, 42, 43, 44, 45, 46, 47]
    rs = [False, False, False, False, True, True, True, True]
    ll = log_likelihood(xs, rs, S)
    est = ml_estimate(ll, S)
    lo, hi = confidence_interval(ll, S)
    assert 43.0 < est < 44.5 and lo < est < hi
    assert next_intensity(xs, rs, S) in (43.0, 44.0)
    assert next_intensity([], [], S) == S.start_pct


@pytest.mark.parametrize("t", [33.3, 48.0, 61.7, 74.2])
def test_deterministic_subject_is_found_by_both_methods(t):
    """No variability: RF must give the lowest whole % MSO above T; the hunt lands within 1 %."""
    subj = Subject(t, 1e-3, 0.0, 0.0)
    rng = np.random.default_rng(0)
    rf = relative_frequency(subj, rng)
    assert rf.estimate_pct == math.ceil(t)
    ml = ml_hunt(subj, rng)
    assert abs(ml.estimate_pct - t) <= 1.0 and ml.pulses <= S.max_pulses


def test_replay_gives_back_the_hunt_intensities():
    subj = Subject(52.4, 2.0, 0.02, 0.02)
    rng = np.random.default_rng(3)
    r = run_hunt(lambda x: subj.pulse(x, rng), S)
    assert replay_intensities(r.responses, S) == list(r.intensities)
    again = evaluate(r.intensities, r.responses, S)
    assert again.threshold_pct == r.threshold_pct and again.ci_pct == r.ci_pct


@pytest.mark.slow
def test_interval_covers_the_truth_when_the_model_is_right():
    """Subjects drawn from the hunt's own model (cumulative Gaussian, its spread and rates):
    the 95 % likelihood-ratio interval should hold the truth in roughly 95 % of hunts."""
    from scipy.special import ndtr

    rng = np.random.default_rng(11)
    hits = 0
    n = 150
    for t in rng.uniform(30, 75, n):
        def respond(x, t=t):
            p = S.false_rate + (1 - S.false_rate - S.miss_rate) * ndtr((x - t) / (S.rel_spread * t))
            return rng.random() < p
        r = run_hunt(respond, S)
        hits += r.ci_pct[0] <= t <= r.ci_pct[1]
    assert hits / n >= 0.85


def test_settings_are_checked():
    with pytest.raises(NavtmsError):
        HuntSettings(min_pulses=30, max_pulses=20)
    with pytest.raises(NavtmsError):
        log_likelihood([40, 41], [True], S)


def test_goal_on_a_small_population():
    r = compare(60, seed=3)
    ml = r["ml_hunt"]
    assert ml["abs_error_median"] <= 2.0 and ml["pulses_max"] <= 25
    rf = r["relative_frequency_5_of_10"]
    assert rf["pulses_median"] > ml["pulses_median"]


@pytest.mark.slow
def test_goal_over_many_simulated_subjects():
    r = compare(600, seed=29)
    ml, rf = r["ml_hunt"], r["relative_frequency_10_pulses_each"]
    assert ml["found"] == 600 and ml["abs_error_median"] <= 2.0 and ml["pulses_max"] <= 25
    assert ml["abs_error_p90"] <= 3.0
    assert rf["pulses_median"] >= 2 * ml["pulses_median"]


def test_population_is_within_the_stated_ranges():
    subs = population(500, np.random.default_rng(1))
    t = np.array([s.threshold_pct for s in subs])
    u = np.array([s.spread_pct / s.threshold_pct for s in subs])
    assert t.min() >= 30 and t.max() <= 75 and u.min() >= 0.02 and u.max() <= 0.06
    s0 = subs[0]
    assert s0.p_response(s0.threshold_pct) == pytest.approx(0.5, abs=0.03)


def test_a_threshold_beyond_the_stimulator_is_flagged():
    never = run_hunt(lambda x: False, S)                  # no response even at 100 % MSO
    assert never.at_limit(S) and never.threshold_pct >= 95
    assert not run_hunt(lambda x: x > 50.0, S).at_limit(S)
