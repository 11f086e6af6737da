"""Plan folder: the sample-head DLPFC plan, save/load round trip, refusals, malformed files."""
from __future__ import annotations

import json
import shutil
import warnings

import nibabel as nib
import numpy as np
import pytest

from navcore.errors import InputFileError, PlanError
from navcore.points import read_points
from navcore.transforms import angle_between, is_rigid
from targets.placement import closest_point_on_mesh, handle_angle_of
from targets.plan import ChecksumWarning, load_plan, save_plan, with_targets
from targets.planner import PlanOptions, TargetRequest, build_plan, signed_distance_to_surface

from planning_helpers import (SAMPLE_MRI, fiducial_axes, planning_dir, sample_fiducials, sample_mni_json,  # noqa: F401
                              sample_plan, surface_cache_dir)


def test_sample_dlpfc_plan_geometry(sample_plan, sample_fiducials):
    t = sample_plan.target("dlpfc-fox2012")
    assert sample_plan.brain is not None
    assert signed_distance_to_surface(sample_plan.brain, t.target_mri_mm) < 0  # inside the brain
    q, _ = closest_point_on_mesh(sample_plan.scalp, t.entry_mri_mm)
    assert np.linalg.norm(q - t.entry_mri_mm) < 0.5  # entry on the scalp
    assert 10.0 <= np.linalg.norm(t.entry_mri_mm - t.target_mri_mm) <= 30.0
    T = t.T_mri_from_coil
    assert is_rigid(T)
    assert np.rad2deg(angle_between(T[:3, 2], t.target_mri_mm - T[:3, 3])) < 10.0
    axes = fiducial_axes(sample_fiducials)
    assert abs(handle_angle_of(T, axes) - 45.0) < 1e-6
    assert t.target_mri_mm[0] < axes.midline_point[0]  # left hemisphere
    r = sample_plan.target("dlpfc-fox2012-right")
    assert r.target_mri_mm[0] > axes.midline_point[0]
    assert 0 < t.scalp_cortex_distance_mm < t.scalp_target_distance_mm
    assert "10.1016/j.biopsych.2012.04.028" in t.source


def test_round_trip(sample_plan, tmp_path):
    path = save_plan(sample_plan, tmp_path / "p")
    back = load_plan(tmp_path / "p", checksum="raise")
    assert back.mri_sha256 == sample_plan.mri_sha256 and back.mri_path == SAMPLE_MRI.resolve()
    assert np.allclose(back.T_mri_from_mni, sample_plan.T_mri_from_mni)
    for a, b in zip(sample_plan.targets, back.targets):
        assert a.name == b.name and a.source == b.source
        assert np.allclose(a.T_mri_from_coil, b.T_mri_from_coil)
        assert np.allclose(a.entry_mri_mm, b.entry_mri_mm)
        assert np.allclose(a.mni_mm, b.mni_mm)
    assert np.allclose(back.scalp.vertices, sample_plan.scalp.vertices)
    assert list(back.fiducials.names) == list(sample_plan.fiducials.names)
    assert json.loads(path.read_text())["format_version"] == 1
    # Slicer export, read back
    pts = read_points(tmp_path / "p" / "targets.mrk.json", "mri")
    assert np.allclose(pts["dlpfc-fox2012"], sample_plan.target("dlpfc-fox2012").target_mri_mm)


