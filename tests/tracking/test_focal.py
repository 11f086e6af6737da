"""tracking.focal: the focal length from the bodies' own geometry (no calibration).

Phantoms: flat bodies rendered by tracking.tagrender with a camera of KNOWN focal length (the
truth), tilted or face-on; real footage (multipattern.avi, f ~435 px fitted, README)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore.errors import TrackingError
from navtms.benches._tracking_real import read_video
from tracking.bodies import load_body
from tracking.focal import centred_camera, estimate_camera, estimate_focal
from tracking.tagrender import project, render
from tracking_helpers import coil, pose  # noqa: F401 (fixtures)


@settings(max_examples=6)
@given(f_factor=st.floats(0.45, 1.4), tilt=st.floats(0.5, 0.8), spin=st.floats(-3, 3), seed=st.integers(0, 20))
def test_focal_of_a_tilted_body_is_recovered(coil, f_factor, tilt, spin, seed):
    w, h = 640, 480
    cam = centred_camera(f_factor * w, w, h)
    z = 0.9 * f_factor * w          # the 100 mm body spans ~ a third of the image at any focal length
    frames = [render(cam, [(coil, pose([tilt, 0.2 * k, spin], [5 * k, -8, z]))], None, noise_sigma=1.5, seed=seed + k)
              for k in range(3)]
    camera, est = estimate_camera(frames, [coil])
    # one 4-tag body in 3 views (48 corners): sigma 1-2 % (longer focal lengths see less perspective);
    # the error lies within 3 % or 3 reported sigma (the README's real fit: 5 %)
    f_true = f_factor * w
    assert abs(est.f_px - f_true) < max(0.03 * f_true, 3 * est.sigma_px), (est, f_true)
    assert est.rms_px < 0.3 and est.sigma_px < 0.03 * est.f_px
    np.testing.assert_allclose(camera.K[:2, 2], [(w - 1) / 2, (h - 1) / 2])


def test_exact_corners_give_the_exact_focal(coil):
    # the error model without image noise: corners projected exactly at f = 500 px
    cam = centred_camera(500.0, 640, 480)
    dets = []
    for k in range(3):
        T = pose([0.6, -0.3 * k, 0.4], [10 * k, 0, 400])
        dets.append({(coil.dictionary, t): project(cam, T, coil.tags[t]) for t in coil.ids})
    est = estimate_focal([coil], dets, (640, 480))
    assert abs(est.f_px - 500.0) < 0.05 and est.rms_px < 1e-3


def test_face_on_body_does_not_determine_the_focal(coil):
    cam = centred_camera(500.0, 640, 480)
    dets = [{(coil.dictionary, t): project(cam, pose([0, 0, 0.3], [0, 0, 400]), coil.tags[t]) for t in coil.ids}]
    with pytest.raises(TrackingError, match="focal length"):
        estimate_focal([coil], dets, (640, 480))


def test_no_body_with_two_tags_is_refused(coil):
    with pytest.raises(TrackingError, match="no marker body was seen with 2 or more tags"):
        estimate_focal([coil], [{(coil.dictionary, coil.ids[0]): np.zeros((4, 2))}], (640, 480))


def test_real_multipattern_focal_within_5_percent_of_the_fitted_one(shared_real):
    # the README's fit of the bodies' geometry: ~435 px (0.68 x width), RMS ~0.3 px
    d = shared_real / "webcam-aruco-sksurgery"
    frames = read_video(d / "multipattern.avi")
    _, est = estimate_camera(frames, [load_body(d / "reference.txt"), load_body(d / "pointer.txt")])
    assert abs(est.f_px - 435.0) <= 0.05 * 435.0, est
    assert est.rms_px < 0.4 and est.frames == 10
