"""Render the sample head's scalp with its planned fiducials (offscreen) for a visual check.

    python scripts/render_sample_fiducials.py [--fiducials data/sample_head/fiducials.csv]
        [--out docs/img/sample_head_fiducials.png] [--zoom NAME ...] [--size PX]

Views, left to right: front, left side, right side, then close-ups of the points named by
--zoom (default nasion, lpa, rpa). Nasion is red, LPA green, RPA blue; other points yellow. Needs an offscreen
OpenGL (EGL) context; no display is used.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

COLOURS = {"nasion": (1.0, 0.1, 0.1), "lpa": (0.1, 0.9, 0.1), "rpa": (0.2, 0.4, 1.0)}


def render(surface, points: dict, out: Path, zoom: list[str] | None = None, size: int = 600) -> Path:
    from vtkmodules.vtkFiltersSources import vtkSphereSource
    from vtkmodules.vtkIOImage import vtkPNGWriter
    from vtkmodules.vtkRenderingCore import (vtkActor, vtkPolyDataMapper, vtkRenderer, vtkRenderWindow,
                                             vtkWindowToImageFilter)
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401

    from targets.surfaces import _to_polydata

    from vtkmodules.util.numpy_support import numpy_to_vtk

    poly = _to_polydata(surface.vertices, surface.faces)
    poly.GetPointData().SetNormals(numpy_to_vtk(np.ascontiguousarray(surface.normals), deep=True))
    centre = surface.vertices.mean(axis=0)
    views = [("front", np.array([0, 1, 0]), np.array([0, 0, 1])),
             ("left", np.array([-1, 0, 0]), np.array([0, 0, 1])),
             ("right", np.array([1, 0, 0]), np.array([0, 0, 1]))]
    for name in zoom or []:
        p = np.asarray(points[name])
        d = p - centre
        axis = int(np.argmax(np.abs(d[:2])))  # look straight from the side (ears) or the front
        direction = np.zeros(3)
        direction[axis] = np.sign(d[axis])
        views.append((f"zoom {name}", direction, np.array([0, 0, 1])))
    win = vtkRenderWindow()
    win.SetOffScreenRendering(1)
    win.SetSize(size * len(views), size)
    for k, (name, direction, up) in enumerate(views):
        ren = vtkRenderer()
        ren.SetViewport(k / len(views), 0, (k + 1) / len(views), 1)
        ren.SetBackground(1, 1, 1)
        m = vtkPolyDataMapper()
        m.SetInputData(poly)
        a = vtkActor()
        a.SetMapper(m)
        a.GetProperty().SetColor(0.93, 0.78, 0.68)
        ren.AddActor(a)
        for label, pos in points.items():
            sph = vtkSphereSource()
            sph.SetCenter(*np.asarray(pos, dtype=float))
            sph.SetRadius(1.5 if name.startswith("zoom") else 3.0)
            sph.SetThetaResolution(24)
            sph.SetPhiResolution(24)
            sm = vtkPolyDataMapper()
            sm.SetInputConnection(sph.GetOutputPort())
            sa = vtkActor()
            sa.SetMapper(sm)
            sa.GetProperty().SetColor(*COLOURS.get(label.lower(), (1.0, 0.9, 0.1)))
            ren.AddActor(sa)
        cam = ren.GetActiveCamera()
        focus = np.asarray(points[name[5:]]) if name.startswith("zoom") else centre
        dist = 120.0 if name.startswith("zoom") else 600.0
        cam.SetFocalPoint(*focus)
        cam.SetPosition(*(focus + dist * direction))
        cam.SetViewUp(*up)
        cam.SetViewAngle(30)
        ren.ResetCameraClippingRange()
        win.AddRenderer(ren)
    win.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(win)
    grab.Update()
    out.parent.mkdir(parents=True, exist_ok=True)
    w = vtkPNGWriter()
    w.SetFileName(str(out))
    w.SetInputConnection(grab.GetOutputPort())
    w.Write()
    return out


def main(argv=None) -> int:
    from navcore.mri import load_mri
    from navcore.points import read_points
    from targets.surfaces import scalp_surface

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mri", default=str(REPO / "data/sample_head/head_t1.nii.gz"))
    ap.add_argument("--fiducials", default=str(REPO / "data/sample_head/fiducials.csv"))
    ap.add_argument("--out", default=str(REPO / "docs/img/sample_head_fiducials.png"))
    ap.add_argument("--zoom", nargs="*", default=["nasion", "lpa", "rpa"],
                    help="also show close-ups of these points (default: nasion lpa rpa)")
    ap.add_argument("--size", type=int, default=400, help="pixels per view")
    args = ap.parse_args(argv)
    surf = scalp_surface(load_mri(args.mri))
    pts = read_points(args.fiducials, frame="mri").as_dict()
    print(render(surf, pts, Path(args.out), zoom=args.zoom, size=args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
