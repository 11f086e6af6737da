"""`navtms plan` and `navtms targets` end to end (in-process CLI)."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from navtms.cli import main
from targets.plan import load_plan

from planning_helpers import (SAMPLE_MRI, planning_dir, sample_fiducials, sample_mni_json, sample_plan,  # noqa: F401
                              surface_cache_dir)


def _err_sentence(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in err if "error:" in ln]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.slow
def test_done_command_writes_plan(tmp_path, sample_fiducials, surface_cache_dir, capsys):
    out = tmp_path / "plan"
    rc = main(["plan", str(SAMPLE_MRI), "--target", "dlpfc-fox2012", "--fiducials", str(sample_fiducials),
               "--out", str(out), "--cache-dir", str(surface_cache_dir)])
    assert rc == 0
    p = load_plan(out, checksum="raise")
    t = p.target("dlpfc-fox2012")
    assert 10 <= t.scalp_target_distance_mm <= 30
    assert p.T_mri_from_mni is not None and "registration" in p.mni_transform_source
    assert "dlpfc-fox2012" in capsys.readouterr().out
    assert (out / "scalp.npz").is_file() and (out / "brain.npz").is_file()


def test_given_transform_and_coordinates(tmp_path, sample_fiducials, sample_mni_json, sample_plan, surface_cache_dir):
    out = tmp_path / "plan"
    rc = main(["plan", str(SAMPLE_MRI), "--mni=-38,44,26", "--mri=10,20,40", "--fiducials", str(sample_fiducials),
               "--mni-transform", str(sample_mni_json), "--handle-angle", "90", "--offset", "3", "--no-brain",
               "--out", str(out), "--cache-dir", str(surface_cache_dir)])
    assert rc == 0
    p = load_plan(out)
    a, b = p.targets
    assert np.allclose(a.target_mri_mm, sample_plan.target("dlpfc-fox2012").target_mri_mm)
    assert np.allclose(b.target_mri_mm, [10, 20, 40]) and b.handle_angle_deg == 90 and b.offset_mm == 3
    assert np.allclose(p.T_mri_from_mni, sample_plan.T_mri_from_mni)
    assert p.brain is None


def test_existing_plan_dir_refused(tmp_path, sample_fiducials, capsys):
    out = tmp_path / "plan"
    out.mkdir()
    (out / "plan.json").write_text("precious")
    rc = main(["plan", str(SAMPLE_MRI), "--target", "dlpfc-fox2012", "--out", str(out)])
    assert rc == 2
    assert "--force" in _err_sentence(capsys)
    assert (out / "plan.json").read_text() == "precious"


@pytest.mark.parametrize("args, msg", [
    (["--target", "dlpfc-nope"], "unknown target 'dlpfc-nope'"),
    (["--mni=1,2"], "3 comma-separated numbers"),
    (["--mni-transform", "/nonexistent/t.mat"], "does not exist"),
])
def test_bad_requests_exit_2(tmp_path, surface_cache_dir, capsys, args, msg):
    out = tmp_path / "plan"
    rc = main(["plan", str(SAMPLE_MRI), *args, "--out", str(out), "--cache-dir", str(surface_cache_dir)])
    assert rc == 2
    assert msg in _err_sentence(capsys)
    assert not out.exists()


def test_mri_without_head_and_bad_fiducials(tmp_path, surface_cache_dir, capsys):
    z = tmp_path / "zero.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((30, 30, 30), np.float32), np.eye(4)), str(z))
    rc = main(["plan", str(z), "--target", "dlpfc-fox2012", "--out", str(tmp_path / "a")])
    assert rc == 2 and "holds no head" in _err_sentence(capsys)
    bad = tmp_path / "fid.csv"
    bad.write_text("name,x_mm,y_mm,z_mm\nnasion,1,2\n")
    rc = main(["plan", str(SAMPLE_MRI), "--target", "dlpfc-fox2012", "--fiducials", str(bad),
               "--out", str(tmp_path / "b"), "--cache-dir", str(surface_cache_dir)])
    assert rc == 2 and "fid.csv" in _err_sentence(capsys)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    rc = main(["plan", str(tmp_path / "missing.nii.gz"), "--target", "dlpfc-fox2012", "--out", str(tmp_path / "c")])
    assert rc == 2 and "does not exist" in _err_sentence(capsys)


def test_targets_listing(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "dlpfc-fox2012" in out and "10.1016/j.biopsych.2012.04.028" in out and "m1-hand-right" in out
    assert main(["targets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    fox = next(r for r in rows if r["name"] == "dlpfc-fox2012")
    assert fox["position_mm"] == [-38, 44, 26] and fox["source"]["year"] == 2012


def test_scalp_rule_targets(tmp_path, sample_fiducials, surface_cache_dir, capsys):
    out = tmp_path / "plan"
    rc = main(["plan", str(SAMPLE_MRI), "--beam-f3", "36,38,60", "--beam-f4", "auto", "--five-cm=-60,-5,55",
               "--fiducials", str(sample_fiducials), "--out", str(out), "--cache-dir", str(surface_cache_dir)])
    assert rc == 0, capsys.readouterr().err
    p = load_plan(out)
    f3, f4, five = p.target("beam-f3"), p.target("beam-f4"), p.target("five-cm")
    assert "X = 6.95 cm" in f3.notes and "Beam" in f3.source
    assert f3.entry_method == "given" and f3.entry_mri_mm[0] < 0 < f4.entry_mri_mm[0]
    for t in (f3, f4, five):
        assert 5 < t.scalp_target_distance_mm < 30
        z = t.T_mri_from_coil[:3, 2]
        assert z @ (t.target_mri_mm - t.entry_mri_mm) > 0  # coil faces the cortex under it
    assert p.T_mri_from_mni is None  # no MNI target: no registration


def test_beam_needs_fiducials(tmp_path, surface_cache_dir, capsys):
    rc = main(["plan", str(SAMPLE_MRI), "--beam-f3", "36,38,60", "--out", str(tmp_path / "p"),
               "--cache-dir", str(surface_cache_dir)])
    assert rc == 2 and "fiducials" in _err_sentence(capsys)


def test_targets_imported_from_slicer_file(tmp_path, sample_fiducials, surface_cache_dir, sample_plan):
    from navcore.points import NamedPoints, write_points

    fox = sample_plan.target("dlpfc-fox2012").target_mri_mm
    # a Slicer file in LPS (as older Slicer versions write): navtms turns it into RAS
    f = tmp_path / "clicked.mrk.json"
    write_points(f, NamedPoints(("clicked-a", "clicked-b"), np.array([fox, fox + [0, 0, 10]]), "mri"))
    obj = json.loads(f.read_text())
    obj["markups"][0]["coordinateSystem"] = "LPS"
    for cp in obj["markups"][0]["controlPoints"]:
        cp["position"] = [-cp["position"][0], -cp["position"][1], cp["position"][2]]
    f.write_text(json.dumps(obj))
    out = tmp_path / "plan"
    assert main(["plan", str(SAMPLE_MRI), "--targets-file", str(f), "--fiducials", str(sample_fiducials),
                 "--no-brain", "--out", str(out), "--cache-dir", str(surface_cache_dir)]) == 0
    p = load_plan(out)
    assert [t.name for t in p.targets] == ["clicked-a", "clicked-b"]
    assert np.allclose(p.target("clicked-a").target_mri_mm, fox)
    assert np.allclose(p.target("clicked-a").T_mri_from_coil, sample_plan.target("dlpfc-fox2012").T_mri_from_coil)
