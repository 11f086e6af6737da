"""viewer.coil_library: coil shapes to their stated scale with the hotspot at the coil origin, a
clinic's mesh (STL/OBJ) placed by its transform, and the scene's ghost and live coil using them."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from navcore.errors import InputFileError
from viewer.coil_library import COILS, coil_mesh, coil_shape_mesh, load_transform


def _pts(pd) -> np.ndarray:
    return vtk_to_numpy(pd.GetPoints().GetData()).astype(np.float64)


@pytest.mark.parametrize("name", ["figure8-70", "figure8-cooled"])
def test_figure8_to_scale_with_hotspot_at_the_origin(name):
    shape = COILS[name]
    p = _pts(coil_shape_mesh(shape))
    wings = p[p[:, 1] < 0.3 * shape.wing_outer_mm / 2 - 1]  # below the handle
    # two wings side by side: outer extent = two outer diameters (72-gon: cos(5 deg) of the radius at worst)
    assert wings[:, 0].max() == pytest.approx(shape.wing_outer_mm, rel=0.005)
    assert wings[:, 0].min() == pytest.approx(-shape.wing_outer_mm, rel=0.005)
    assert wings[:, 1].min() == pytest.approx(-shape.wing_outer_mm / 2, rel=0.01)
    # the face lies on z = 0, the body outside the head (z <= 0), as thick as stated
    assert p[:, 2].max() == pytest.approx(0.0, abs=1e-6)
    assert wings[:, 2].min() == pytest.approx(-shape.thickness_mm, abs=1e-6)
    # the hotspot (where the wings meet) is the origin: a face vertex sits there
    face = p[np.abs(p[:, 2]) < 1e-6]
    assert np.min(np.linalg.norm(face, axis=1)) < 1e-6
    # handle along +y
    assert p[:, 1].max() > shape.handle_length_mm


def test_double_cone_wings_fold_around_the_head():
    shape = COILS["double-cone"]
    p = _pts(coil_shape_mesh(shape))
    half = np.deg2rad(shape.wing_angle_deg) / 2
    # a wing of diameter D hinged at the origin, folded towards the head's sides: far rim at
    # (D sin(half), 0, D cos(half)); the wing faces meet at wing_angle_deg
    D = shape.wing_outer_mm
    th = shape.thickness_mm  # the casing's back rim sticks out by th along the folded wing's normal
    assert p[:, 0].max() == pytest.approx(D * np.sin(half) + th * np.cos(half), rel=0.01)
    assert p[:, 2].max() == pytest.approx(D * np.cos(half), rel=0.01)
    assert p[:, 2].min() < 0  # the casing stays outside at the hotspot
    assert shape.width_mm == pytest.approx(2 * shape.wing_outer_mm * np.sin(half))
    face_near_origin = p[np.linalg.norm(p, axis=1) < 1e-6]
    assert len(face_near_origin)  # the hotspot line passes through the origin


def test_h_type_outline_follows_the_head():
    shape = COILS["h-type"]
    p = _pts(coil_shape_mesh(shape))
    W, D = shape.outline_mm
    assert -W / 2 - shape.thickness_mm <= p[:, 0].min() < -W / 2 + 1 and W / 2 - 1 < p[:, 0].max() <= W / 2 + shape.thickness_mm
    assert p[:, 1].max() - p[:, 1].min() >= D - 5
    inner = p[np.isclose(np.linalg.norm(p - [0, 0, 100.0], axis=1), 100.0, atol=1e-3)]
    assert len(inner) > 100  # the inner face is the 100 mm sphere through the origin ...
    assert np.min(np.linalg.norm(inner, axis=1)) < 3.0  # ... touching the head at the hotspot
    assert inner[:, 2].max() > 30  # rims curve towards the head (+z)


def _box_stl(path, bounds):
    cube = vtk.vtkCubeSource()
    cube.SetBounds(*bounds)
    tri = vtk.vtkTriangleFilter()
    tri.SetInputConnection(cube.GetOutputPort())
    w = vtk.vtkSTLWriter()
    w.SetFileName(str(path))
    w.SetInputConnection(tri.GetOutputPort())
    w.Write()


def test_clinic_mesh_is_placed_by_its_transform(tmp_path):
    stl = tmp_path / "coil.stl"
    _box_stl(stl, (0, 100, 0, 40, 0, 10))  # a mesh drawn with its corner at the origin, in mm
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # mesh x -> coil y
    T[:3, 3] = [20.0, -50.0, -10.0]
    tf = tmp_path / "T.txt"
    np.savetxt(tf, T)
    pd = coil_mesh(str(stl), load_transform(tf))
    corners = np.array([[x, y, z] for x in (0, 100) for y in (0, 40) for z in (0, 10)], float)
    want = corners @ T[:3, :3].T + T[:3, 3]
    np.testing.assert_allclose(pd.GetBounds(), np.ravel([want.min(0), want.max(0)], order="F"), atol=1e-4)


def test_obj_mesh_reads(tmp_path):
    obj = tmp_path / "c.obj"
    obj.write_text("# a triangle and a quad, hand-written\nv 0 0 0\nv 10 0 0\nv 0 10 0\nv 10 10 -5\n"
                   "f 1 2 3\nf 2 4 3\n")
    pd = coil_mesh(str(obj))
    assert pd.GetNumberOfPolys() == 2
    np.testing.assert_allclose(pd.GetBounds(), [0, 10, 0, 10, -5, 0])


def test_bad_transform_and_unknown_name_are_refused(tmp_path):
    tf = tmp_path / "T.txt"
    np.savetxt(tf, np.diag([2.0, 1, 1, 1]))
    with pytest.raises(InputFileError, match="not a rigid"):
        load_transform(tf)
    with pytest.raises(InputFileError, match="neither a coil in the library"):
        coil_mesh("figure9")


def test_scene_ghost_and_live_coil_use_the_model():
    from viewer.scene import NavigationScene
    from viewer_synth import synthetic_spec

    spec = dataclasses.replace(synthetic_spec(with_mri=False), coil_mesh_path="double-cone")
    scene = NavigationScene(spec)
    want = coil_shape_mesh(COILS["double-cone"]).GetBounds()
    for actor in (scene.ghost_actor, scene.live_coil_actor):
        np.testing.assert_allclose(actor.GetMapper().GetInput().GetBounds(), want, atol=1e-6)


def test_scalp_labels_show_on_the_side_facing_the_camera():
    from viewer.scene import NavigationScene
    from viewer.state import ViewState
    from viewer_synth import synthetic_spec

    base = synthetic_spec(with_mri=False)  # ellipsoid scalp centred on the origin
    spec = dataclasses.replace(base, scalp_labels=[("Fz", np.array([0.0, 90.0, 20.0])), ("Oz", np.array([0.0, -90.0, 20.0]))])
    scene = NavigationScene(spec)
    cam = scene.renderer.GetActiveCamera()
    cam.SetFocalPoint(0, 0, 0)
    cam.SetPosition(0, 600, 0)  # looking from the front
    scene.update(ViewState())
    (fz_dot, fz), (oz_dot, oz) = scene.label_actors["Fz"], scene.label_actors["Oz"]
    assert fz.GetInput() == "Fz" and np.allclose(fz.GetPosition(), [0, 90, 20])
    assert fz.GetVisibility() and fz_dot.GetVisibility() and not oz.GetVisibility() and not oz_dot.GetVisibility()
    cam.SetPosition(0, -600, 0)  # from the back
    scene.update(ViewState())
    assert oz.GetVisibility() and not fz.GetVisibility()
