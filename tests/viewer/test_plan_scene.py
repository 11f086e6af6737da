"""viewer.plan_scene offscreen (EGL): display meshes decimated within budget and close to the
full mesh, picking checked against an analytic sphere, the ghost coil placed by its pose."""
from __future__ import annotations

import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from planning_helpers import ellipsoid_mesh
from viewer.plan_scene import Marker, PlanScene, decimate_for_display

R = 80.0


@pytest.fixture(scope="module")
def sphere():
    return ellipsoid_mesh((R, R, R), res=200)        # ~80k triangles, exact normals


def _window(scene, size=(400, 300)):
    rw = vtk.vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetMultiSamples(0)
    rw.SetSize(*size)
    scene.attach(rw)
    return rw


def test_display_mesh_within_budget_and_close_to_the_full_mesh(sphere):
    pd = decimate_for_display(sphere, 5000)
    assert 0 < pd.GetNumberOfPolys() <= 5200
    pts = vtk_to_numpy(pd.GetPoints().GetData())
    r = np.linalg.norm(pts, axis=1)
    assert np.abs(r - R).max() < 1.0                  # display vertices stay on the sphere (mm)
    assert decimate_for_display(sphere, 10**7).GetNumberOfPolys() == sphere.n_triangles   # no upsampling
    assert sphere.vertices.shape[0] > pts.shape[0]    # the input is untouched


@pytest.mark.parametrize("order,expect", [(("brain", "scalp"), "brain"), (("scalp", "brain"), "scalp")])
def test_pick_hits_the_analytic_surface(sphere, order, expect):
    inner = ellipsoid_mesh((R / 2, R / 2, R / 2), res=120)
    scene = PlanScene(max_display_triangles=40_000)
    scene.set_surfaces(sphere, inner)                 # scalp = big sphere, brain = small one
    rw = _window(scene)
    scene.reset_camera(view_dir=(0.0, -1.0, 0.0))
    rw.Render()
    w, h = rw.GetSize()
    hit = scene.pick(w / 2, h / 2, order)
    assert hit is not None and hit[1] == expect
    radius = R / 2 if expect == "brain" else R
    p = hit[0]
    # the camera looks along +y from -y: the nearest point of the sphere is (0, -radius, 0)
    assert np.linalg.norm(p - [0.0, -radius, 0.0]) < 1.0
    assert scene.pick(2, 2) is None                   # the background
    rw.Finalize()


def test_markers_coil_and_display_counts(sphere):
    scene = PlanScene(max_display_triangles=3000)
    scene.set_surfaces(sphere, None)
    assert set(scene.display_triangles()) == {"scalp"} and scene.display_triangles()["scalp"] <= 3100
    scene.set_markers([Marker("a", [0, 0, R], (1, 0, 0)), Marker("b", [0, R, 0], (0, 1, 0))])
    assert scene.overlay.GetActors().GetNumberOfItems() == 2          # drawn again in the X-ray layer
    T = np.diag([1.0, -1.0, -1.0, 1.0])              # a coil on top of the head: +z (into the head) down
    T[:3, 3] = [0.0, 0.0, R + 5.0]
    scene.set_coil(T)
    assert scene.coil_actor.GetVisibility() and np.allclose(
        [scene.coil_actor.GetUserMatrix().GetElement(i, 3) for i in range(3)], T[:3, 3])
    scene.set_coil(None)
    assert not scene.coil_actor.GetVisibility() and not scene.axis_actor.GetVisibility()
    scene.look_at(T)
    cam = scene.renderer.GetActiveCamera()
    assert np.dot(np.subtract(cam.GetPosition(), cam.GetFocalPoint()), [0, 0, 1]) > 0   # from outside, above


def test_default_budgets_scalp_below_brain_and_both_close_to_the_sphere(sphere):
    """The default display budgets (translucent scalp cheaper than the brain) are kept, and the
    decimated scalp still lies on the analytic sphere (radius R mm) within 0.5 mm."""
    from viewer.plan_scene import DISPLAY_TRIANGLES, SCALP_DISPLAY_TRIANGLES

    assert SCALP_DISPLAY_TRIANGLES < DISPLAY_TRIANGLES
    inner = ellipsoid_mesh((R / 2, R / 2, R / 2), res=200)
    scene = PlanScene()
    scene.set_surfaces(sphere, inner)
    n = scene.display_triangles()
    assert 0.9 * SCALP_DISPLAY_TRIANGLES <= n["scalp"] <= 1.03 * SCALP_DISPLAY_TRIANGLES
    assert 0.9 * DISPLAY_TRIANGLES <= n["brain"] <= 1.03 * DISPLAY_TRIANGLES
    pts = vtk_to_numpy(scene.scalp_actor.GetMapper().GetInput().GetPoints().GetData())
    assert np.abs(np.linalg.norm(pts, axis=1) - R).max() < 0.5
    assert PlanScene(max_display_triangles=2000).scalp_display_triangles == 2000   # never above the cap
