"""targets.plan_edit: the workbench's edits as pure functions, checked against independent
measurements (handle angle measured back from the pose, brute-force closest scalp point) and
against `navtms plan`'s own route (build_plan) for the same inputs."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import GeometryError, PlanError
from planning_helpers import SAMPLE_MRI, fiducial_axes, sample_fiducials, surface_cache_dir, planning_dir  # noqa: F401
from targets import plan_edit as pe
from targets.placement import HeadAxes, handle_angle_of
from targets.planner import PlanOptions, TargetRequest, build_plan, start_plan

P1 = np.array([-38.0, 44.0, 26.0])
P2 = np.array([40.0, 30.0, 40.0])
_BASE = {}


@pytest.fixture(scope="module")
def base(sample_fiducials, surface_cache_dir):
    if "plan" not in _BASE:
        _BASE["plan"] = start_plan(SAMPLE_MRI, sample_fiducials, PlanOptions(cache_dir=surface_cache_dir))[0]
    return _BASE["plan"]


def _same_target(a, b):
    assert a.name == b.name and a.source == b.source and a.notes == b.notes and a.entry_method == b.entry_method
    for f in ("target_mri_mm", "entry_mri_mm", "T_mri_from_coil"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.handle_angle_deg == b.handle_angle_deg and a.offset_mm == b.offset_mm


def test_start_plan_is_empty_with_surfaces(base):
    assert base.targets == () and base.scalp is not None and base.brain is not None
    assert set(n.lower() for n in base.fiducials.names) >= {"nasion", "lpa", "rpa"}


def test_added_target_is_what_navtms_plan_makes(base, sample_fiducials, surface_cache_dir):
    app = pe.add_target(base, "t1", P1)
    cli = build_plan(SAMPLE_MRI, [TargetRequest("mri", name="t1", values=tuple(P1))], sample_fiducials,
                     opts=PlanOptions(cache_dir=surface_cache_dir))
    _same_target(app.targets[0], cli.targets[0])


def test_placement_against_independent_measurements(base, sample_fiducials):
    t = pe.add_target(base, "t1", P1, handle_angle_deg=30.0).targets[0]
    axes = fiducial_axes(sample_fiducials)
    assert handle_angle_of(t.T_mri_from_coil, axes) == pytest.approx(30.0, abs=1e-6)
    # the entry is the scalp point nearest the target: no scalp vertex is clearly nearer
    d_vertices = np.linalg.norm(base.scalp.vertices - P1, axis=1).min()
    assert np.linalg.norm(t.entry_mri_mm - P1) <= d_vertices + 1e-6
    assert t.scalp_target_distance_mm == pytest.approx(np.linalg.norm(t.entry_mri_mm - P1))
    # the coil axis (+z) points into the head, the coil face sits offset_mm outside the entry
    z, c = t.T_mri_from_coil[:3, 2], t.T_mri_from_coil[:3, 3]
    assert np.linalg.norm(c - (t.entry_mri_mm - t.offset_mm * z)) < 1e-6
    assert z @ (P1 - t.entry_mri_mm) > 0


def test_handle_offset_and_entry_edits(base, sample_fiducials):
    p = pe.add_target(base, "t1", P1)
    q = pe.set_target_options(p, "t1", handle_angle_deg=90.0)
    a, b = p.targets[0], q.targets[0]
    axes = fiducial_axes(sample_fiducials)
    assert handle_angle_of(b.T_mri_from_coil, axes) == pytest.approx(90.0, abs=1e-6)
    np.testing.assert_allclose(b.T_mri_from_coil[:3, 2], a.T_mri_from_coil[:3, 2], atol=1e-12)   # same axis
    np.testing.assert_allclose(b.entry_mri_mm, a.entry_mri_mm)
    # handle turned by 45 deg about the coil axis
    cosang = a.T_mri_from_coil[:3, 1] @ b.T_mri_from_coil[:3, 1]
    assert np.rad2deg(np.arccos(np.clip(cosang, -1, 1))) == pytest.approx(45.0, abs=1e-6)
    r = pe.set_target_options(q, "t1", offset_mm=10.0)
    assert r.targets[0].offset_mm == 10.0
    assert np.linalg.norm(r.targets[0].T_mri_from_coil[:3, 3] - r.targets[0].entry_mri_mm) == pytest.approx(10.0)
    n = pe.set_target_options(q, "t1", entry_method="normal")
    assert n.targets[0].entry_method == "normal"
    with pytest.raises(PlanError):
        pe.set_target_options(q, "t1", entry_method="given")
    assert p.targets[0].handle_angle_deg == 45.0          # the input plan is untouched


def test_move_target_keeps_the_old_source_in_the_notes(base):
    lib = pe.add_target(base, "t1", P1, source="Fox et al. 2012", mni_mm=np.array([-38.0, 44.0, 26.0]))
    moved = pe.move_target(lib, "t1", P1 + [0.0, 5.0, 0.0])
    t = moved.targets[0]
    assert t.source == pe.CLICK_SOURCE and t.mni_mm is None and "Fox et al. 2012" in t.notes
    np.testing.assert_allclose(t.target_mri_mm, P1 + [0.0, 5.0, 0.0])
    again = pe.move_target(moved, "t1", P1)
    assert again.targets[0].notes.count("Moved by the planner") == 1


def test_rename_remove_reorder_and_refusals(base):
    p = pe.add_target(pe.add_target(base, "a", P1), "b", P2)
    assert [t.name for t in pe.rename_target(p, "a", "c").targets] == ["c", "b"]
    assert [t.name for t in pe.remove_target(p, "a").targets] == ["b"]
    assert [t.name for t in pe.reorder_target(p, "b", 0).targets] == ["b", "a"]
    with pytest.raises(PlanError, match="already has"):
        pe.rename_target(p, "a", "b")
    with pytest.raises(PlanError, match="already has"):
        pe.add_target(p, "a", P2)
    with pytest.raises(PlanError, match="no target"):
        pe.remove_target(p, "zz")
    with pytest.raises(PlanError, match="needs a name"):
        pe.rename_target(p, "a", "  ")
    assert pe.unique_name(p, "a") == "a-2" and pe.unique_name(p, "z") == "z"


def test_fiducial_change_replans_every_target(base):
    p = pe.add_target(base, "t1", P1, handle_angle_deg=45.0)
    fid = {n.lower(): np.asarray(p.fiducials[n]) for n in p.fiducials.names}
    nasion = fid["nasion"] + [25.0, 0.0, 0.0]                 # the midline turns
    q = pe.set_fiducial(p, "Nasion", nasion)
    np.testing.assert_allclose(q.fiducials[[n for n in q.fiducials.names if n.lower() == "nasion"][0]], nasion)
    new_axes = HeadAxes.from_fiducials(nasion, fid["lpa"], fid["rpa"])
    t_old, t_new = p.targets[0], q.targets[0]
    assert handle_angle_of(t_new.T_mri_from_coil, new_axes) == pytest.approx(45.0, abs=1e-6)
    assert not np.allclose(t_new.T_mri_from_coil[:3, 1], t_old.T_mri_from_coil[:3, 1], atol=1e-3)
    with pytest.raises(PlanError):
        pe.set_fiducial(p, "vertex", nasion)


def test_fiducials_by_clicking_start_from_none(base):
    from navcore.points import NamedPoints

    none = replace(base, fiducials=NamedPoints((), np.zeros((0, 3)), "mri"))
    p = pe.add_target(none, "t1", P1)
    q = pe.set_fiducial(p, "lpa", [-80.0, 0.0, -40.0])
    assert list(q.fiducials.names) == ["lpa"]
    _same_target(q.targets[0], p.targets[0])          # two fiducials are not axes yet: nothing re-planned


def _four(base):
    if "four" not in _BASE:
        plan = base
        for i, n in enumerate("abcd"):
            plan = pe.add_target(plan, n, P1 + [0.0, 3.0 * i, 0.0])
        _BASE["four"] = plan
    return _BASE["four"]


@settings(max_examples=25)
@given(moves=st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 5)), min_size=1, max_size=8))
def test_reorder_matches_a_list_model(base, moves):
    plan = _four(base)
    model = list("abcd")
    for i, j in moves:
        name = model[i]
        plan = pe.reorder_target(plan, name, j)
        model.remove(name)
        model.insert(max(0, min(j, len(model))), name)
        assert [t.name for t in plan.targets] == model


def test_ten_twenty_point_and_request(base, sample_fiducials, surface_cache_dir):
    from targets.planner import fiducial_lookup
    from targets.scalp_rules import ten_twenty, ten_twenty_point

    look = fiducial_lookup(base.fiducials)
    tt = ten_twenty(base.scalp, look["nasion"], look["lpa"], look["rpa"])
    r = ten_twenty_point(base.scalp, look["nasion"], look["lpa"], look["rpa"], "f3", brain=base.brain)
    np.testing.assert_allclose(r.scalp_mri_mm, tt.positions["F3"])
    assert r.scalp_mri_mm[0] < look["nasion"][0]              # F3 is on the left
    with pytest.raises(GeometryError, match="not a 10-20 position"):
        ten_twenty_point(base.scalp, look["nasion"], look["lpa"], look["rpa"], "F9")
    plan = build_plan(SAMPLE_MRI, [TargetRequest("ten-twenty", name="F3")], sample_fiducials,
                      opts=PlanOptions(cache_dir=surface_cache_dir))
    t = plan.targets[0]
    assert t.entry_method == "given" and np.linalg.norm(t.entry_mri_mm - tt.positions["F3"]) < 1.0
    assert "10-20" in t.source


def test_an_imported_pose_is_kept_until_moved(base):
    from targets.planner import imported_target

    p = pe.add_target(base, "t1", P1)
    T = p.targets[0].T_mri_from_coil.copy()
    imp = imported_target("imp", T, "imported from a test", base.scalp, base.brain)
    q = replace(p, targets=p.targets + (imp,))
    fid = {n.lower(): np.asarray(q.fiducials[n]) for n in q.fiducials.names}
    r = pe.set_fiducial(q, "nasion", fid["nasion"] + [20.0, 0.0, 0.0])
    assert r.target("imp") is imp                               # fiducials leave it alone
    assert r.target("t1") is not q.target("t1")                 # ... and re-plan the others
    with pytest.raises(PlanError, match="imported"):
        pe.set_target_options(q, "imp", handle_angle_deg=30.0)
    m = pe.move_target(q, "imp", P1 + [0.0, 4.0, 0.0]).target("imp")
    assert m.entry_method == "closest" and m.handle_angle_deg == 45.0 and "imported from a test" in m.notes
