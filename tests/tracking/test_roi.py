"""tracking.roi: predicted search regions and their merging."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from tracking.roi import merge_rects, predict_rect

W, H = 1280, 720


def _inside(pts, r):
    x0, y0, x1, y1 = r
    return np.all((pts[:, 0] >= x0) & (pts[:, 0] < x1) & (pts[:, 1] >= y0) & (pts[:, 1] < y1))


@settings(max_examples=60)
@given(cx=st.floats(100, 1180), cy=st.floats(100, 620), size=st.floats(10, 200),
       vx=st.floats(-30, 30), vy=st.floats(-30, 30), seed=st.integers(0, 1000))
def test_region_covers_last_and_predicted_projection(cx, cy, size, vx, vy, seed):
    rng = np.random.default_rng(seed)
    uv = np.array([cx, cy]) + rng.uniform(-size / 2, size / 2, (16, 2))
    prev = uv - [vx, vy]
    r = predict_rect(uv, prev, 24.0, 0.25, W, H)
    assert r is not None
    x0, y0, x1, y1 = r
    assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    clip = lambda p: np.clip(p, [0, 0], [W - 1, H - 1])          # noqa: E731
    assert _inside(clip(uv), r) and _inside(clip(uv + [vx, vy]), r)
    # padded by at least 24 px where the image allows
    assert x0 <= max(0, uv[:, 0].min() - 24) + 1


def test_region_outside_image_or_nan_is_none():
    uv = np.array([[-500.0, -500], [-450, -450]])
    assert predict_rect(uv, None, 10, 0.1, W, H) is None
    assert predict_rect(np.array([[np.nan, 1.0]]), None, 10, 0.1, W, H) is None


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 600), st.integers(10, 300), st.integers(10, 300)),
                min_size=1, max_size=5))
def test_merge_keeps_every_pixel_and_never_costs_more(raw):
    rects = [(x, y, min(x + w, W), min(y + h, H)) for x, y, w, h in raw]
    merged = merge_rects(rects)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])                 # noqa: E731
    for r in rects:
        assert any(m[0] <= r[0] and m[1] <= r[1] and m[2] >= r[2] and m[3] >= r[3] for m in merged)
    assert sum(area(m) for m in merged) <= sum(area(r) for r in rects)
    assert len(merged) <= len(rects)


def test_nested_regions_merge_and_far_ones_stay_apart():
    assert merge_rects([(0, 0, 100, 100), (10, 10, 50, 50)]) == [(0, 0, 100, 100)]
    assert len(merge_rects([(0, 0, 100, 100), (500, 500, 600, 600)])) == 2
