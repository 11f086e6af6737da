"""MNI registration: recover a known affine; round trips; transform file loaders."""
from __future__ import annotations

import numpy as np
import nibabel as nib
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from targets import mni

CORTICAL_MNI = mni.CORTICAL_LANDMARKS_MNI


def known_affine(rng) -> np.ndarray:
    return mni.random_test_affine(rng)


@pytest.fixture(scope="module")
def synthetic_subject():
    """The MNI template resampled under a known T_mri_from_mni onto an oblique 2 mm grid."""
    T_true = known_affine(np.random.default_rng(20261123))
    return mni.template_under_affine(T_true), T_true


def test_recovers_known_affine(synthetic_subject):
    vol, T_true = synthetic_subject
    reg = mni.register_mri_to_mni(vol, T_init_mri_from_mni=np.eye(4), resolution_mm=3.0)
    err = np.linalg.norm(mni.mni_to_mri(reg.T_mri_from_mni, CORTICAL_MNI) - mni.mni_to_mri(T_true, CORTICAL_MNI), axis=1)
    print(f"known-affine landmark errors (mm): max {err.max():.2f}, mean {err.mean():.2f}; {reg.seconds:.1f} s")
    assert err.max() < 2.0
    assert reg.init == "given"


@settings(max_examples=25)
@given(st.integers(0, 10_000), st.lists(st.floats(-100, 100), min_size=3, max_size=3))
def test_mni_round_trip(seed, p):
    T = known_affine(np.random.default_rng(seed))
    q = mni.mri_to_mni(T, mni.mni_to_mri(T, p))
    assert np.allclose(q, p, atol=1e-9)


@settings(max_examples=25)
@given(st.integers(0, 10_000))
def test_similarity_fit_recovers_similarity(seed):
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=rng).as_matrix() * rng.uniform(0.8, 1.2)
    T[:3, 3] = rng.uniform(-50, 50, 3)
    src = rng.normal(size=(5, 3)) * 50
    dst = mni.mni_to_mri(T, src)
    assert np.allclose(mni.similarity_fit(src, dst), T, atol=1e-8)


def test_implausible_scale_refused():
    with pytest.raises(mni.RegistrationError, match="implausible"):
        mni.check_plausible(np.diag([3.0, 3.0, 3.0, 1.0]))


def test_fiducial_initialisation_maps_fiducials():
    fid = {"Nasion": (2, 90, -30), "LPA": (-78, -20, -40), "RPA": (80, -22, -41)}
    T = mni.initial_from_fiducials(fid)
    got = mni.mni_to_mri(T, np.array([mni.MNI_FIDUCIALS_APPROX[n] for n in ("nasion", "lpa", "rpa")]))
    assert np.abs(got - np.array(list(fid.values()))).max() < 10.0


# ----------------------------------------------------------------------------- transform files
from navcore.errors import InputFileError  # noqa: E402
from targets import mni_io  # noqa: E402


def _save_img(path, shape, affine):
    nib.save(nib.Nifti1Image(np.zeros(shape, np.uint8), affine), str(path))
    return path


@pytest.mark.parametrize("flip_subject", [False, True])
def test_flirt_round_trip_and_conventions(tmp_path, flip_subject):
    rng = np.random.default_rng(5)
    A_sub = np.diag([1.5, 1.5, 1.5, 1.0])
    A_sub[:3, 3] = [-90, -110, -80]
    if flip_subject:  # radiological storage (negative determinant): no x mirror in FSL coords
        A_sub[0, 0] = -1.5
        A_sub[0, 3] = 90
    A_mni = np.diag([2.0, 2.0, 2.0, 1.0])
    A_mni[:3, 3] = [-90, -126, -72]
    sub = _save_img(tmp_path / "sub.nii.gz", (120, 140, 110), A_sub)
    ref = _save_img(tmp_path / "mni.nii.gz", (91, 109, 91), A_mni)
    T_mri_from_mni = known_affine(rng)
    M = mni_io.flirt_from_world(np.linalg.inv(T_mri_from_mni), (120, 140, 110), A_sub, (91, 109, 91), A_mni)
    np.savetxt(tmp_path / "sub2mni.mat", M)
    got = mni_io.load_mni_transform(tmp_path / "sub2mni.mat", sub, ref)
    assert np.allclose(got, T_mri_from_mni, atol=1e-6)
    # FSL convention: x is mirrored (i -> nx-1-i) for a positive-determinant affine only
    S = mni_io.fsl_scaled_from_voxel((10, 10, 10), np.eye(4))
    assert S[0, 0] == -1.0 and S[0, 3] == 9.0
    S = mni_io.fsl_scaled_from_voxel((10, 10, 10), np.diag([-1.0, 1, 1, 1]))
    assert S[0, 0] == 1.0 and S[0, 3] == 0.0


