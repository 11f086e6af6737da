"""tracking.tagrender: tags land exactly where the camera projects them."""
from __future__ import annotations

import numpy as np
import pytest

from tracking.bodies import planar_body
from tracking.camera import CameraModel
from tracking.tagrender import project, render, textured_background

CAM = CameraModel.guess(640, 480, focal_factor=1.0)


@pytest.mark.parametrize("dx", [0.0, 0.2, 0.45, 0.7])
def test_edge_coverage_matches_projection(dx):
    body = planar_body("b", "DICT_4X4_50", [0], 40.0, "1x1")
    T = np.eye(4)
    T[:3, 3] = [dx * 400 / 640, 0, 400]          # shift the tag by dx px
    img = render(CAM, [(body, T)], None, supersample=8).astype(float)
    tl = project(CAM, T, body.tags[0])[0]
    y = int(round(tl[1])) + 8                      # a row through the black border
    x = int(np.floor(tl[0] + 0.5))                 # the pixel holding the left edge
    black = x + 0.5 - tl[0]                        # covered fraction of that pixel
    assert img[y, x] == pytest.approx(255 * (1 - black), abs=6)
    assert img[y, x + 2] < 5 and img[y, x - 2] > 250


def test_background_kept_and_bodies_behind_camera_skipped():
    bg = textured_background(CAM.image_size, 1)
    body = planar_body("b", "DICT_4X4_50", [0], 30.0, "1x1")
    T = np.eye(4)
    T[2, 3] = -300
    np.testing.assert_array_equal(render(CAM, [(body, T)], bg), bg)
    T[2, 3] = 300
    out = render(CAM, [(body, T)], bg)
    assert np.array_equal(out[:50], bg[:50]) and not np.array_equal(out, bg)
