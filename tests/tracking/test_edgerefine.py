"""tracking.edgerefine: unbiased subpixel corners from edge fits, vs OpenCV's cornerSubPix."""
from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from tracking.bodies import planar_body
from tracking.camera import CameraModel
from tracking.edgerefine import refine_corners
from tracking.tagrender import project, render

CAM = CameraModel.guess(640, 480, focal_factor=1.0)
BODY = planar_body("b", "DICT_4X4_50", [0, 1, 2, 3], 30.0, "2x2", 10.0)


def _scene(rotvec, t, noise, blur, seed):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    img = render(CAM, [(BODY, T)], None, noise_sigma=noise, blur_sigma=blur, seed=seed)
    true = np.array([project(CAM, T, BODY.tags[i]) for i in BODY.ids])
    return img, true


def _inward_bias(c, true):
    inward = true.mean(axis=1, keepdims=True) - true
    inward /= np.linalg.norm(inward, axis=-1, keepdims=True)
    return float(((c - true) * inward).sum(-1).mean())


@settings(max_examples=10)
@given(rx=st.floats(-0.5, 0.5), ry=st.floats(-0.5, 0.5), rz=st.floats(-3, 3), z=st.floats(250, 450),
       seed=st.integers(0, 50))
def test_refined_corners_are_accurate_from_rough_starts(rx, ry, rz, z, seed):
    img, true = _scene([rx, ry, rz], [5, -5, z], 2.0, 0.6, seed)
    rough = true + np.random.default_rng(seed).uniform(-0.8, 0.8, true.shape)
    ref = refine_corners(img, rough, bits=6, iterations=2)
    err = np.linalg.norm(ref - true, axis=-1)
    assert np.sqrt((err ** 2).mean()) < 0.12 and err.max() < 0.4


def test_no_inward_bias_where_cornersubpix_has_one():
    img, true = _scene([0.3, -0.2, 0.4], [0, 0, 300], 0.0, 0.5, 0)
    ref = refine_corners(img, true + 0.5, bits=6, iterations=2)
    sub = (true + 0.5).reshape(-1, 1, 2).astype(np.float32)
    cv2.cornerSubPix(img, sub, (4, 4), (-1, -1), (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.001))
    sub = sub.reshape(true.shape)
    assert abs(_inward_bias(ref, true)) < 0.03
    assert _inward_bias(sub, true) > 0.08          # why navtms does not use CORNER_REFINE_SUBPIX


def test_flat_image_keeps_input_corners():
    flat = np.full((480, 640), 128, np.uint8)
    start = np.array([[[100.0, 100], [150, 100], [150, 150], [100, 150]]])
    np.testing.assert_array_equal(refine_corners(flat, start), start)
    assert refine_corners(flat, np.zeros((0, 4, 2))).shape == (0, 4, 2)


def test_edge_spread_tells_sharp_from_motion_smeared_tags():
    img, true = _scene([0.2, -0.1, 0.3], [0, 0, 250], 1.0, 0.5, 1)
    _, sharp = refine_corners(img, true, bits=6, return_spread=True)
    kernel = np.zeros((1, 15), np.float32)
    kernel[0, :] = 1 / 15                                   # 15 px horizontal motion blur
    smeared = cv2.filter2D(img, -1, kernel)
    _, blur = refine_corners(smeared, true, bits=6, return_spread=True)
    assert np.all(sharp < 1.6) and np.all(blur > 2.5)


def test_second_edge_just_outside_does_not_pull_the_corners(monkeypatch):
    # the seam between two tags' quiet zones: a gray line 0.6 module beyond the tag's right edge
    # (a rendered 4-tag coil lost a tag to it: its corners were pulled 0.56 px outwards). The edge
    # point is the centroid of the main step only; with every rise of the profile counted, the
    # line pulls the corners of that edge.
    import tracking.edgerefine as er

    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec([0.0, 0.15, 0.0]).as_matrix()
    T[:3, 3] = [0, 0, 420]
    img = render(CAM, [(BODY, T)], None, noise_sigma=1.0, blur_sigma=0.5, seed=3)
    true = np.array([project(CAM, T, BODY.tags[i]) for i in BODY.ids])
    tag = true[0]                                       # top-left tag: the right edge runs corner 1 -> 2
    module = np.linalg.norm(tag[2] - tag[1]) / 6
    out = np.array([tag[1, 1] - tag[2, 1], tag[2, 0] - tag[1, 0]])
    out /= np.linalg.norm(out)
    if out @ (tag[1] - tag.mean(axis=0)) < 0:
        out = -out
    a, b = tag[1] + 0.6 * module * out, tag[2] + 0.6 * module * out
    seamed = img.copy()
    cv2.line(seamed, tuple(np.round(a * 16).astype(int)), tuple(np.round(b * 16).astype(int)), 150, 2,
             cv2.LINE_AA, shift=4)
    start = tag[None] + 0.5 * out                       # a detection half a pixel outwards on that edge
    start[0, [0, 3]] = tag[[0, 3]]
    ref = refine_corners(seamed, start, bits=6, iterations=2)[0]
    assert np.linalg.norm(ref - tag, axis=-1).max() < 0.1
    monkeypatch.setattr(er, "MAIN_STEP_FRACTION", -1.0)  # every rise counts (the estimator before)
    old = refine_corners(seamed, start, bits=6, iterations=2)[0]
    assert np.linalg.norm(old[1:3] - tag[1:3], axis=-1).max() > 0.2


def test_settled_tags_skip_the_second_pass_and_extra_samples_come_from_the_same_read():
    # a tag whose first pass moved it < settle_px is not refined again: from corners already within
    # 0.05 px of the edges the result stays within 0.02 px of two full passes; extra points
    # (sample_at) are the image's bilinear values at the corners the last pass started from
    import tracking.edgerefine as er

    img, true = _scene([0.25, -0.15, 0.3], [5, -5, 330], 2.0, 0.6, 4)
    near = true + np.random.default_rng(4).uniform(-0.05, 0.05, true.shape)
    full = refine_corners(img, near, bits=6, iterations=2)
    calls = []
    real = er._refine_once
    try:
        er._refine_once = lambda *a: calls.append(len(a[1])) or real(*a)
        settled = refine_corners(img, near, bits=6, iterations=2, settle_px=1.0)
    finally:
        er._refine_once = real
    assert calls == [len(true)]                              # one pass only
    assert np.abs(settled - full).max() < 0.02
    centres = lambda c: (c.mean(axis=1).astype(np.float32)[:, 0], c.mean(axis=1).astype(np.float32)[:, 1])  # noqa: E731
    for settle in (0.0, 1.0):                                # sampled in pass 2 / after the only pass
        out, _, _, vals = refine_corners(img, true + 0.4, bits=6, iterations=2, settle_px=settle, sample_at=centres)
        start = out if settle else refine_corners(img, true + 0.4, bits=6, iterations=1)
        np.testing.assert_allclose(vals, er._bilinear(img, *centres(start)), atol=1e-3)
