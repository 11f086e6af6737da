"""Shared, memoised fixtures of the clinical-course tests: a small plan on a sphere "scalp"
(fast), a simulated five-day course replayed through the navigation loop, and a simulated
hotspot search. Values are memoised in module globals so test modules importing these
fixtures compute them once per test session."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from navcore.points import NamedPoints

FIDUCIALS = {"nasion": (0.0, 95.0, 10.0), "lpa": (-75.0, 10.0, -20.0), "rpa": (75.0, 10.0, -20.0)}
M1_MRI = (-35.0, -20.0, 65.0)
DLPFC_MRI = (-40.0, 45.0, 45.0)
_MEMO: dict = {}


def _once(key, make):
    if key not in _MEMO:
        _MEMO[key] = make()
    return _MEMO[key]


def make_sphere_plan(folder: Path):
    """A plan folder with a 90 mm sphere scalp, fiducials, targets m1-hand and dlpfc."""
    from navloop_helpers import sphere_surface
    from targets.placement import HeadAxes, place_coil
    from targets.plan import Plan, PlannedTarget, save_plan

    scalp = sphere_surface(90.0)
    fid = NamedPoints.from_dict(FIDUCIALS, "mri")
    axes = HeadAxes.from_fiducials(*fid.positions)

    def tgt(name, p):
        pl = place_coil(np.array(p, float), scalp, axes, handle_angle_deg=45.0)
        return PlannedTarget(name, pl.target_mri_mm, pl.entry_mri_mm, pl.T_mri_from_coil, source="test",
                             scalp_target_distance_mm=pl.scalp_target_distance_mm)

    folder.mkdir(parents=True, exist_ok=True)
    mri = folder / "head.nii.gz"
    mri.write_bytes(b"not an MRI; the course code never opens it")
    plan = Plan(mri, "0" * 64, (tgt("m1-hand", M1_MRI), tgt("dlpfc", DLPFC_MRI)), fid, scalp=scalp)
    save_plan(plan, folder / "plan")
    return folder / "plan", axes


@pytest.fixture(scope="session")
def course_root(tmp_path_factory) -> Path:
    return _once("root", lambda: tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="session")
def sphere_plan(course_root):
    """(plan_dir, HeadAxes, Plan)."""
    def make():
        import warnings

        from targets.plan import load_plan

        d, axes = make_sphere_plan(course_root)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return d, axes, load_plan(d, checksum="skip")
    return _once("plan", make)


@pytest.fixture(scope="session")
def simulated_course(sphere_plan, course_root):
    """(plan_dir, days, session folders): five replayed daily sessions at 'dlpfc'."""
    from navtms.course_sim import default_days, simulate_course_sessions

    def make():
        import shutil

        # the course writes sessions/ into its plan folder: use a copy, so the shared plan
        # stays as made whatever order the tests run in
        plan_dir = course_root / "course_plan"
        if not plan_dir.exists():
            shutil.copytree(sphere_plan[0], plan_dir)
        days = default_days()
        dirs = simulate_course_sessions(plan_dir, "dlpfc", days, seed=3, threshold_pct_mso=50.0)
        return plan_dir, days, dirs
    return _once("course", make)


@pytest.fixture(scope="session")
def hotspot_search(sphere_plan, course_root):
    """(grid, simulation dict) of a replayed 5 x 5 search (3 pulses per site) around m1-hand."""
    from navtms.course_sim import simulate_hotspot_search
    from targets.hotspot import grid_from_target

    def make():
        plan_dir, axes, plan = sphere_plan
        grid = grid_from_target(plan.scalp, plan.target("m1-hand"), axes)
        sim = simulate_hotspot_search(course_root / "hotspot_search", plan_dir, plan, grid,
                                      np.random.default_rng(5))
        return grid, sim
    return _once("hotspot", make)
