"""viewer.scene: pixels of the 3D view (offscreen EGL render), actors built once."""
from __future__ import annotations

import math

import numpy as np
import pytest
import vtk

from viewer.scene import NavigationScene, banner_text, grade
from viewer.state import ScreenLimits, ViewState
from viewer.window import OffscreenViewer
from viewer_synth import coil_blue_mask, live_state, synthetic_spec

SIZE = (400, 300)


@pytest.fixture(scope="module")
def viewer():
    spec = synthetic_spec(with_mri=False)
    v = OffscreenViewer(spec, SIZE)
    yield v
    v.close()


def _box(img, col, row, half=12):
    c, r = int(round(col)), int(round(row))
    return img[max(0, r - half):r + half + 1, max(0, c - half):c + half + 1]


def _banner_box(v, img):
    bb = [0.0] * 4
    banner, ren = v.layout.scene.banner, v.layout.scene.renderer
    banner.GetBoundingBox(ren, bb)          # relative to the text anchor, display pixels
    px, py = banner.GetPositionCoordinate().GetComputedDisplayValue(ren)
    x0, x1, y0, y1 = int(px + bb[0]), int(px + bb[1]), int(py + bb[2]), int(py + bb[3])
    h = img.shape[0]
    return img[h - 1 - y1:h - y0, x0:x1 + 1]


def test_coil_visible_draws_coil_pixels_where_the_coil_centre_projects(viewer):
    spec = viewer.layout.spec
    state = live_state(spec)
    img = viewer.render(state)
    col, row = viewer.world_to_pixel(state.T_mri_from_coil[:3, 3])
    assert 0 <= col < 0.66 * SIZE[0] and 0 <= row < SIZE[1]
    near = coil_blue_mask(_box(img, col, row))
    assert near.mean() > 0.3, f"only {near.mean():.2f} of the pixels around the coil centre are coil-blue"
    # banner hidden: its box shows no banner red
    assert not viewer.layout.scene.banner.GetVisibility()


@pytest.mark.parametrize("change", [
    dict(coil_visible=False, T_mri_from_coil=None),
    dict(stale=True, pose_age_ms=800.0),
    dict(head_visible=False),
])
def test_pose_not_current_is_never_drawn_as_live_coil(viewer, change):
    spec = viewer.layout.spec
    fresh = live_state(spec)
    col, row = viewer.world_to_pixel(fresh.T_mri_from_coil[:3, 3])
    img = viewer.render(fresh.with_(**change))
    assert coil_blue_mask(_box(img, col, row, half=40)).sum() == 0
    assert coil_blue_mask(img[:, : int(0.66 * SIZE[0])]).sum() == 0
    box = _banner_box(viewer, img)
    assert box.size > 0
    red = (box[..., 0].astype(int) > 150) & (box[..., 1] < 90) & (box[..., 2] < 90)
    white = box.min(axis=2) > 200
    assert red.mean() > 0.2 and white.mean() > 0.02, "banner region does not hold red background and white text"


def test_stale_pose_drawn_as_wireframe_not_as_live(viewer):
    state = live_state(viewer.layout.spec, stale=True)
    viewer.update(state)
    s = viewer.layout.scene
    assert not s.live_coil_actor.GetVisibility() and s.stale_coil_actor.GetVisibility()
    assert "STALE" in s.banner.GetInput()
    assert s.metric_texts["distance"].GetInput().endswith("--")


def test_update_creates_no_actors(viewer):
    spec = viewer.layout.spec
    viewer.update(live_state(spec))
    n0 = viewer.layout.prop_count()
    coll = vtk.vtkPropCollection()
    for i in range(100):
        st = live_state(spec, dx_mm=i % 7, stale=(i % 5 == 0), coil_visible=(i % 3 != 0))
        viewer.layout.update(st)
        if i % 25 == 0:
            viewer.render_window.Render()
    assert viewer.layout.prop_count() == n0
    assert n0 > 10


def test_numbers_are_colour_coded(viewer):
    s = viewer.layout.scene
    limits = ScreenLimits(distance_mm=3.0, tilt_deg=5.0, twist_deg=10.0)    # amber up to 2x the limit
    viewer.update(live_state(viewer.layout.spec, distance_mm=1.0, tilt_deg=7.0, twist_deg=30.0, limits=limits))
    col = {k: tuple(s.metric_texts[k].GetTextProperty().GetColor()) for k in ("distance", "tilt", "twist")}
    assert col["distance"][1] > 0.9 and col["distance"][0] < 0.3      # green
    assert col["tilt"][0] == 1.0 and 0.5 < col["tilt"][1] < 0.8        # amber
    assert col["twist"][0] == 1.0 and col["twist"][1] < 0.3              # red
    assert "1.0 mm" in s.metric_texts["distance"].GetInput()
    assert "FRE 1.1 mm" in s.quality_text.GetInput() and "TRE 2.0 mm" in s.quality_text.GetInput()


