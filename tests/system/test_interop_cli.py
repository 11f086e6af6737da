"""End to end (in-process CLI): a DICOM series opens in `navtms plan`; `plan --import` keeps every
format's coil pose; `navtms export` -> `plan --import` round-trips a plan's targets; a session's
pulses export as Brainsight samples and Localite trigger markers; an EEG cap's F3 is a target."""
from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_helpers import write_series

from navcore.transforms import pose_from_transform
from navtms.cli import main
from navigation.pulses import PULSE_COLUMNS
from targets.interop import brainsight, localite
from targets.plan import load_plan

from planning_helpers import SAMPLE_MRI, planning_dir, sample_fiducials, surface_cache_dir  # noqa: F401

EX = Path(__file__).resolve().parents[1] / "targets" / "interop_examples"
T_EXAMPLE = np.array([[-0.8, 0.0, 0.6, -45.0], [0.0, 1.0, 0.0, 20.0], [-0.6, 0.0, -0.8, 60.0], [0, 0, 0, 1.0]])


def _plan(tmp_path, name, *args, cache=None, mri=SAMPLE_MRI):
    out = tmp_path / name
    argv = ["plan", str(mri), "--no-brain", "--out", str(out)] + list(args)
    if cache:
        argv += ["--cache-dir", str(cache)]
    return main(argv), out