def test_flirt_needs_headers(tmp_path):
    np.savetxt(tmp_path / "x.mat", np.eye(4))
    with pytest.raises(InputFileError, match="--mni-ref"):
        mni_io.load_mni_transform(tmp_path / "x.mat")


def test_itk_affine_matches_simpleitk(tmp_path):
    import SimpleITK as sitk

    rng = np.random.default_rng(9)
    T = known_affine(rng)
    p = tmp_path / "ants.txt"
    # a file with a non-zero centre, written by SimpleITK itself
    tx = sitk.AffineTransform(3)
    tx.SetMatrix(T[:3, :3].ravel().tolist())
    tx.SetTranslation(T[:3, 3].tolist())
    tx.SetCenter([12.0, -30.0, 7.0])
    sitk.WriteTransform(tx, str(p))
    T_lps = mni_io.read_itk_affine(p)
    for q in rng.normal(size=(5, 3)) * 60:
        assert np.allclose(T_lps[:3, :3] @ q + T_lps[:3, 3], tx.TransformPoint(q.tolist()), atol=1e-6)
    T_ras = mni_io.load_mni_transform(p)
    assert np.allclose(T_ras, mni_io.F_LPS @ T_lps @ mni_io.F_LPS)
    assert np.allclose(mni_io.load_mni_transform(p, inverse=True), np.linalg.inv(T_ras))


def test_plain_and_json_matrices(tmp_path):
    T = known_affine(np.random.default_rng(2))
    np.savetxt(tmp_path / "t.txt", T)
    assert np.allclose(mni_io.load_mni_transform(tmp_path / "t.txt"), T)
    mni_io.save_mni_transform(tmp_path / "t.json", T)
    assert np.allclose(mni_io.load_mni_transform(tmp_path / "t.json"), T)


@pytest.mark.parametrize("text, msg", [("1 2 3\n", "4x4"), ("a b c d\n" * 4, "numbers"),
                                       ("0 0 0 0\n" * 3 + "0 0 0 1\n", "singular"),
                                       ("1 0 0 0\n0 1 0 0\n0 0 1 0\n1 1 1 1\n", "last row"),
                                       ("Transform: BSplineTransform_double_3_3\nParameters: 1\n", "only AffineTransform")])
def test_malformed_transform_files(tmp_path, text, msg):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(InputFileError, match=msg):
        mni_io.load_mni_transform(p)


@pytest.mark.slow
def test_tilted_head_without_fiducials_multi_start():
    """No fiducials, head turned 35 degrees in the scanner: the multi-start still finds it."""
    T_true = mni.random_test_affine(np.random.default_rng(11), max_rotation_deg=0.0)
    R = np.eye(4)
    R[:3, :3] = Rotation.from_euler("z", 35, degrees=True).as_matrix()
    T_true = R @ T_true
    vol = mni.template_under_affine(T_true)
    reg = mni.register_mri_to_mni(vol)
    assert reg.init == "head-top"
    err = np.linalg.norm(mni.mni_to_mri(reg.T_mri_from_mni, CORTICAL_MNI) - mni.mni_to_mri(T_true, CORTICAL_MNI), axis=1)
    assert err.max() < 2.0