def test_fre_tre_shown_even_without_coil(viewer):
    viewer.update(ViewState(fre_mm=0.8, predicted_tre_mm=1.7))
    q = viewer.layout.scene.quality_text
    assert q.GetVisibility() and "0.8" in q.GetInput() and "1.7" in q.GetInput()


def test_active_target_switch_moves_ghost(viewer):
    spec = viewer.layout.spec
    s = viewer.layout.scene
    viewer.update(live_state(spec, active_target="R-DLPFC"))
    m = s.ghost_actor.GetUserMatrix()
    assert np.allclose([m.GetElement(i, 3) for i in range(3)], spec.target("R-DLPFC").T_mri_from_coil[:3, 3])
    viewer.update(live_state(spec))
    assert np.allclose([m.GetElement(i, 3) for i in range(3)], spec.target("L-DLPFC").T_mri_from_coil[:3, 3])


def test_grade_and_banner_text():
    assert grade(2.0, (3, 6)) == "on" and grade(-5.0, (3, 6)) == "near" and grade(7, (3, 6)) == "off"
    assert grade(math.nan, (3, 6)) == "unknown"
    assert banner_text(ViewState(T_mri_from_coil=np.eye(4), coil_visible=True, head_visible=True)) == ""
    t = banner_text(ViewState(coil_visible=False, head_visible=False, stale=True, pose_age_ms=512))
    assert "COIL NOT VISIBLE" in t and "HEAD NOT VISIBLE" in t and "512 ms" in t


def test_scene_accepts_any_vertices_faces_object():
    spec = synthetic_spec(with_mri=False)
    scene = NavigationScene(spec)
    b = scene.scalp_actor.GetBounds()
    assert np.allclose(b, [-75, 75, -95, 95, -85, 85], atol=1.0)


def test_brain_surface_drawn_when_given():
    from viewer_synth import ellipsoid_surface

    spec = synthetic_spec(with_mri=False)
    spec.brain = ellipsoid_surface(axes_mm=[55.0, 70.0, 60.0], res=16)
    v = OffscreenViewer(spec, SIZE)
    try:
        s = v.layout.scene
        assert s.brain_actor is not None and s.brain_actor.GetVisibility()
        assert np.allclose(s.brain_actor.GetBounds(), [-55, 55, -70, 70, -60, 60], atol=1.0)
        # brain colour appears at the centre of the head on screen (seen through the scalp)
        img = v.render(ViewState(active_target="L-DLPFC"))
        col, row = v.world_to_pixel([0.0, 0.0, 0.0])
        assert s.brain_actor.GetProperty().GetOpacity() == 1.0
        patch = img[int(row) - 3:int(row) + 4, int(col) - 3:int(col) + 4].astype(int)
        assert patch[..., 0].mean() > patch[..., 2].mean() + 20   # warm (pinkish) pixels, not background
    finally:
        v.close()


def test_target_switch_reaims_camera(viewer):
    spec = viewer.layout.spec
    cam = viewer.layout.scene.renderer.GetActiveCamera()
    viewer.update(live_state(spec))
    f_left = np.array(cam.GetFocalPoint())
    viewer.update(live_state(spec, active_target="R-DLPFC"))
    f_right = np.array(cam.GetFocalPoint())
    assert f_left[0] < 0 < f_right[0]
    viewer.update(live_state(spec))


def test_nan_pose_is_hidden_with_banner(viewer):
    T = live_state(viewer.layout.spec).T_mri_from_coil.copy()
    T[:3, 3] = np.nan
    viewer.update(live_state(viewer.layout.spec, T_mri_from_coil=T))
    s = viewer.layout.scene
    assert not s.live_coil_actor.GetVisibility() and not s.stale_coil_actor.GetVisibility()
    assert "COIL NOT VISIBLE" in s.banner.GetInput()


def test_non_rigid_planned_pose_is_refused():
    from navcore.errors import GeometryError

    spec = synthetic_spec(with_mri=False)
    t = spec.targets[0]
    bad = t.T_mri_from_coil.copy()
    bad[:3, :3] *= 2.0
    spec.targets = [type(t)(t.name, t.target_mri_mm, t.entry_mri_mm, bad)]
    with pytest.raises(GeometryError, match="L-DLPFC"):
        NavigationScene(spec)
