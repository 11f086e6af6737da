"""viewer.coil_model: the figure-8 coil sits in the coil frame; STL/PLY loading."""
from __future__ import annotations

import numpy as np
import pytest
import vtk

from navcore.errors import InputFileError
from viewer.coil_library import coil_polydata
from viewer.coil_model import figure8_coil, load_coil_mesh
from viewer.convert import arrays_from_polydata


def test_figure8_in_coil_frame():
    pd = figure8_coil()
    v, f = arrays_from_polydata(pd)
    assert len(f) > 500
    assert v[:, 2].max() == pytest.approx(0.0, abs=1e-6)        # face on z = 0, body outside (z < 0)
    assert v[:, 2].min() < -5
    assert v[:, 0].min() == pytest.approx(-v[:, 0].max(), abs=1e-3)   # wings symmetric along x
    assert v[:, 0].max() == pytest.approx(74.0, abs=0.5)
    assert v[:, 1].max() > 150 and v[:, 1].min() > -40          # handle along +y only
    # the two winding holes: no geometry at the wing centres (x = +-37, y = 0)
    near_hole = np.linalg.norm(v[:, :2] - [37.0, 0.0], axis=1) < 11.0
    assert not near_hole.any()
    assert pd.GetPointData().GetNormals() is not None


@pytest.mark.parametrize("ext,writer", [(".stl", vtk.vtkSTLWriter), (".ply", vtk.vtkPLYWriter)])
def test_load_mesh_round_trip(tmp_path, ext, writer):
    path = tmp_path / f"coil{ext}"
    w = writer()
    w.SetFileName(str(path))
    w.SetInputData(figure8_coil())
    w.Write()
    pd = coil_polydata(path)
    assert np.allclose(pd.GetBounds(), figure8_coil().GetBounds(), atol=1e-3)


def test_load_mesh_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_coil_mesh(tmp_path / "missing.stl")
    bad = tmp_path / "coil.off"
    bad.write_text("OFF\n")
    with pytest.raises(InputFileError, match=r"\.stl, \.ply or \.obj"):
        load_coil_mesh(bad)
    empty = tmp_path / "empty.stl"
    empty.write_text("solid x\nendsolid x\n")
    with pytest.raises(InputFileError, match="no triangles"):
        load_coil_mesh(empty)
