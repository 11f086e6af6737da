"""Brain surface: skull stripping of the sample head, mask input, inside tests."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from navcore.errors import GeometryError, InputFileError
from navcore.mri import MRIVolume, load_mri
from targets.brain import brain_mask, brain_surface, inside_mask, load_brain_mask
from targets.planner import signed_distance_to_surface
from targets.surfaces import head_mask

from planning_helpers import SAMPLE_MRI


@pytest.fixture(scope="module")
def mri():
    return load_mri(SAMPLE_MRI)


@pytest.fixture(scope="module")
def mask(mri):
    return brain_mask(mri)


def test_brain_mask_is_plausible(mri, mask):
    ml = mask.sum() * np.prod(mri.voxel_size_mm) / 1000
    assert 900 < ml < 1800  # adult brain (with cerebellum), ml
    head = head_mask(mri)
    assert not np.any(mask & ~head)
    # the brain lies under at least ~5 mm of scalp and skull everywhere
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(head, sampling=mri.voxel_size_mm)
    assert depth[mask].min() >= 4.5
    # bright scalp is excluded: the brain's mean intensity is not that of the outer head layer
    assert mri.data[mask].mean() > np.median(mri.data[head & (depth < 4)])


@pytest.mark.slow
def test_brain_surface_closed_and_inside_scalp(mri, mask):
    s = brain_surface(mri, target_triangles=20_000)
    assert s.boundary_edge_count() == 0
    assert np.all(np.isfinite(s.normals)) and np.allclose(np.linalg.norm(s.normals, axis=1), 1)
    # its centroid is inside, a point 300 mm away is outside
    c = s.vertices.mean(0)
    assert signed_distance_to_surface(s, c) < -20
    assert signed_distance_to_surface(s, c + [0, 0, 300]) > 200
    # surface vertices lie on the mask boundary (within ~2 voxels)
    inside = inside_mask(mask, mri.T_mri_from_voxel, s.vertices - 3.0 * s.normals)
    assert inside.mean() > 0.9


def test_mask_file_same_and_other_grid(tmp_path, mri, mask):
    p = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), mri.T_mri_from_voxel), str(p))
    assert np.array_equal(load_brain_mask(p, mri), mask)
    # the same mask on a coarser 3 mm grid, resampled back: mostly the same voxels
    A = mri.T_mri_from_voxel.copy()
    A[:3, :3] *= 2.0
    small = mask[::2, ::2, ::2]
    p2 = tmp_path / "mask2.nii.gz"
    nib.save(nib.Nifti1Image(small.astype(np.uint8), A), str(p2))
    back = load_brain_mask(p2, mri)
    overlap = (back & mask).sum() / mask.sum()
    assert overlap > 0.9
    s = brain_surface(mri, brain_mask_path=p, target_triangles=10_000)
    assert s.boundary_edge_count() == 0


def test_empty_inputs(tmp_path, mri):
    p = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(mri.shape, np.uint8), mri.T_mri_from_voxel), str(p))
    with pytest.raises(InputFileError, match="empty"):
        load_brain_mask(p, mri)
    blob = np.zeros((60, 60, 60), np.float32)
    blob[20:40, 20:40, 20:40] = 100.0  # a small bright cube: a head with no brain-sized inside
    with pytest.raises(GeometryError):
        brain_mask(MRIVolume(blob, np.diag([2.0, 2, 2, 1]), tmp_path / "cube.nii.gz"))


@pytest.mark.parametrize("contour_mm", [2.0, 3.0])
def test_scalp_on_coarser_grid_is_closed_and_has_the_nose(mri, contour_mm):
    from navcore.points import read_points
    from targets.brain import scalp_surface_on_grid

    from planning_helpers import SAMPLE_FIDUCIALS

    s = scalp_surface_on_grid(mri, contour_mm)
    assert s.boundary_edge_count() == 0
    tip = s.vertices[np.argmax(s.vertices[:, 1])]  # most anterior point
    if SAMPLE_FIDUCIALS.exists():
        f = read_points(SAMPLE_FIDUCIALS, "mri")
        nasion, lpa, rpa = f["nasion"], f["lpa"], f["rpa"]
        assert abs(tip[0] - (lpa[0] + rpa[0]) / 2) < 15  # on the midline
        assert tip[1] > nasion[1] + 5 and tip[2] < nasion[2]  # in front of and below the nasion: the nose