def _err(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.slow
def test_dicom_series_plans_like_its_nifti(tmp_path, sample_fiducials):
    img = nib.load(str(SAMPLE_MRI))
    series = tmp_path / "DICOM" / "t1_mprage"
    write_series(series, np.asarray(img.dataobj), img.affine)
    rc_a, a = _plan(tmp_path, "nii", "--mri=-40,40,30", "--fiducials", str(sample_fiducials), cache=tmp_path / "c1")
    rc_b, b = _plan(tmp_path, "dcm", "--mri=-40,40,30", "--fiducials", str(sample_fiducials), cache=tmp_path / "c2",
                    mri=series)
    assert rc_a == rc_b == 0
    pa, pb = load_plan(a, checksum="raise"), load_plan(b, checksum="raise")  # the folder's hash checks out
    assert Path(pb.mri_path) == series.resolve()
    np.testing.assert_allclose(pb.targets[0].entry_mri_mm, pa.targets[0].entry_mri_mm, atol=1e-3)
    np.testing.assert_allclose(pb.targets[0].T_mri_from_coil, pa.targets[0].T_mri_from_coil, atol=1e-6)


@pytest.mark.parametrize("example", ["simnibs_matsimnibs.txt", "brainsight_v12.txt", "localite_instrument_markers_ras.xml",
                                     "localite_instrument_markers_lps.xml", "visor2_targets.mrk"])
def test_plan_import_keeps_the_pose(tmp_path, surface_cache_dir, example, capsys):
    rc, out = _plan(tmp_path, "p", "--import", str(EX / example), cache=surface_cache_dir)
    assert rc == 0
    said = capsys.readouterr().err
    assert f"imported 1 target(s) from {example}" in said and "coil axes" in said  # says what it assumed
    t = load_plan(out).target("L-DLPFC")
    np.testing.assert_allclose(t.T_mri_from_coil, T_EXAMPLE, atol=1e-12)
    assert "imported from" in t.source and t.entry_method == "imported"
    assert np.linalg.norm(t.entry_mri_mm - T_EXAMPLE[:3, 3]) < 40  # entry on the scalp near the coil


def test_plan_import_refuses_a_pose_outside_the_mri(tmp_path, surface_cache_dir, capsys):
    f = tmp_path / "far.txt"
    f.write_text((EX / "simnibs_matsimnibs.txt").read_text().replace("-45.0", "-245.0"))
    rc, out = _plan(tmp_path, "p", "--import", str(f), cache=surface_cache_dir)
    assert rc == 2 and not out.exists()
    assert "outside this MRI's field of view" in _err(capsys)


@pytest.mark.parametrize("fmt,ext", [("simnibs", ".txt"), ("simnibs", ".npy"), ("simnibs", ".mat"),
                                     ("brainsight", ".txt"), ("localite", ".xml"), ("visor2", ".mrk")])
def test_export_then_import_round_trips_a_plan(tmp_path, surface_cache_dir, fmt, ext):
    rc, plan = _plan(tmp_path, "p", "--mri=-40,40,30", "--mri=30,20,50", cache=surface_cache_dir)
    assert rc == 0
    f = tmp_path / f"targets{ext}"
    assert main(["export", "--plan", str(plan), "--format", fmt, "--out", str(f)]) == 0
    rc, back = _plan(tmp_path, "q", "--import", str(f), cache=surface_cache_dir)
    assert rc == 0
    a, b = load_plan(plan).targets, load_plan(back).targets
    atol = 5e-5 if fmt == "brainsight" else 1e-9  # Brainsight prints 4 / 6 decimals
    if fmt == "simnibs" and ext != ".txt":
        assert len(b) == len(a)
    else:
        assert [t.name for t in b] == [t.name for t in a]
    for ta, tb in zip(a, b):
        np.testing.assert_allclose(tb.T_mri_from_coil, ta.T_mri_from_coil, atol=atol)


def test_export_refuses_existing_file_and_wrong_suffix(tmp_path, surface_cache_dir, capsys):
    rc, plan = _plan(tmp_path, "p", "--mri=-40,40,30", cache=surface_cache_dir)
    f = tmp_path / "t.mrk"
    f.write_text("mine")
    assert main(["export", "--plan", str(plan), "--format", "visor2", "--out", str(f)]) == 2
    assert "already exists" in _err(capsys) and f.read_text() == "mine"
    assert main(["export", "--plan", str(plan), "--format", "localite", "--out", str(tmp_path / "t.txt")]) == 2
    assert "ends in .xml" in _err(capsys)


def _pulses_csv(path: Path, poses) -> None:
    """A pulses.csv as navigation.pulses writes it: comment line, PULSE_COLUMNS; pose as t + quaternion."""
    with open(path, "w", newline="") as f:
        f.write("# navtms pulse log, format_version 1\n")
        w = csv.DictWriter(f, PULSE_COLUMNS)
        w.writeheader()
        for i, T in enumerate(poses):
            row = {c: "" for c in PULSE_COLUMNS}
            row.update(pulse=i + 1, time_s=f"{5 + 0.5 * i:.9f}", trigger="key", fired=1, target_index=0,
                       target="L-DLPFC", visible=int(T is not None), distance_mm=1.5, tilt_deg=2.0, twist_deg=3.0,
                       axis_miss_mm=0.7)
            if T is not None:
                t, q = pose_from_transform(T)
                row.update(dict(zip(("tx_mm", "ty_mm", "tz_mm", "qw", "qx", "qy", "qz"), [*t, *q])))
            w.writerow(row)
        # a refused request is not a pulse
        row = {c: "" for c in PULSE_COLUMNS}
        row.update(pulse=len(poses) + 1, time_s="9.000000000", trigger="key", fired=0, refusal="off target",
                   target="L-DLPFC", visible=0)
        w.writerow(row)


def test_session_pulses_export(tmp_path):
    T2 = T_EXAMPLE.copy()
    T2[:3, 3] += [1.0, -2.0, 0.5]
    pulses = tmp_path / "pulses.csv"
    _pulses_csv(pulses, [T_EXAMPLE, None, T2])
    session = tmp_path / "session"
    session.mkdir()
    bs, tm = tmp_path / "samples.txt", tmp_path / "triggers.xml"
    assert main(["export", "--session", str(session), "--pulses", str(pulses), "--format", "brainsight", "--out", str(bs)]) == 0
    assert main(["export", "--session", str(session), "--pulses", str(pulses), "--format", "localite", "--out", str(tm)]) == 0
    imp = brainsight.read(bs)
    s = imp.samples()
    assert [p.name for p in s] == ["Sample 1", "Sample 3"]  # pulse 2: coil not seen, (null) position
    np.testing.assert_allclose(s[0].T_mri_from_coil, T_EXAMPLE, atol=5e-5)
    np.testing.assert_allclose(s[1].T_mri_from_coil, T2, atol=5e-5)
    assert s[1].fields["Angular Error"] == "2.0" and s[1].fields["Assoc. Target"] == "L-DLPFC"
    assert "(null)\t(null)" in bs.read_text().splitlines()[-2]  # the unseen pulse keeps its row
    lt = localite.read(tm).samples()
    assert [p.fields["recordingTime"] for p in lt] == ["0", "1000"]  # ms since the first pulse
    np.testing.assert_allclose(lt[1].T_mri_from_coil, T2, atol=1e-9)


@pytest.mark.slow
def test_eeg_cap_f3_as_a_target(tmp_path, surface_cache_dir, sample_fiducials):
    """A cap digitised in its own frame, placed on the sample head by its fiducials: the planned
    entry is the scalp point under the mapped F3, left-frontal."""
    from navcore.points import read_points
    from navcore.transforms import random_rigid
    from targets.interop.eegcap import write_cap
    from navcore.points import NamedPoints

    fid = read_points(sample_fiducials, frame="mri")
    T_cap_from_mri = random_rigid(np.random.default_rng(3), 100.0)
    f3_mri = np.array([-38.0, 60.0, 55.0])
    names = ("Nz", "LPA", "RPA", "F3")
    P_mri = np.array([fid["nasion"], fid["lpa"], fid["rpa"], f3_mri])
    cap = tmp_path / "cap.sfp"
    write_cap(cap, NamedPoints(names, P_mri @ T_cap_from_mri[:3, :3].T + T_cap_from_mri[:3, 3], "cap"))
    rc, out = _plan(tmp_path, "p", "--eeg-cap", str(cap), "--cap-electrode", "F3", "--fiducials", str(sample_fiducials),
                    cache=surface_cache_dir)
    assert rc == 0
    t = load_plan(out).target("F3")
    assert "EEG cap electrode F3" in t.source
    assert np.linalg.norm(t.entry_mri_mm - f3_mri) < 15.0  # F3 snapped onto the scalp
    assert t.entry_mri_mm[0] < 0 and t.entry_mri_mm[1] > 0
