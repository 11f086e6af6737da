"""viewer.convert: numpy <-> VTK round trips."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore.errors import GeometryError
from navcore.transforms import random_rigid
from viewer.convert import arrays_from_polydata, numpy_matrix, polydata_from_arrays, polydata_from_surface, vtk_matrix
from viewer_synth import ellipsoid_surface


def test_surface_round_trip_and_normals():
    s = ellipsoid_surface(res=16)
    pd = polydata_from_surface(s)
    v, f = arrays_from_polydata(pd)
    assert np.allclose(v, s.vertices) and np.array_equal(f, s.faces)
    n = np.asarray(pd.GetPointData().GetNormals())
    assert n is not None
    given_normals = np.tile([0.0, 0.0, 1.0], (len(s.vertices), 1))
    pd2 = polydata_from_arrays(s.vertices, s.faces, given_normals)
    from vtk.util.numpy_support import vtk_to_numpy
    assert np.allclose(vtk_to_numpy(pd2.GetPointData().GetNormals()), given_normals)


def test_bad_surfaces_raise():
    with pytest.raises(GeometryError):
        polydata_from_arrays(np.zeros((0, 3)), np.zeros((0, 3), int))
    with pytest.raises(GeometryError, match="do not exist"):
        polydata_from_arrays(np.zeros((3, 3)), np.array([[0, 1, 5]]))
    with pytest.raises(GeometryError, match=r"\.vertices"):
        polydata_from_surface(object())


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1))
def test_matrix_round_trip(seed):
    T = random_rigid(np.random.default_rng(seed))
    assert np.array_equal(numpy_matrix(vtk_matrix(T)), T)


def test_matrix_shape_checked():
    with pytest.raises(GeometryError):
        vtk_matrix(np.eye(3))
