"""navcore.mri: loading the sample head, MGZ, and clear refusals of bad files."""
from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import InputFileError
from navcore.mri import MRIVolume, load_mri, mri_to_voxel, voxel_to_mri


@pytest.fixture(scope="module")
def sample(data_dir) -> MRIVolume:
    return load_mri(data_dir / "sample_head" / "head_t1.nii.gz")


def test_sample_head_loads_with_its_oblique_affine(sample, data_dir):
    img = nib.load(str(data_dir / "sample_head" / "head_t1.nii.gz"))
    assert sample.shape == (117, 153, 142)
    assert sample.data.dtype == np.float32
    assert np.array_equal(sample.T_mri_from_voxel, img.affine.astype(np.float64))  # exactly, no reorientation
    R = sample.T_mri_from_voxel[:3, :3]
    assert np.count_nonzero(np.abs(R - np.diag(np.diag(R))) > 1e-3) > 0  # it really is oblique
    np.testing.assert_allclose(sample.voxel_size_mm, 1.5, atol=1e-6)
    assert 0 <= sample.data.min() and sample.data.max() <= 255
    np.testing.assert_allclose(sample.T_voxel_from_mri @ sample.T_mri_from_voxel, np.eye(4), atol=1e-12)


@settings(max_examples=50)
@given(ijk=st.lists(st.tuples(*[st.floats(-50, 250, allow_nan=False)] * 3), min_size=1, max_size=20))
def test_voxel_mri_round_trip(sample, ijk):
    ijk = np.array(ijk)
    xyz = sample.voxel_to_mri(ijk)
    np.testing.assert_allclose(sample.mri_to_voxel(xyz), ijk, atol=1e-9)
    # same as the affine applied by hand
    A = sample.T_mri_from_voxel
    np.testing.assert_allclose(xyz, (A @ np.c_[ijk, np.ones(len(ijk))].T).T[:, :3], atol=1e-9)
    np.testing.assert_allclose(voxel_to_mri(A, ijk[0]), xyz[0], atol=1e-9)
    np.testing.assert_allclose(mri_to_voxel(A, xyz[0]), ijk[0], atol=1e-9)


def _affine(vox=1.0):
    A = np.diag([vox, vox, vox, 1.0])
    A[:3, 3] = [-10, -20, -30]
    return A


def test_mgz_loads(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 200, (12, 10, 8)).astype(np.uint8)
    A = _affine(1.2)
    A[:3, :3] = A[:3, :3] @ np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]])  # a permuted (FreeSurfer-like) grid
    f = tmp_path / "t1.mgz"
    nib.save(nib.MGHImage(data, A), str(f))
    m = load_mri(f)
    assert m.shape == (12, 10, 8)
    np.testing.assert_array_equal(m.data, data.astype(np.float32))
    np.testing.assert_allclose(m.T_mri_from_voxel, A, atol=1e-5)


def test_4d_with_one_volume_is_accepted(tmp_path):
    f = tmp_path / "one.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((5, 6, 7, 1), np.float32), _affine()), str(f))
    assert load_mri(f).shape == (5, 6, 7)


def _nifti(tmp_path, name, data, affine):
    f = tmp_path / name
    nib.save(nib.Nifti1Image(data, affine), str(f))
    return f


def test_refusals_are_one_clear_sentence_naming_the_file(tmp_path, data_dir):
    good = (data_dir / "sample_head" / "head_t1.nii.gz").read_bytes()
    trunc = tmp_path / "truncated.nii.gz"
    trunc.write_bytes(good[: len(good) // 3])
    text = tmp_path / "notes.nii"
    text.write_text("this is not an image\n" * 30)
    nan_aff = _affine()
    nan_aff[0, 3] = np.nan
    cases = {
        tmp_path / "missing.nii.gz": "does not exist",
        tmp_path: "folder",
        trunc: "truncated",
        _nifti(tmp_path, "fourd.nii.gz", np.zeros((5, 6, 7, 3), np.float32), _affine()): "3D volume",
        _nifti(tmp_path, "nanaff.nii.gz", np.ones((5, 6, 7), np.float32), nan_aff): "NaN",
        _nifti(tmp_path, "huge.nii.gz", np.ones((5, 6, 7), np.float32), _affine(50.0)): "voxel size",
        _nifti(tmp_path, "tiny.nii.gz", np.ones((5, 6, 7), np.float32), _affine(0.001)): "voxel size",
        _nifti(tmp_path, "flat.nii.gz", np.ones((5, 6, 1), np.float32), _affine()): "flat",
        text: "not an MRI format",
    }
    for path, match in cases.items():
        with pytest.raises(InputFileError) as e:
            load_mri(path)
        msg = str(e.value)
        assert path.name in msg and match in msg, msg
        assert "\n" not in msg


def test_gzip_of_garbage_is_refused(tmp_path):
    f = tmp_path / "garbage.nii.gz"
    f.write_bytes(gzip.compress(b"\x00" * 1000))
    with pytest.raises(InputFileError, match="garbage.nii.gz"):
        load_mri(f)


def test_all_nan_data_is_refused_and_some_nan_zeroed(tmp_path):
    d = np.full((4, 4, 4), np.nan, np.float32)
    with pytest.raises(InputFileError, match="no finite"):
        load_mri(_nifti(tmp_path, "allnan.nii.gz", d, _affine()))
    d[1:3, 1:3, 1:3] = 7.0
    m = load_mri(_nifti(tmp_path, "somenan.nii.gz", d, _affine()))
    assert np.all(np.isfinite(m.data)) and m.data.max() == 7.0 and m.data[0, 0, 0] == 0.0
