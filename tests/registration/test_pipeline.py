"""registration.pipeline: the one pipeline (FRE gates, ICP, predicted TRE), checked against a
phantom with a known transform and an independent Fitzpatrick TRE model written here."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import RegistrationError
from navcore.points import NamedPoints
from navcore.transforms import apply, random_rigid
from navloop_helpers import sphere_surface
from registration.pipeline import METHOD_ICP, METHOD_PAIRED, RegistrationSettings, register

FID = NamedPoints.from_dict({"nasion": [0, 95, 10], "lpa": [-75, 10, -20], "rpa": [75, 10, -20],
                             "vertex": [0, 0, 95]}, "mri")
TARGET = np.array([-40.0, 45.0, 50.0])


def _fitzpatrick(fid: np.ndarray, target: np.ndarray, fle: float) -> float:
    """TRE (Fitzpatrick, West & Maurer 1998), written independently: principal axes from the
    eigenvectors of the scatter matrix, distances to the axes by cross products."""
    c = fid.mean(0)
    _, vecs = np.linalg.eigh((fid - c).T @ (fid - c))
    ratio = 0.0
    for k in range(3):
        ax = vecs[:, k]
        f2 = np.mean([np.linalg.norm(np.cross(p - c, ax)) ** 2 for p in fid])
        ratio += np.linalg.norm(np.cross(target - c, ax)) ** 2 / f2
    return math.sqrt(fle ** 2 / len(fid) * (1 + ratio / 3))


def _phantom(seed: int, noise_mm: float = 0.0):
    rng = np.random.default_rng(seed)
    T_b_from_mri = random_rigid(rng, 300)
    b = apply(T_b_from_mri, FID.positions) + rng.normal(0, noise_mm, FID.positions.shape)
    return NamedPoints(FID.names, b, "tracker"), T_b_from_mri, rng


def _moved(points: NamedPoints, name: str, d_mm: float) -> NamedPoints:
    pos = points.positions.copy()
    pos[points.names.index(name)] += [d_mm, 0, 0]
    return NamedPoints(points.names, pos, points.frame)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), fle=st.floats(0.2, 4.0))
def test_noise_free_fiducials_recover_the_transform_and_the_tre_is_fitzpatricks(seed, fle):
    b, T_b_from_mri, _ = _phantom(seed)
    r = register(FID, b, settings=RegistrationSettings(fle_mm=fle), targets={"M1": TARGET})
    assert r.accepted and r.method == METHOD_PAIRED and r.fre_mm < 1e-6 and not r.warnings
    np.testing.assert_allclose(r.T_mri_from_b @ T_b_from_mri, np.eye(4), atol=1e-6)
    assert r.predicted_tre_mm["M1"] == pytest.approx(_fitzpatrick(FID.positions, TARGET, fle), rel=1e-9)
    assert r.expected_fre_mm == pytest.approx(math.sqrt(1 - 2 / 4) * fle)


def test_gates_warn_above_2_refuse_above_3_unless_overridden():
    b, _, _ = _phantom(1)
    # one of 4 fiducials moved by d: the fit absorbs part of it (FRE about 0.3 d here)
    for d, expect in ((2.0, "ok"), (8.0, "warn"), (15.0, "refuse")):
        r = register(FID, _moved(b, "lpa", d))
        fre = r.fre_mm
        if expect == "ok":
            assert fre <= 2.0 and r.accepted and not r.warnings
        elif expect == "warn":
            assert 2.0 < fre <= 3.0 and r.accepted and "consider re-collecting" in r.warning
        else:
            assert fre > 3.0 and not r.accepted and "3.0 mm limit" in r.refusal and "lpa" in r.refusal
            with pytest.raises(RegistrationError, match="too high"):
                r.raise_if_refused()
            over = register(FID, _moved(b, "lpa", d), settings=RegistrationSettings(override=True))
            assert over.accepted and over.overridden and "overridden" in over.warning
            np.testing.assert_allclose(over.T_mri_from_b, r.T_mri_from_b)


def test_fre_is_the_rms_of_the_per_fiducial_errors_of_the_rigid_fit():
    b, _, _ = _phantom(5, noise_mm=1.0)
    r = register(FID, b)
    e = np.linalg.norm(FID.positions - apply(r.T_mri_from_b, b.positions), axis=1)
    assert r.fre_mm == pytest.approx(float(np.sqrt(np.mean(e ** 2))))
    assert [r.fiducial_errors_mm[n] for n in FID.names] == pytest.approx(list(e))


def test_fle_estimated_from_fre_when_not_given():
    b, _, _ = _phantom(6, noise_mm=1.0)
    r = register(FID, b, settings=RegistrationSettings(fle_mm=None), targets={"M1": TARGET})
    assert r.fle_mm == pytest.approx(r.fre_mm / math.sqrt(1 - 2 / 4))
    assert r.predicted_tre_mm["M1"] == pytest.approx(_fitzpatrick(FID.positions, TARGET, r.fle_mm))


def test_names_only_in_one_set_refused_unless_allowed():
    b, _, _ = _phantom(2)
    three = b.subset(["nasion", "lpa", "rpa"])
    with pytest.raises(RegistrationError, match="vertex"):
        register(FID, three)
    r = register(FID, three, settings=RegistrationSettings(require_all_names=False))
    assert r.names == ("nasion", "lpa", "rpa") and r.accepted


def test_head_points_on_the_scalp_refine_a_noisy_fiducial_fit():
    b, T_b_from_mri, rng = _phantom(7, noise_mm=2.0)
    scalp = sphere_surface(90.0)
    v = scalp.vertices[scalp.vertices[:, 2] > -20]
    pts_mri = v[rng.choice(len(v), 80, replace=False)] + rng.normal(0, 0.3, (80, 3))
    hp = NamedPoints(tuple(f"h{i}" for i in range(80)), apply(T_b_from_mri, pts_mri), "tracker")
    fid_only = register(FID, b, targets={"M1": TARGET})
    r = register(FID, b, hp, scalp, targets={"M1": TARGET})
    assert r.method == METHOD_ICP and r.icp is not None and r.accepted
    assert r.fre_mm == fid_only.fre_mm and r.fiducial_errors_mm == fid_only.fiducial_errors_mm
    np.testing.assert_allclose(r.T_mri_from_b_fiducials, fid_only.T_mri_from_b)

    def err(T):  # true error at the target
        return float(np.linalg.norm(apply(T @ T_b_from_mri, TARGET) - TARGET))
    assert err(r.T_mri_from_b) < err(fid_only.T_mri_from_b)
    assert r.icp.summary["n_points"] == 80 and set(r.icp.residuals_mm) == set(hp.names)
    assert r.icp.target_moved_mm["M1"] == pytest.approx(
        float(np.linalg.norm(apply(r.T_mri_from_b @ np.linalg.inv(fid_only.T_mri_from_b), TARGET) - TARGET)))
    assert 0 < r.predicted_tre_mm["M1"] < fid_only.predicted_tre_mm["M1"]
    assert r.predicted_tre_fiducials_mm == fid_only.predicted_tre_mm


def test_a_refused_fit_runs_no_icp():
    b, T_b_from_mri, rng = _phantom(8)
    scalp = sphere_surface(90.0)
    hp = apply(T_b_from_mri, scalp.vertices[::7])
    r = register(FID, _moved(b, "rpa", 15.0), hp, scalp)
    assert not r.accepted and r.icp is None and r.method == METHOD_PAIRED


@pytest.mark.parametrize("bad", [dict(fle_mm=-1.0), dict(head_point_sigma_mm=0.0), dict(warn_fre_mm=4.0),
                                 dict(fle_mm=math.nan)])
def test_bad_settings_are_one_sentence(bad):
    b, _, _ = _phantom(3)
    with pytest.raises(RegistrationError):
        register(FID, b, settings=RegistrationSettings(**bad))


def test_head_points_that_pull_the_target_away_from_the_fiducials_are_warned_in_the_json_and_on_screen():
    """Head points 5 mm off where exact fiducials put them (a tracker-frame slip between the two
    collections): the combined fit moves the target beyond what the two fits' uncertainties
    explain; the pipeline's warnings name the target, the register JSON and the workbench's
    registration panel carry the sentence."""
    from navtms.app.workspaces.register_model import result_lines
    from navtms.commands.register import result_dict

    b, T_b_from_mri, rng = _phantom(9)
    scalp = sphere_surface(90.0)
    v = scalp.vertices[scalp.vertices[:, 2] > -20]
    pts_mri = v[rng.choice(len(v), 80, replace=False)] + rng.normal(0, 0.3, (80, 3))
    good = register(FID, b, apply(T_b_from_mri, pts_mri), scalp, targets={"M1": TARGET})
    assert not any("worse than the fiducials alone" in w for w in good.warnings)
    slipped = apply(T_b_from_mri, pts_mri + np.array([5.0, -3.0, 0.0]))
    r = register(FID, b, slipped, scalp, targets={"M1": TARGET})
    assert r.accepted and r.method == METHOD_ICP
    hits = [w for w in r.warnings if "worse than the fiducials alone" in w]
    assert len(hits) == 1 and "M1" in hits[0]
    assert hits[0] in result_dict(r, {})["warnings"]
    assert f"WARNING: {hits[0]}" in result_lines(r)
