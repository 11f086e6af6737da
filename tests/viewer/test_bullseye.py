"""viewer.bullseye: geometry (against targets.alignment) and where the dot lands on screen."""
from __future__ import annotations

import math

import numpy as np
import pytest
import vtk
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from navcore.transforms import make_transform, random_rigid
from targets.alignment import alignment
from viewer.bullseye import BULLSEYE_MM_PER_DEG, bullseye_geometry
from viewer.window import OffscreenViewer
from viewer_synth import coil_blue_mask, live_state, synthetic_spec

SIZE = (400, 300)


@pytest.fixture(scope="module")
def viewer():
    v = OffscreenViewer(synthetic_spec(with_mri=False), SIZE)
    yield v
    v.close()


def _centre_px(v):
    c = vtk.vtkCoordinate()
    c.SetCoordinateSystemToWorld()
    c.SetValue(0.0, 0.0, 0.0)
    x, y = c.GetComputedDoubleDisplayValue(v.layout.bullseye.renderer)
    return x, SIZE[1] - 1 - y


def _dot_px(v, img):
    x0 = int(v.layout.viewports["bullseye"][0] * SIZE[0]) + 1
    mask = coil_blue_mask(img[:, x0:])
    assert mask.sum() > 5, "no bullseye dot drawn"
    rows, cols = np.nonzero(mask)
    return cols.mean() + x0, rows.mean()


@pytest.mark.parametrize("dx,dy", [(5.0, 0.0), (-5.0, 0.0), (0.0, 5.0), (0.0, -5.0), (4.0, 4.0)])
def test_dot_moves_with_the_offset(viewer, dx, dy):
    img = viewer.render(live_state(viewer.layout.spec, dx_mm=dx, dy_mm=dy))
    cx, cy = _centre_px(viewer)
    px, py = _dot_px(viewer, img)
    # screen right = planned +x, screen up (smaller row) = planned +y
    assert np.sign(round(px - cx)) == np.sign(dx) if dx else abs(px - cx) < 3
    assert np.sign(round(cy - py)) == np.sign(dy) if dy else abs(py - cy) < 3
    if dx and not dy:
        # 5 mm in a half-height of extent_mm: the pixel distance matches the scale
        half_h = viewer.layout.bullseye.renderer.GetActiveCamera().GetParallelScale()
        px_per_mm = (viewer.layout.bullseye.renderer.GetSize()[1] / 2.0) / half_h
        assert abs(abs(px - cx) - 5.0 * px_per_mm) < 2.0


def test_no_dot_without_current_pose(viewer):
    img = viewer.render(live_state(viewer.layout.spec, dx_mm=5.0).with_(coil_visible=False, T_mri_from_coil=None))
    x0 = int(viewer.layout.viewports["bullseye"][0] * SIZE[0]) + 1
    assert coil_blue_mask(img[:, x0:]).sum() == 0
    assert viewer.layout.bullseye.nopose_text.GetVisibility()


def test_far_offset_clamped_to_rim_and_red(viewer):
    viewer.update(live_state(viewer.layout.spec, dx_mm=80.0))
    b = viewer.layout.bullseye
    m = b.dot_actor.GetUserMatrix()
    assert math.isclose(m.GetElement(0, 3), 0.95 * b.extent_mm) and abs(m.GetElement(1, 3)) < 1e-9
    r, g, _ = b.dot_actor.GetProperty().GetColor()
    assert r > 0.9 and g < 0.4


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31 - 1), tilt_deg=st.floats(0.0, 150.0), twist_deg=st.floats(-179.0, 179.0))
def test_geometry_matches_alignment_definitions(seed, tilt_deg, twist_deg):
    rng = np.random.default_rng(seed)
    T_plan = random_rigid(rng)
    az = rng.uniform(0, 2 * np.pi)
    swing = Rotation.from_rotvec(math.radians(tilt_deg) * np.array([math.cos(az), math.sin(az), 0.0])).as_matrix()
    twist = Rotation.from_rotvec([0.0, 0.0, math.radians(twist_deg)]).as_matrix()
    T_rel = make_transform(swing @ twist, rng.uniform(-10, 10, 3))
    T_live = T_plan @ T_rel
    g = bullseye_geometry(T_plan, T_plan[:3, 3], T_live)
    a = alignment(T_plan, T_live)
    assert np.allclose(g.offset_xy_mm, a.offset_mm[:2], atol=1e-9)
    assert math.isclose(g.tilt_rad, a.tilt_rad, abs_tol=1e-9)
    assert math.isclose(g.tilt_rad, math.radians(tilt_deg), abs_tol=1e-7)
    d = (g.twist_rad - a.twist_rad + math.pi) % (2 * math.pi) - math.pi
    assert abs(d) < 1e-7
    if tilt_deg > 0.01:
        # the tilt arrow points where the live +z leans
        z = (T_plan[:3, :3].T @ T_live[:3, :3])[:, 2]
        assert np.allclose(g.tilt_dir_xy, z[:2] / np.linalg.norm(z[:2]), atol=1e-9)


def test_geometry_is_invariant_to_a_common_rigid_motion():
    rng = np.random.default_rng(7)
    for _ in range(20):
        T_plan, T_live, M = random_rigid(rng), random_rigid(rng, 5.0), random_rigid(rng)
        T_live = T_plan @ T_live
        entry = T_plan[:3, 3] + rng.normal(size=3)
        g1 = bullseye_geometry(T_plan, entry, T_live)
        g2 = bullseye_geometry(M @ T_plan, M[:3, :3] @ entry + M[:3, 3], M @ T_live)
        assert np.allclose(g1.offset_xy_mm, g2.offset_xy_mm, atol=1e-9)
        assert math.isclose(g1.tilt_rad, g2.tilt_rad, abs_tol=1e-9)
        assert math.isclose(g1.twist_rad, g2.twist_rad, abs_tol=1e-9)


def test_tilt_arrow_points_where_the_coil_leans(viewer):
    spec = viewer.layout.spec
    T_plan = spec.target("L-DLPFC").T_mri_from_coil
    lean = Rotation.from_rotvec([0.0, -math.radians(6.0), 0.0]).as_matrix()   # +z leans towards -x
    T_live = T_plan @ make_transform(lean, [0.0, 0.0, 0.0])
    viewer.update(live_state(spec).with_(T_mri_from_coil=T_live))
    b = viewer.layout.bullseye
    m = b.tilt_matrix
    tip = np.array([sum(m.GetElement(i, j) * p for j, p in enumerate([1, 0, 0, 1])) for i in range(2)])
    assert b.tilt_actor.GetVisibility()
    assert np.allclose(tip, [-6.0 * BULLSEYE_MM_PER_DEG, 0.0], atol=1e-6)   # towards -x
