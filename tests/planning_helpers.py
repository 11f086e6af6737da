"""Shared, session-scoped planning fixtures (one scalp/brain/MNI computation per test session).

Test modules import these fixtures; pytest then makes one fixture definition per importing
module, so the expensive values are memoised here (module globals are shared) to be computed
once per session whichever module asks first."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from navcore.points import NamedPoints, write_points

REPO = Path(__file__).resolve().parents[1]
SAMPLE_MRI = REPO / "data" / "sample_head" / "head_t1.nii.gz"
SAMPLE_FIDUCIALS = REPO / "data" / "sample_head" / "fiducials.csv"
# Fallback fiducials of the sample head (mri mm), read off its scalp surface (nasion: deepest
# point of the midline profile between brow and nose; LPA/RPA: scalp in front of the ears).
FALLBACK_FIDUCIALS = {"nasion": (2.0, 103.0, -28.0), "lpa": (-80.0, 0.0, -40.0), "rpa": (69.0, -12.0, -40.0)}


_MEMO: dict = {}


def _once(key, make):
    if key not in _MEMO:
        _MEMO[key] = make()
    return _MEMO[key]


@pytest.fixture(scope="session")
def planning_dir(tmp_path_factory) -> Path:
    return _once("dir", lambda: tmp_path_factory.mktemp("planning"))


@pytest.fixture(scope="session")
def sample_fiducials(planning_dir) -> Path:
    if SAMPLE_FIDUCIALS.exists():
        return SAMPLE_FIDUCIALS
    return write_points(planning_dir / "fiducials.csv", NamedPoints.from_dict(FALLBACK_FIDUCIALS, "mri"))


@pytest.fixture(scope="session")
def surface_cache_dir(planning_dir) -> Path:
    d = planning_dir / "cache"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="session")
def sample_plan(sample_fiducials, surface_cache_dir):
    """Plan of the sample head: Fox 2012 DLPFC (MNI, registered) and a subject-space target."""
    from targets.planner import PlanOptions, TargetRequest, build_plan

    reqs = [TargetRequest("library", "dlpfc-fox2012"), TargetRequest("library", "dlpfc-fox2012-right")]
    return _once("plan", lambda: build_plan(SAMPLE_MRI, reqs, sample_fiducials,
                                            opts=PlanOptions(cache_dir=surface_cache_dir)))


@pytest.fixture(scope="session")
def sample_mni_json(sample_plan, planning_dir) -> Path:
    from targets.mni_io import save_mni_transform

    return _once("mni", lambda: save_mni_transform(planning_dir / "mni.json", sample_plan.T_mri_from_mni))


def fiducial_axes(path):
    from navcore.points import read_points
    from targets.placement import HeadAxes
    from targets.planner import fiducial_lookup

    f = fiducial_lookup(read_points(path, "mri"))
    return HeadAxes.from_fiducials(f["nasion"], f["lpa"], f["rpa"])


def as_array(x):
    return np.asarray(x, dtype=np.float64)


def ellipsoid_mesh(abc=(90.0, 90.0, 90.0), res: int = 180):
    """A real triangulated ellipsoid (targets.surfaces.Surface) with exact outward normals."""
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    from targets.surfaces import Surface

    abc = np.asarray(abc, dtype=np.float64)
    s = vtk.vtkSphereSource()
    s.SetRadius(1.0)
    s.SetThetaResolution(res)
    s.SetPhiResolution(res)
    s.Update()
    pd = s.GetOutput()
    v = vtk_to_numpy(pd.GetPoints().GetData()).astype(np.float64) * abc
    f = vtk_to_numpy(pd.GetPolys().GetConnectivityArray()).reshape(-1, 3).astype(np.int64)
    n = v / abc ** 2
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return Surface(v, f, n)


@pytest.fixture(scope="session")
def sample_surfaces(surface_cache_dir):
    """(scalp, brain) of the sample head through the session's surface cache."""
    from navcore.mri import load_mri
    from targets.surface_cache import cached_brain, cached_scalp

    def make():
        mri = load_mri(SAMPLE_MRI)
        return cached_scalp(mri, cache_dir=surface_cache_dir)[0], cached_brain(mri, cache_dir=surface_cache_dir)[0]

    return _once("surfaces", make)


def scalp_head_points(scalp, rng) -> np.ndarray:
    """42 head points (mri mm) on a scalp mesh: 30 over the top 100 mm, 12 on the face, 0.5 mm
    noise, the first two lifted 15 mm off along the normal (outliers)."""
    v = scalp.vertices
    top = np.nonzero(v[:, 2] > v[:, 2].max() - 100)[0]
    face = np.nonzero((v[:, 1] > v[:, 1].max() - 40) & (v[:, 2] > -90))[0]
    sel = np.concatenate([rng.choice(top, 30, replace=False), rng.choice(face, 12, replace=False)])
    pts = v[sel] + rng.normal(0, 0.5, (len(sel), 3))
    pts[:2] += 15 * scalp.normals[sel[:2]]
    return pts

