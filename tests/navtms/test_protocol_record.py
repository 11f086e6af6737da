"""`navtms protocol SESSION --use NAME`: the session record with the MT it used, the safety check
(refusal and override), and the depth-adjusted dose on a phantom plan whose scalp-cortex
distances along each planned coil axis are known in closed form (90 mm scalp sphere, 75 mm
brain sphere shifted 6 mm down)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from course_helpers import course_root, sphere_plan  # noqa: F401 (fixtures)
from navtms.cli import main

R_SCALP, R_BRAIN, SHIFT = 90.0, 75.0, np.array([0.0, 0.0, -6.0])


def ray_sphere(o, d, centre, r):
    oc = o - centre
    b = oc @ d
    return -b - np.sqrt(b * b - (oc @ oc - r * r))


@pytest.fixture(scope="module")
def phantom_plan(tmp_path_factory):
    from navcore.points import NamedPoints
    from planning_helpers import ellipsoid_mesh
    from targets.placement import HeadAxes, place_coil
    from targets.plan import Plan, PlannedTarget, save_plan
    from targets.surfaces import Surface

    root = tmp_path_factory.mktemp("protocol_record")
    scalp = ellipsoid_mesh((R_SCALP,) * 3, res=200)
    b = ellipsoid_mesh((R_BRAIN,) * 3, res=200)
    brain = Surface(b.vertices + SHIFT, b.faces, b.normals)
    fid = NamedPoints.from_dict({"nasion": (0.0, 95.0, 10.0), "lpa": (-75.0, 10.0, -20.0), "rpa": (75.0, 10.0, -20.0)}, "mri")
    axes = HeadAxes.from_fiducials(*fid.positions)

    def tgt(name, p):
        pl = place_coil(np.array(p, float), scalp, axes, handle_angle_deg=45.0)
        return PlannedTarget(name, pl.target_mri_mm, pl.entry_mri_mm, pl.T_mri_from_coil, source="test")

    mri = root / "head.nii.gz"
    mri.write_bytes(b"not an MRI")
    plan = Plan(mri, "0" * 64, (tgt("m1-hand", (-30.0, -15.0, 70.0)), tgt("dlpfc", (-50.0, 45.0, 20.0))), fid,
                scalp=scalp, brain=brain)
    save_plan(plan, root / "plan")
    return root, plan


def _session(root, plan, name):
    from navtms.session import create_session

    folder = root / name
    create_session(folder, [plan.target("dlpfc"), plan.target("m1-hand")],
                   plan=os.path.relpath(root / "plan", folder))
    return folder


def _read(folder):
    return json.loads((folder / "protocol.json").read_text())


def test_depth_adjusted_record_matches_the_phantom(phantom_plan, capsys):
    root, plan = phantom_plan
    s = _session(root, plan, "s1")
    assert main(["protocol", str(s), "--use", "saint-accelerated-itbs", "--threshold-mso", "50",
                 "--date", "2026-11-10"]) == 0
    out = capsys.readouterr().out
    assert "depth along the coil axis" in out
    rec = _read(s)["record"]

    def depth(name):
        T = plan.target(name).T_mri_from_coil
        o, z = T[:3, 3], T[:3, 2]
        return ray_sphere(o, z, SHIFT, R_BRAIN) - ray_sphere(o, z, np.zeros(3), R_SCALP)
    dt, dm = depth("dlpfc"), depth("m1-hand")
    assert rec["depth"]["d_target_mm"] == pytest.approx(dt, abs=0.15)
    assert rec["depth"]["d_m1_mm"] == pytest.approx(dm, abs=0.15)
    assert abs(dt - dm) > 2.0                                  # the phantom makes the two differ
    adj = 50.0 + 3.0 * (dt - dm)                               # Stokes 2005
    assert rec["mt_pct_mso"] == pytest.approx(adj, abs=0.5)
    assert rec["output_pct_mso"] == round(0.9 * rec["mt_pct_mso"])
    assert rec["protocol"]["intensity"]["mt"] == {"value_pct_mso": 50.0, "method": "given by the operator",
                                                  "date": "2026-11-10", "site": ""}
    assert rec["safety"]["ok"] and rec["protocol"]["name"] == "saint-accelerated-itbs"
    assert rec["protocol"]["target"]["name"] == "dlpfc" and "dlpfc-left" in rec["protocol"]["target"]["derivation"]
    p = _read(s)
    assert p["pulses_planned"] == 1800 and p["intensity_pct_mso"] == rec["output_pct_mso"]
    from navtms.session_protocol import read_protocol
    assert read_protocol(s).treatment.protocol.schedule.sessions_per_day == 10


def test_threshold_from_the_plan_and_slope_choice(phantom_plan, capsys):
    root, plan = phantom_plan
    from navtms.threshold import ml_measurement, record_threshold

    record_threshold(root / "plan", ml_measurement("2026-11-01", [45, 40, 43, 44, 42, 43], [1, 0, 1, 1, 0, 0]))
    s = _session(root, plan, "s2")
    assert main(["protocol", str(s), "--use", "saint-accelerated-itbs", "--k", "stokes2013", "--date", "2026-11-10"]) == 0
    rec = _read(s)["record"]
    assert rec["protocol"]["intensity"]["mt"]["method"].startswith("ML threshold hunt")
    assert rec["depth"]["k_pct_per_mm"] == 2.7 and any("not verified" in f for f in rec["flags"])
    (root / "plan" / "threshold.json").unlink()


def test_outside_the_tables_is_refused_then_overridden(phantom_plan, tmp_path, capsys):
    root, plan = phantom_plan
    from dataclasses import replace

    from therapy.library import add_protocol, standard_protocols
    from therapy.protocol import Trains

    ten = {p.name: p for p in standard_protocols()}["10hz-left-dlpfc"]
    lib = tmp_path / "clinic.json"
    add_protocol(lib, replace(ten, name="10hz-long-trains", trains=Trains(8.0, 22.0, 40)))
    s = _session(root, plan, "s3")
    args = ["protocol", str(s), "--use", "10hz-long-trains", "--library", str(lib), "--threshold-mso", "48"]
    assert main(args) == 2
    assert "outside the safety tables" in capsys.readouterr().err
    assert not (s / "protocol.json").exists()
    assert main(args + ["--override-reason", "study protocol approved by the ethics board", "--override-by", "dr b"]) == 0
    rec = _read(s)["record"]
    assert not rec["safety"]["ok"] and rec["protocol"]["override"]["reason"].startswith("study protocol")
    assert any("overridden" in f for f in rec["flags"]) and rec["output_pct_mso"] == round(48 * 1.2)


def test_flat_options_conflict_with_use_and_no_mt_is_refused(phantom_plan, capsys):
    root, plan = phantom_plan
    s = _session(root, plan, "s4")
    assert main(["protocol", str(s), "--use", "itbs-left-dlpfc", "--pulses", "600", "--threshold-mso", "50"]) == 2
    assert main(["protocol", str(s), "--use", "itbs-left-dlpfc"]) == 2
    assert "no motor threshold" in capsys.readouterr().err
    assert main(["protocol", str(s), "--use", "itbs-left-dlpfc", "--threshold-mso", "50"]) == 0
    assert _read(s)["record"]["depth"] is None and _read(s)["intensity_pct_mso"] == 60


def test_protocols_command(capsys, tmp_path):
    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    for name in ("10hz-left-dlpfc", "1hz-right-dlpfc", "itbs-left-dlpfc", "ctbs-huang2005", "saint-accelerated-itbs"):
        assert name in out
    assert main(["protocols", "saint-accelerated-itbs"]) == 0
    assert "Cole EJ" in capsys.readouterr().out
    assert main(["protocols", "--check", "10hz-left-dlpfc"]) == 0
    assert "table limit 4.2 s" in capsys.readouterr().out
    f = tmp_path / "mine.json"
    from therapy.library import standard_protocols
    p = standard_protocols()[0].to_json()
    p["name"] = "mine"
    p["trains"]["on_s"] = 9.0
    f.write_text(json.dumps({"format_version": 1, **p}))
    assert main(["protocols", "--check", str(f)]) == 1
    assert main(["protocols", "--add", str(f), "--library", str(tmp_path / "lib.json")]) == 0
    assert main(["protocols", "--add", str(f), "--library", str(tmp_path / "lib.json")]) == 2


def test_depth_adjusted_protocol_needs_a_brain_surface(sphere_plan, tmp_path, capsys):  # noqa: F811
    """The sphere plan has no brain surface: a depth-adjusted protocol is refused with one
    sentence and nothing is written; a protocol without depth adjustment is recorded."""
    import shutil

    from navtms.session import create_session

    plan_dir = tmp_path / "plan"
    shutil.copytree(sphere_plan[0], plan_dir)
    folder = tmp_path / "s"
    create_session(folder, [sphere_plan[2].target("dlpfc")], plan=os.path.relpath(plan_dir, folder))
    assert main(["protocol", str(folder), "--use", "saint-accelerated-itbs", "--threshold-mso", "50"]) == 2
    assert "no brain surface" in capsys.readouterr().err
    assert not (folder / "protocol.json").exists()
    assert main(["protocol", str(folder), "--use", "10hz-left-dlpfc", "--threshold-mso", "50"]) == 0
    assert _read(folder)["intensity_pct_mso"] == 60
