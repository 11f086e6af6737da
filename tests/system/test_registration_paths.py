"""One registration pipeline: the same fiducials, head points and target through `navtms
register` (files in, JSON out) and through the session workflow (register_session) give the
same transform, FRE, per-fiducial errors, predicted TRE and ICP figures, and the same verdict."""
from __future__ import annotations

import json

import numpy as np
import pytest

from navcore.fileio import read_json
from navcore.mri import load_mri
from navcore.points import NamedPoints, read_points, write_points
from navcore.transforms import apply, make_transform, random_rigid
from navigation.navigator import NavTarget
from navtms.cli import main
from planning_helpers import scalp_head_points
from navtms.session import create_session, load_session
from navtms.workflow import register_session
from navcore.errors import RegistrationError
from targets.surfaces import scalp_surface

TARGET = np.array([-38.0, 44.0, 26.0])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, data_dir):
    """The sample head's fiducials, the same under a known transform with 1 mm noise (frame
    tracker = head), and 40 scalp points (+2 off the scalp), as files and as arrays."""
    d = tmp_path_factory.mktemp("paths")
    rng = np.random.default_rng(21)
    mri_path = data_dir / "sample_head" / "head_t1.nii.gz"
    img = read_points(data_dir / "sample_head" / "fiducials.csv", frame="mri")
    T_b_from_mri = random_rigid(rng, 300)
    trk = NamedPoints(img.names, apply(T_b_from_mri, img.positions) + rng.normal(0, 1.0, (3, 3)), "tracker")
    scalp = scalp_surface(load_mri(mri_path))
    pts = scalp_head_points(scalp, rng)
    hp = NamedPoints(tuple(f"h{i + 1}" for i in range(len(pts))), apply(T_b_from_mri, pts), "tracker")
    write_points(d / "image.csv", img)
    write_points(d / "tracker.csv", trk)
    write_points(d / "head.csv", hp)
    return d, img, trk, hp, scalp, mri_path


def _cli(d, mri_path, out, *extra):
    return main(["register", "--image-fiducials", str(d / "image.csv"), "--tracker-fiducials", str(d / "tracker.csv"),
                 "--head-points", str(d / "head.csv"), "--mri", str(mri_path),
                 f"--target={TARGET[0]},{TARGET[1]},{TARGET[2]}", "--out", str(out), *extra])


def _session(tmp_path):
    return create_session(tmp_path / "s", [NavTarget("M1", TARGET, make_transform(np.eye(3), TARGET))])


@pytest.mark.slow
def test_navtms_register_and_the_session_give_identical_results(inputs, tmp_path, capsys):
    d, img, trk, hp, scalp, mri_path = inputs
    out = tmp_path / "reg.json"
    assert _cli(d, mri_path, out) == 0
    cli = read_json(out, "registration")
    s = register_session(_session(tmp_path), img, NamedPoints(trk.names, trk.positions, "head"),
                         head_points=hp.positions, scalp=scalp)
    rec = load_session(s.folder).registration
    assert cli["method"] == rec.method == "paired-point+icp"
    np.testing.assert_array_equal(np.array(cli["T_mri_from_tracker"]), rec.T_mri_from_head)
    assert cli["fre_mm"] == rec.fre_mm and cli["fle_mm"] == rec.fle_mm
    assert [cli["fiducial_errors_mm"][n] for n in rec.names] == list(rec.errors_mm)
    assert cli["predicted_tre_mm"] == rec.predicted_tre_mm["M1"]
    assert cli["icp"]["predicted_tre_mm"] == rec.predicted_tre_mm["M1"]
    assert cli["warnings"] == ([rec.warning] if rec.warning else [])


@pytest.mark.slow
def test_both_paths_refuse_the_same_bad_fiducials_and_accept_them_when_overridden(inputs, tmp_path, capsys):
    d, img, trk, hp, scalp, mri_path = inputs
    pos = trk.positions.copy()
    pos[1] += [9.0, 0.0, 0.0]             # FRE about 4 mm: above the 3 mm limit, below the old CLI's 10
    bad = NamedPoints(trk.names, pos, "tracker")
    write_points(d / "tracker.csv", bad)   # (module fixture: restored below)
    try:
        out = tmp_path / "reg.json"
        assert _cli(d, mri_path, out) == 2
        err = capsys.readouterr().err
        assert "3.0 mm limit" in err and err.count("\n") == 1 and not out.exists()
        sess = _session(tmp_path)
        with pytest.raises(RegistrationError, match="3.0 mm limit"):
            register_session(sess, img, bad, head_points=hp.positions, scalp=scalp)
        assert _cli(d, mri_path, out, "--override", "--json") == 0
        cli = json.loads(capsys.readouterr().out)
        rec = register_session(sess, img, bad, head_points=hp.positions, scalp=scalp, override=True).registration
        assert cli["overridden"] and rec.overridden and 3.0 < cli["fre_mm"] == rec.fre_mm
        np.testing.assert_array_equal(np.array(cli["T_mri_from_tracker"]), rec.T_mri_from_head)
        assert cli["predicted_tre_mm"] == rec.predicted_tre_mm["M1"]
    finally:
        write_points(d / "tracker.csv", trk)