def test_existing_folder_refused_and_force_replaces(sample_plan, tmp_path):
    save_plan(sample_plan, tmp_path / "p")
    before = (tmp_path / "p" / "plan.json").read_bytes()
    with pytest.raises(PlanError, match="already exists"):
        save_plan(sample_plan, tmp_path / "p")
    assert (tmp_path / "p" / "plan.json").read_bytes() == before
    one = with_targets(sample_plan, sample_plan.targets[:1])
    save_plan(one, tmp_path / "p", force=True)
    assert len(load_plan(tmp_path / "p").targets) == 1
    (tmp_path / "notaplan").mkdir()
    (tmp_path / "notaplan" / "keep.txt").write_text("mine")
    with pytest.raises(PlanError, match="not a plan folder"):
        save_plan(sample_plan, tmp_path / "notaplan", force=True)
    assert (tmp_path / "notaplan" / "keep.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_force_keeps_the_course_files_in_the_plan_folder(sample_plan, tmp_path):
    """Re-planning a plan in service replaces the plan, never the sessions and records beside it."""
    save_plan(sample_plan, tmp_path / "p")
    (tmp_path / "p" / "sessions" / "day1").mkdir(parents=True)
    (tmp_path / "p" / "sessions" / "day1" / "pulses.csv").write_text("pulse log")
    (tmp_path / "p" / "threshold.json").write_text("{}")
    (tmp_path / "p" / "hotspot.json").write_text("{}")
    one = with_targets(sample_plan, sample_plan.targets[:1])
    save_plan(one, tmp_path / "p", force=True)
    assert len(load_plan(tmp_path / "p").targets) == 1
    assert (tmp_path / "p" / "sessions" / "day1" / "pulses.csv").read_text() == "pulse log"
    assert (tmp_path / "p" / "threshold.json").exists() and (tmp_path / "p" / "hotspot.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def _edit(tmp_path, sample_plan, fn):
    save_plan(sample_plan, tmp_path / "p")
    pj = tmp_path / "p" / "plan.json"
    obj = json.loads(pj.read_text())
    fn(obj)
    pj.write_text(json.dumps(obj))
    return pj


@pytest.mark.parametrize("edit, msg", [
    (lambda o: o.pop("mri"), "'mri'"),
    (lambda o: o.update(format_version=99), "format_version"),
    (lambda o: o.update(targets="x"), "'targets' list"),
    (lambda o: o["targets"][0].pop("T_mri_from_coil"), "T_mri_from_coil"),
    (lambda o: o["targets"][0].update(T_mri_from_coil=np.diag([2, 1, 1, 1.0]).tolist()), "not a rigid"),
    (lambda o: o["targets"][0].update(entry_mri_mm=[1, 2]), "entry_mri_mm"),
    (lambda o: o["targets"][0].update(name=""), "no name"),
    (lambda o: o["targets"][0].update(offset_mm="far"), "offset_mm"),
    (lambda o: o["fiducials"].update(nasion=[0, "a", 0]), "numeric"),
    (lambda o: o.update(T_mri_from_mni=[[1, 0], [0, 1]]), "T_mri_from_mni"),
])
def test_malformed_plan(tmp_path, sample_plan, edit, msg):
    pj = _edit(tmp_path, sample_plan, edit)
    with pytest.raises(InputFileError, match=msg) as e:
        load_plan(pj)
    assert "plan.json" in str(e.value)


def test_not_json_and_damaged_surface(tmp_path, sample_plan):
    save_plan(sample_plan, tmp_path / "p")
    (tmp_path / "p" / "scalp.npz").write_bytes(b"garbage")
    with pytest.raises(InputFileError, match="scalp.npz"):
        load_plan(tmp_path / "p")
    (tmp_path / "p" / "plan.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        load_plan(tmp_path / "p")


def test_checksum_mismatch(tmp_path, sample_plan):
    mri = tmp_path / "head.nii.gz"
    shutil.copy(SAMPLE_MRI, mri)
    from dataclasses import replace

    save_plan(replace(sample_plan, mri_path=mri), tmp_path / "p")
    assert json.loads((tmp_path / "p" / "plan.json").read_text())["mri"]["path"] == "../head.nii.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_plan(tmp_path / "p")  # unchanged: no warning
    img = nib.load(str(mri))
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[::-1].copy(), img.affine), str(mri))
    with pytest.warns(ChecksumWarning, match="SHA-256"):
        load_plan(tmp_path / "p")
    with pytest.raises(PlanError, match="differs"):
        load_plan(tmp_path / "p", checksum="raise")
    mri.unlink()
    with pytest.raises(PlanError, match="missing"):
        load_plan(tmp_path / "p", checksum="raise")


def test_mri_without_head_and_unknown_target(tmp_path, surface_cache_dir):
    z = tmp_path / "zero.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((40, 40, 40), np.float32), np.eye(4)), str(z))
    with pytest.raises(PlanError, match="holds no head"):
        build_plan(z, [TargetRequest("library", "dlpfc-fox2012")], opts=PlanOptions(cache_dir=surface_cache_dir))
    with pytest.raises(PlanError, match="unknown target 'dlpfc-nowhere'"):
        build_plan(SAMPLE_MRI, [TargetRequest("library", "dlpfc-nowhere")], opts=PlanOptions(cache_dir=surface_cache_dir))
    with pytest.raises(PlanError, match="no target"):
        build_plan(SAMPLE_MRI, [], opts=PlanOptions(cache_dir=surface_cache_dir))


def test_subject_space_target_and_given_transform(sample_plan, sample_fiducials, surface_cache_dir):
    fox = sample_plan.target("dlpfc-fox2012")
    reqs = [TargetRequest("mri", values=tuple(fox.target_mri_mm)), TargetRequest("mni", values=(-38, 44, 26))]
    p = build_plan(SAMPLE_MRI, reqs, sample_fiducials, T_mri_from_mni=sample_plan.T_mri_from_mni,
                   opts=PlanOptions(cache_dir=surface_cache_dir, handle_angle_deg=-30, offset_mm=8))
    a, b = p.targets
    assert np.allclose(a.target_mri_mm, fox.target_mri_mm) and np.allclose(b.target_mri_mm, fox.target_mri_mm)
    assert a.mni_mm is None and np.allclose(b.mni_mm, (-38, 44, 26))
    assert np.allclose(a.T_mri_from_coil, b.T_mri_from_coil)
    assert abs(handle_angle_of(a.T_mri_from_coil, fiducial_axes(sample_fiducials)) + 30) < 1e-6
    assert np.isclose(np.linalg.norm(a.T_mri_from_coil[:3, 3] - a.entry_mri_mm), 8.0)


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from navcore.transforms import random_rigid  # noqa: E402
from targets.plan import Plan, PlannedTarget  # noqa: E402
from targets.surfaces import Surface  # noqa: E402

_TETRA = Surface(np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], float),
                 np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int64),
                 np.array([[-1, -1, -1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float) / [[3 ** 0.5], [1], [1], [1]])


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2 ** 31), st.integers(1, 4), st.booleans())
def test_plan_round_trip_property(tmp_path_factory, seed, n, with_mni):
    rng = np.random.default_rng(seed)
    ts = []
    for i in range(n):
        ts.append(PlannedTarget(name=f"t{i}", target_mri_mm=rng.uniform(-80, 80, 3), entry_mri_mm=rng.uniform(-90, 90, 3),
                                T_mri_from_coil=random_rigid(rng), source="s", notes="n√ö",
                                mni_mm=rng.uniform(-60, 60, 3) if with_mni else None,
                                handle_angle_deg=float(rng.uniform(-180, 180)), offset_mm=float(rng.uniform(0, 10)),
                                scalp_target_distance_mm=float(rng.uniform(5, 30))))
    T_mni = np.eye(4) if not with_mni else np.diag([0.9, 1.1, 1.0, 1.0])
    plan = Plan(mri_path=SAMPLE_MRI.resolve(), mri_sha256="0" * 64, targets=tuple(ts), T_mri_from_mni=T_mni,
                scalp=_TETRA)
    folder = tmp_path_factory.mktemp("prop") / "p"
    save_plan(plan, folder)
    back = load_plan(folder, checksum="skip")
    for a, b in zip(ts, back.targets):
        assert a.name == b.name and a.notes == b.notes
        assert np.array_equal(a.T_mri_from_coil, b.T_mri_from_coil)  # exact: floats survive JSON
        assert np.array_equal(a.target_mri_mm, b.target_mri_mm) and a.handle_angle_deg == b.handle_angle_deg
        assert (a.mni_mm is None) == (b.mni_mm is None)
        assert np.isnan(b.scalp_cortex_distance_mm)
    assert np.array_equal(back.T_mri_from_mni, T_mni)
