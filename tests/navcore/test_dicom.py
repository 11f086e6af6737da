"""navcore.dicom: DICOM series read back exactly against the Image Plane model (tests/dicom_helpers),
against Debian's dcm2niix, and clear refusals of localisers, mixed series, gaps and compressed data."""
from __future__ import annotations

import shutil
import subprocess

import nibabel as nib
import numpy as np
import pydicom
import pytest
from dicom_helpers import write_series
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from navcore.dicom import list_series
from navcore.errors import InputFileError
from navcore.mri import load_mri


@pytest.fixture(scope="module")
def sample_img(data_dir):
    return nib.load(str(data_dir / "sample_head" / "head_t1.nii.gz"))


@pytest.fixture(scope="module")
def sample_series(sample_img, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom") / "t1"
    write_series(folder, np.asarray(sample_img.dataobj), sample_img.affine)
    return folder


def test_sample_head_series_reads_back_exactly(sample_img, sample_series):
    A = sample_img.affine
    assert np.count_nonzero(np.abs(A[:3, :3] - np.diag(np.diag(A[:3, :3]))) > 1e-3) > 0  # oblique
    vol = load_mri(sample_series)
    # DS strings keep 16 characters: the affine comes back to ~1e-12 mm, far below any voxel
    np.testing.assert_allclose(vol.T_mri_from_voxel, A, rtol=0, atol=1e-9)
    assert vol.shape == sample_img.shape
    assert np.array_equal(vol.data, np.asarray(sample_img.dataobj, dtype=np.float32))
    assert vol.path == sample_series


def test_one_file_of_the_series_opens_the_series(sample_img, sample_series):
    one = sorted(sample_series.iterdir())[5]
    vol = load_mri(one)
    np.testing.assert_allclose(vol.T_mri_from_voxel, sample_img.affine, atol=1e-9)
    assert vol.shape == sample_img.shape


@pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="Debian's dcm2niix is not installed")
@pytest.mark.slow
def test_dcm2niix_gives_the_same_affine_and_voxels(sample_series, tmp_path):
    out = tmp_path / "nii"
    out.mkdir()
    proc = subprocess.run(["dcm2niix", "-b", "n", "-z", "n", "-f", "t1", "-o", str(out), str(sample_series)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ref = nib.load(str(out / "t1.nii"))
    vol = load_mri(sample_series)
    # dcm2niix stores rows bottom-up: its grid is ours with j reversed. Find the voxel-to-voxel map
    # from the two affines: it must be a signed permutation with an integer shift.
    M = np.linalg.inv(ref.affine) @ vol.T_mri_from_voxel
    P = np.round(M)
    np.testing.assert_allclose(M, P, atol=1e-4)  # dcm2niix writes its sform in float32
    assert sorted(np.abs(P[:3, :3]).sum(axis=0).tolist()) == [1, 1, 1]
    ref_data = np.asarray(ref.dataobj, dtype=np.float32)
    ii, jj, kk = np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij")
    ijk_ref = (P[:3, :3] @ np.stack([ii.ravel(), jj.ravel(), kk.ravel()]) + P[:3, 3:4]).astype(int)
    assert np.array_equal(ref_data[tuple(ijk_ref)].reshape(vol.shape), vol.data)
    # and both affines map a voxel to the same scanner point (within dcm2niix's float32)
    corner = np.array([vol.shape[0] - 1, vol.shape[1] - 1, vol.shape[2] - 1, 1.0])
    np.testing.assert_allclose(vol.T_mri_from_voxel @ corner, ref.affine @ (P @ corner), atol=2e-3)


@settings(max_examples=12)
@given(rotvec=st.tuples(*[st.floats(-3.0, 3.0)] * 3), spacing=st.tuples(*[st.floats(0.4, 3.0)] * 3),
       origin=st.tuples(*[st.floats(-150, 150)] * 3), left_handed=st.booleans())
def test_any_oblique_grid_reads_back(tmp_path_factory, rotvec, spacing, origin, left_handed):
    """Any rotation and spacing: right-handed slice stacks come back as written; a stack written
    against the normal comes back sorted along the normal, i.e. with k reversed (same voxels in space)."""
    R = Rotation.from_rotvec(rotvec).as_matrix()
    A = np.eye(4)
    A[:3, :3] = R @ np.diag(spacing)
    A[:3, 3] = origin
    # In LPS the normal is row x column; the slice axis follows it or not
    L = np.diag([-1.0, -1.0, 1.0, 1.0]) @ A
    along_normal = np.cross(L[:3, 0], L[:3, 1]) @ L[:3, 2] > 0
    if along_normal == left_handed:
        A[:3, 2] *= -1
    data = np.random.default_rng(1).integers(0, 4000, (5, 4, 6)).astype(np.uint16)
    folder = tmp_path_factory.mktemp("grid")
    write_series(folder, data, A)
    vol = load_mri(folder)
    if not left_handed:
        np.testing.assert_allclose(vol.T_mri_from_voxel, A, atol=1e-9)
        assert np.array_equal(vol.data, data)
    else:
        flip = np.eye(4)
        flip[2, 2], flip[2, 3] = -1, data.shape[2] - 1
        np.testing.assert_allclose(vol.T_mri_from_voxel, A @ flip, atol=1e-9)
        assert np.array_equal(vol.data, data[:, :, ::-1])


def _small(tmp_path, **kw):
    data = np.arange(4 * 3 * 6, dtype=np.uint16).reshape(4, 3, 6)
    A = np.diag([0.9, 0.9, 1.2, 1.0])
    return data, A


def test_rescale_slope_and_intercept_are_applied(tmp_path):
    data, A = _small(tmp_path)
    write_series(tmp_path / "s", data, A, slope=0.5, intercept=-10)
    vol = load_mri(tmp_path / "s")
    np.testing.assert_allclose(vol.data, data * 0.5 - 10)


def test_several_series_are_listed_by_description_and_uid(tmp_path):
    data, A = _small(tmp_path)
    write_series(tmp_path / "f", data, A, description="t1_mprage_sag", series_number=3, series_uid="1.2.3.4", prefix="A")
    write_series(tmp_path / "f", data + 1, A, description="t2_space", series_number=5, series_uid="1.2.3.5", prefix="B")
    series = list_series(tmp_path / "f")
    assert [(s.number, s.description, s.uid) for s in series] == [("3", "t1_mprage_sag", "1.2.3.4"),
                                                                   ("5", "t2_space", "1.2.3.5")]
    with pytest.raises(InputFileError, match=r"2 image series.*t1_mprage_sag.*1\.2\.3\.4.*t2_space.*1\.2\.3\.5"):
        load_mri(tmp_path / "f")
    assert np.array_equal(load_mri(tmp_path / "f", series_uid="1.2.3.5").data, data + 1)
    assert np.array_equal(load_mri(tmp_path / "f", series_uid="3").data, data)
    assert np.array_equal(load_mri(tmp_path / "f" / "B0000.dcm").data, data + 1)


def test_a_localiser_beside_the_t1_is_passed_over_and_alone_is_refused(tmp_path):
    data, A = _small(tmp_path)
    write_series(tmp_path / "f", data, A, description="t1", series_uid="1.2.3.4", prefix="A")
    write_series(tmp_path / "f", data, A, description="localizer", series_number=1, series_uid="1.2.3.9",
                 image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), prefix="L")
    assert np.array_equal(load_mri(tmp_path / "f").data, data)
    write_series(tmp_path / "g", data, A, description="localizer", image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    with pytest.raises(InputFileError, match="only a localiser"):
        load_mri(tmp_path / "g")


def test_three_plane_localiser_in_one_series_is_refused(tmp_path):
    data, A = _small(tmp_path)
    B = A.copy()
    B[:3, :3] = A[:3, :3] @ np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    write_series(tmp_path / "f", data, A, series_uid="1.2.3.4", prefix="A")
    write_series(tmp_path / "f", data, B, series_uid="1.2.3.4", prefix="B")
    with pytest.raises(InputFileError, match="mixes slice orientations"):
        load_mri(tmp_path / "f")


def test_missing_slices_are_refused(tmp_path):
    data, A = _small(tmp_path)
    write_series(tmp_path / "f", data, A, skip_slices=(2, 3))
    with pytest.raises(InputFileError, match="missing 2 slice"):
        load_mri(tmp_path / "f")


def test_repeated_positions_are_refused(tmp_path):
    data, A = _small(tmp_path)
    write_series(tmp_path / "f", data, A, series_uid="1.2.3.4", prefix="A")
    write_series(tmp_path / "f", data, A, series_uid="1.2.3.4", prefix="B")
    with pytest.raises(InputFileError, match="same position"):
        load_mri(tmp_path / "f")


def test_gantry_tilt_is_refused(tmp_path):
    data, A = _small(tmp_path)
    A[0, 2] = 0.3  # slice step not along the normal: origins drift in-plane
    files = write_series(tmp_path / "f", data, A)
    assert len(files) == 6
    # the slice step is still straight, so a sheared stack is accepted as an affine grid ...
    np.testing.assert_allclose(load_mri(tmp_path / "f").T_mri_from_voxel, A, atol=1e-9)
    # ... but one slice off the line is refused
    ds = pydicom.dcmread(str(files[3]))
    ds.ImagePositionPatient = [float(v) + (0.5 if i == 0 else 0) for i, v in enumerate(ds.ImagePositionPatient)]
    ds.save_as(str(files[3]))
    with pytest.raises(InputFileError, match="do not lie on one line"):
        load_mri(tmp_path / "f")


def test_compressed_without_decoder_is_refused(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder

    jpeg_ls = "1.2.840.10008.1.2.4.80"
    if get_decoder(jpeg_ls).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    data, A = _small(tmp_path)
    files = write_series(tmp_path / "f", data, A)
    for f in files:
        ds = pydicom.dcmread(str(f))
        ds.file_meta.TransferSyntaxUID = jpeg_ls
        ds.PixelData = encapsulate([b"\xff\xd8" + b"\x00" * 30 + b"\xff\xd9"])
        ds["PixelData"].VR = "OB"
        ds.save_as(str(f), enforce_file_format=True)
    with pytest.raises(InputFileError, match="compressed .*JPEG-LS.* no decoder"):
        load_mri(tmp_path / "f")


def test_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputFileError, match="no DICOM image files"):
        load_mri(tmp_path)
