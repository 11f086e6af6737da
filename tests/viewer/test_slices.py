"""viewer.slices: exact oblique resampling, focus point, rendered slice pixels."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from viewer.slices import PLANES, SLICE_HALF_WIDTH_MM, SLICE_SPACING_MM, SlicePanel, T_mri_from_slice, focus_point
from viewer.state import ViewState
from viewer.window import OffscreenViewer
from viewer_synth import live_state, synthetic_spec

SIZE = (400, 300)


@pytest.fixture(scope="module")
def spec():
    return synthetic_spec(with_mri=True)


@pytest.fixture(scope="module")
def viewer(spec):
    v = OffscreenViewer(spec, SIZE)
    yield v
    v.close()


def test_reslice_matches_direct_sampling_with_the_oblique_affine(spec):
    panel = SlicePanel(spec)
    state = live_state(spec, dx_mm=3.0, dy_mm=-2.0)
    panel.update(state)
    focus = panel.focus_mri_mm
    T_voxel_from_mri = np.linalg.inv(spec.T_mri_from_voxel)
    n = int(round(2 * SLICE_HALF_WIDTH_MM / SLICE_SPACING_MM)) + 1
    rng = np.random.default_rng(1)
    for (name, u, v, _), img in zip(PLANES, panel.slice_arrays()):
        assert img.shape == (n, n)
        T = T_mri_from_slice(u, v, focus)
        rows, cols = rng.integers(0, n, 50), rng.integers(0, n, 50)
        uv = np.stack([cols * SLICE_SPACING_MM - SLICE_HALF_WIDTH_MM, rows * SLICE_SPACING_MM - SLICE_HALF_WIDTH_MM,
                       np.zeros(50)], 1)
        mri = uv @ T[:3, :3].T + T[:3, 3]
        ijk = mri @ T_voxel_from_mri[:3, :3].T + T_voxel_from_mri[:3, 3]
        inside = np.all((ijk >= 0) & (ijk <= np.array(spec.mri_data.shape) - 1), axis=1)
        expect = map_coordinates(spec.mri_data.astype(np.float64), ijk.T, order=1)
        assert inside.sum() > 10
        assert np.allclose(img[rows, cols][inside], expect[inside], atol=1e-3), name
        # the slice centre is the focus and holds MRI intensities there
        c = n // 2
        ijk_f = T_voxel_from_mri[:3, :3] @ focus + T_voxel_from_mri[:3, 3]
        assert np.isclose(img[c, c], map_coordinates(spec.mri_data.astype(np.float64), ijk_f[:, None], order=1)[0], atol=1e-3)
        assert img.std() > 1.0


def test_focus_is_on_the_coil_axis_nearest_the_target(spec):
    state = live_state(spec, dx_mm=4.0)
    f = focus_point(spec, state)
    T = state.T_mri_from_coil
    t = spec.target("L-DLPFC").target_mri_mm
    d = f - T[:3, 3]
    assert np.linalg.norm(np.cross(d, T[:3, 2])) < 1e-9          # on the +z axis
    assert np.dot(d, T[:3, 2]) > 0
    assert np.isclose(np.dot(t - f, T[:3, 2]), 0.0, atol=1e-9)    # nearest to the target
    # without a current pose: the active target itself
    assert np.allclose(focus_point(spec, ViewState(active_target="R-DLPFC")), spec.target("R-DLPFC").target_mri_mm)


def test_rendered_slices_show_mri_with_crosshair(viewer):
    img = viewer.render(live_state(viewer.layout.spec))
    for i in range(3):
        x0, y0, x1, y1 = viewer.layout.viewports[f"slice{i}"]
        h = img.shape[0]
        tile = img[int(h * (1 - y1)) + 2:int(h * (1 - y0)) - 2, int(x0 * SIZE[0]) + 2:int(x1 * SIZE[0]) - 2]
        gray = tile[(np.abs(tile[..., 0].astype(int) - tile[..., 2]) < 3)]   # image pixels (not the amber cross hair)
        assert gray.std() > 10, f"slice {i} looks constant"
        amber = (tile[..., 0] > 200) & (tile[..., 1] > 120) & (tile[..., 1] < 220) & (tile[..., 2] < 60)
        assert amber.sum() > 20, f"slice {i} has no cross hair"


def test_no_mri_no_slice_viewports():
    v = OffscreenViewer(synthetic_spec(with_mri=False), SIZE)
    try:
        assert v.layout.slices.renderers == [] and "slice0" not in v.layout.viewports
        v.render(ViewState())
    finally:
        v.close()


def test_coil_axis_line_runs_from_coil_centre_to_focus(spec):
    panel = SlicePanel(spec)
    state = live_state(spec, dx_mm=5.0, dy_mm=2.0)
    panel.update(state)
    c_mri = state.T_mri_from_coil[:3, 3]
    for (name, u, v, _), m, actor in zip(PLANES, panel.coil_axis_matrices, panel.coil_axis_actors):
        M = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
        T_slice_from_mri = np.linalg.inv(T_mri_from_slice(u, v, panel.focus_mri_mm))
        c = (T_slice_from_mri @ np.r_[c_mri, 1.0])[:2]
        assert np.allclose((M @ [0, 0, 0, 1])[:2], c), name          # line start: coil centre (in-plane)
        assert np.allclose((M @ [1, 0, 0, 1])[:2], [0.0, 0.0]), name  # line end: the focus
        assert actor.GetVisibility()
    panel.update(ViewState(active_target="L-DLPFC"))
    assert not any(a.GetVisibility() for a in panel.coil_axis_actors)
