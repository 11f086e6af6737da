"""`navtms register`: files in, registration JSON out; bad input -> one sentence, exit 2, nothing written."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from navcore.fileio import read_json
from navcore.points import NamedPoints, read_points, write_points
from navcore.transforms import apply, random_rigid
from navtms.cli import main
from planning_helpers import scalp_head_points


@pytest.fixture(scope="module")
def session(tmp_path_factory, data_dir):
    """Image fiducials (the sample head's), tracker fiducials under a known transform with
    1 mm noise, and 40 head points on the scalp (+2 outliers) in the tracker frame."""
    d = tmp_path_factory.mktemp("reg")
    rng = np.random.default_rng(11)
    img = read_points(data_dir / "sample_head" / "fiducials.csv", frame="mri")
    T_tracker_from_mri = random_rigid(rng, 400)
    trk = NamedPoints(img.names, apply(T_tracker_from_mri, img.positions) + rng.normal(0, 1.0, (3, 3)), "tracker")
    write_points(d / "image.csv", img)
    write_points(d / "tracker.mrk.json", trk)
    from navcore.mri import load_mri
    from targets.surfaces import scalp_surface

    scalp = scalp_surface(load_mri(data_dir / "sample_head" / "head_t1.nii.gz"))
    pts = scalp_head_points(scalp, rng)
    hp = NamedPoints(tuple(f"h{i:02d}" for i in range(len(pts))), apply(T_tracker_from_mri, pts), "tracker")
    write_points(d / "head.csv", hp)
    return d, T_tracker_from_mri, data_dir / "sample_head" / "head_t1.nii.gz"


def _tre(T_mri_from_tracker, T_tracker_from_mri, x):
    return float(np.linalg.norm(apply(T_mri_from_tracker @ T_tracker_from_mri, x) - x))


def test_fiducials_only_with_target(session, capsys):
    d, T_t_m, _ = session
    out = d / "reg_fid.json"
    rc = main(["register", "--image-fiducials", str(d / "image.csv"), "--tracker-fiducials", str(d / "tracker.mrk.json"),
               "--target=-38,44,26", "--out", str(out), "--json"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    saved = read_json(out, "registration")
    assert printed == saved and saved["format_version"] == 1
    T = np.array(saved["T_mri_from_tracker"])
    assert T.shape == (4, 4)
    assert set(saved["fiducial_errors_mm"]) == {"nasion", "lpa", "rpa"}
    assert 0 < saved["fre_mm"] < 3
    assert 0.5 < saved["predicted_tre_fiducials_mm"] < 5
    assert _tre(T, T_t_m, np.array([-38.0, 44, 26])) < 6


@pytest.mark.slow
def test_with_head_points_improves_and_reports_icp(session, capsys):
    d, T_t_m, mri = session
    out = d / "reg_icp.json"
    rc = main(["register", "--image-fiducials", str(d / "image.csv"), "--tracker-fiducials", str(d / "tracker.mrk.json"),
               "--head-points", str(d / "head.csv"), "--mri", str(mri), "--target=-38,44,26", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "surface fit" in text and "FRE" in text
    r = read_json(out, "registration")
    icp = r["icp"]
    assert icp["n_points"] == 42 and {"h00", "h01"} <= set(icp["outliers"])
    assert icp["residual_rms_mm"] < 1.5
    T_icp = np.array(r["T_mri_from_tracker"])
    T_fid = np.array(r["T_mri_from_tracker_fiducials_only"])
    brain = np.array([[-38.0, 44, 26], [0, 0, 40], [30, -40, 20], [-20, 10, -10]])
    e_icp = max(_tre(T_icp, T_t_m, x) for x in brain)
    e_fid = max(_tre(T_fid, T_t_m, x) for x in brain)
    assert e_icp < 2.0 and e_icp < e_fid
    assert 0.1 < icp["predicted_tre_mm"] < r["predicted_tre_fiducials_mm"]
    assert r["predicted_tre_mm"] == icp["predicted_tre_mm"]


def _args(d, out, **over):
    a = {"--image-fiducials": str(d / "image.csv"), "--tracker-fiducials": str(d / "tracker.mrk.json"), "--out": str(out)}
    a.update(over)
    argv = ["register"]
    for k, v in a.items():
        if v is not None:
            argv += [k, v]
    return argv


def test_bad_inputs_exit_2_with_one_sentence_and_write_nothing(session, capsys, tmp_path):
    d, _, _ = session
    out = tmp_path / "r.json"
    two = tmp_path / "two.csv"
    two.write_text("name,x_mm,y_mm,z_mm\nnasion,0,90,0\nlpa,-70,0,0\n")
    renamed = tmp_path / "renamed.csv"
    # names match case-insensitively and through aliases (RPA = rpa = right), so only a real typo is refused
    renamed.write_text("name,x_mm,y_mm,z_mm\nnasion,0,90,0\nlpa,-70,0,0\nrpx,70,0,0\n")
    # a mistyped coordinate (40 mm off) makes the fit implausible. (Swapping LPA and RPA alone is
    # NOT detectable from three fiducials: the nasion-LPA-RPA triangle is nearly isosceles.)
    swapped = tmp_path / "swapped.csv"
    p = read_points(d / "tracker.mrk.json")
    pos = p.positions.copy()
    pos[1, 2] += 40.0
    write_points(swapped, NamedPoints(p.names, pos, "tracker"))
    lr_swapped = tmp_path / "lr_swapped.csv"
    img = read_points(d / "image.csv")
    write_points(lr_swapped, NamedPoints(("nasion", "rpa", "lpa"), img.positions, "mri"))
    cases = [
        (_args(d, out, **{"--tracker-fiducials": str(tmp_path / "missing.csv")}), "does not exist"),
        (_args(d, out, **{"--tracker-fiducials": str(two)}), "rpa"),
        (_args(d, out, **{"--tracker-fiducials": str(renamed)}), "rpx"),
        (_args(d, out, **{"--tracker-fiducials": str(swapped)}), "swapped"),
        (_args(d, out, **{"--image-fiducials": str(lr_swapped)}), "swapped"),
        (_args(d, out, **{"--target": "1,2"}), "--target"),
        (_args(d, out, **{"--head-point-sigma-mm": "0"}), "--head-point-sigma-mm"),
        (_args(d, out, **{"--head-points": str(d / "head.csv")}), "--mri"),
        (_args(d, tmp_path / "nofolder" / "r.json"), "the folder for the registration file does not exist"),
    ]
    for argv, match in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1, err
        assert not out.exists()


def test_existing_output_is_not_overwritten(session, capsys, tmp_path):
    d, _, _ = session
    out = tmp_path / "r.json"
    out.write_text("precious")
    assert main(_args(d, out)) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "precious"
    assert main(_args(d, out) + ["--force"]) == 0
    assert read_json(out)["kind"] == "registration"


@pytest.mark.slow
def test_subprocess_exit_codes(session, tmp_path):
    d, _, _ = session
    out = tmp_path / "r.json"
    ok = subprocess.run([sys.executable, "-m", "navtms", *_args(d, out), "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["fre_mm"] == pytest.approx(read_json(out)["fre_mm"])
    out2 = tmp_path / "r2.json"
    bad = subprocess.run([sys.executable, "-m", "navtms", *_args(d, out2, **{"--target": "a,b,c"})],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--target" in bad.stderr and "Traceback" not in bad.stderr
    assert not out2.exists()


@pytest.mark.slow
def test_lpa_rpa_swapped_in_the_tracker_file_is_caught_by_head_points(session, capsys, tmp_path):
    """Three fiducials cannot reveal an LPA/RPA swap (the fit flips the head), but the surface
    fit then fails and the command refuses instead of writing a wrong registration."""
    d, _, mri = session
    p = read_points(d / "tracker.mrk.json")
    sw = tmp_path / "swapped.csv"
    write_points(sw, NamedPoints(("nasion", "rpa", "lpa"), p.positions, "tracker"))
    out = tmp_path / "r.json"
    assert main(_args(d, out, **{"--tracker-fiducials": str(sw)})) == 0  # fiducials alone: undetectable
    capsys.readouterr()
    out2 = tmp_path / "r2.json"
    argv = _args(d, out2, **{"--tracker-fiducials": str(sw), "--head-points": str(d / "head.csv"), "--mri": str(mri)})
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "scalp" in err and err.count("\n") == 1
    assert not out2.exists()


def test_plan_gives_the_tre_at_every_planned_target(session, capsys, tmp_path):
    """--plan PLAN: the predicted TRE at each planned target (and --target, written with a
    negative first coordinate and no '='), the plan's fiducials and scalp standing in for
    --image-fiducials and --mri; head points without names."""
    from navcore.mri import load_mri
    from navcore.transforms import make_transform
    from registration.tre import predicted_tre
    from targets.plan import Plan, PlannedTarget, save_plan
    from targets.surfaces import scalp_surface

    d, T_t_m, mri_path = session
    img = read_points(d / "image.csv", frame="mri")
    scalp = scalp_surface(load_mri(mri_path))
    tg = {"dlpfc-left": np.array([-38.0, 44.0, 26.0]), "m1-right": np.array([37.0, -21.0, 58.0])}
    targets = tuple(PlannedTarget(n, p, p + [0, 0, 20.0], make_transform(np.eye(3), p + [0, 0, 20.0])) for n, p in tg.items())
    from targets.surface_cache import file_sha256

    plan_dir = save_plan(Plan(mri_path, file_sha256(mri_path), targets, fiducials=img, scalp=scalp), tmp_path / "plan")
    head = read_points(d / "head.csv")
    (tmp_path / "head_xyz.csv").write_text("x,y,z\n" + "".join(f"{float(p[0])!r},{float(p[1])!r},{float(p[2])!r}\n" for p in head.positions))
    out = tmp_path / "r.json"
    rc = main(["register", "--plan", str(plan_dir), "--tracker-fiducials", str(d / "tracker.mrk.json"),
               "--head-points", str(tmp_path / "head_xyz.csv"), "--target", "-30,50,20", "--out", str(out)])
    cap = capsys.readouterr()
    text = cap.out
    assert rc == 0, cap.err
    saved = read_json(out, "registration")
    per, fid = saved["predicted_tre_per_target_mm"], saved["predicted_tre_fiducials_per_target_mm"]
    assert set(per) == {"target", "dlpfc-left", "m1-right"}
    for n, p in {**tg, "target": np.array([-30.0, 50, 20])}.items():
        assert fid[n] == pytest.approx(float(predicted_tre(img.positions, p, 2.0)[0]))
        assert 0 < per[n] < fid[n]  # the head points make every target better determined
        assert _tre(np.array(saved["T_mri_from_tracker"]), T_t_m, p) < 2.5
    assert "dlpfc-left" in text and "m1-right" in text and "residual bias" in text
    s = saved["icp"]
    assert s["n_outliers"] >= 2 and "residual_bias_mm" in s and set(s["target_moved_per_target_mm"]) == set(per)
