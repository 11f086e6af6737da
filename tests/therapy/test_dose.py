"""therapy.dose against hand-computed Stokes adjustments."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from navcore.errors import NavtmsError
from therapy.dose import K_PCT_PER_MM, adjust_mt, output_pct_mso


def test_stokes_2005_by_hand():
    a = adjust_mt(50.0, 15.0, 20.0)              # 5 mm deeper at 3 %/mm: +15
    assert a.adjusted_mt_pct_mso == 65.0 and not a.capped and a.k_verified
    b = adjust_mt(50.0, 15.0, 12.0, "stokes2013")    # 3 mm shallower at 2.7 %/mm
    assert b.adjusted_mt_pct_mso == pytest.approx(50.0 - 8.1)
    assert any("not verified" in f for f in b.flags)


def test_caps_are_flagged():
    a = adjust_mt(50.0, 12.0, 22.0)              # +30 raw
    assert a.raw_pct_mso == 80.0 and a.adjusted_mt_pct_mso == 65.0 and a.capped and a.flags
    b = adjust_mt(95.0, 12.0, 16.0)              # 107 raw
    assert b.adjusted_mt_pct_mso == 100.0 and b.capped
    assert output_pct_mso(60.0, 120.0) == (72.0, False)
    assert output_pct_mso(90.0, 120.0) == (100.0, True)


@given(mt=st.floats(20, 90), d1=st.floats(8, 25), d2=st.floats(8, 25), d3=st.floats(8, 25),
       k=st.sampled_from(sorted(K_PCT_PER_MM)))
def test_monotone_in_depth_and_zero_at_equal_depth(mt, d1, d2, d3, k):
    assert adjust_mt(mt, d1, d1, k).adjusted_mt_pct_mso == pytest.approx(mt)
    lo, hi = sorted((d2, d3))
    assert adjust_mt(mt, d1, lo, k).adjusted_mt_pct_mso <= adjust_mt(mt, d1, hi, k).adjusted_mt_pct_mso


@pytest.mark.parametrize("args", [(0, 10, 10), (50, -1, 10), (50, 10, math.nan), (120, 10, 10)])
def test_bad_input(args):
    with pytest.raises(NavtmsError):
        adjust_mt(*args)
    with pytest.raises(NavtmsError, match="unknown depth slope"):
        adjust_mt(50, 10, 12, "guess")
