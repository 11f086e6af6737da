"""targets.surfaces: scalp surface of the sample head, and exact geometry on a synthetic ball."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import GeometryError
from navcore.mri import MRIVolume, load_mri
from navcore.transforms import make_transform
from scipy.spatial.transform import Rotation
from targets.surfaces import Surface, head_mask, otsu_threshold, scalp_surface, working_volume


@pytest.fixture(scope="session")
def sample_mri(data_dir):
    return load_mri(data_dir / "sample_head" / "head_t1.nii.gz")


@pytest.fixture(scope="session")
def scalp(sample_mri) -> Surface:
    return scalp_surface(sample_mri)


def test_scalp_is_a_closed_mesh_of_the_requested_size(scalp):
    assert scalp.vertices.dtype == np.float64 and scalp.faces.dtype == np.int64
    assert scalp.vertices.shape[1] == 3 and scalp.faces.shape[1] == 3
    assert 80_000 <= scalp.n_triangles <= 100_000
    # watertight-ish: (almost) every edge shared by two triangles
    assert scalp.boundary_edge_count() <= 0.001 * 3 * scalp.n_triangles
    np.testing.assert_allclose(np.linalg.norm(scalp.normals, axis=1), 1.0, atol=1e-6)


def test_scalp_has_a_nose_in_front_of_the_ears(scalp):
    v = scalp.vertices
    # restrict to the head above the neck (the sample has a long neck down to the volume edge)
    top = v[:, 2].max()
    head = v[v[:, 2] > top - 150]
    mid_x = 0.5 * (head[:, 0].min() + head[:, 0].max())
    width = head[:, 0].max() - head[:, 0].min()
    tip = head[np.argmax(head[:, 1])]
    assert abs(tip[0] - mid_x) < 0.08 * width, "the most anterior point should be on the midline (nose tip)"
    left_ear = head[np.argmin(head[:, 0])]
    right_ear = head[np.argmax(head[:, 0])]
    assert tip[1] - left_ear[1] > 70 and tip[1] - right_ear[1] > 70
    # no shell in front of the face: every vertex within 1 mm of the tip's y is near the tip
    front = head[head[:, 1] > tip[1] - 1.0]
    assert np.all(np.linalg.norm(front - tip, axis=1) < 15)


def test_normals_point_outward(scalp):
    v, n = scalp.vertices, scalp.normals
    out = np.sum((v - v.mean(0)) * n, axis=1)
    assert np.mean(out > 0) > 0.9
    # face normals agree with vertex normals (winding is counter-clockwise from outside)
    f = scalp.faces
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    agree = np.sum(fn * (n[f[:, 0]] + n[f[:, 1]] + n[f[:, 2]]), axis=1) > 0
    assert np.mean(agree) > 0.98


def test_head_mask_fills_air_cavities(sample_mri):
    mask = head_mask(sample_mri)
    from scipy import ndimage

    assert np.array_equal(mask, ndimage.binary_fill_holes(mask))
    _, n = ndimage.label(mask)
    assert n == 1


def _ball_volume(R, t, voxel_mm, radius_mm, flip=False):
    """A bright ball of radius_mm centred in a small volume with an oblique affine."""
    n = int(2 * radius_mm / voxel_mm) + 12
    A = make_transform(R @ np.diag([voxel_mm] * 3) @ (np.diag([-1, 1, 1]) if flip else np.eye(3)), t)
    centre_vox = np.array([n / 2 - 0.3, n / 2 + 0.2, n / 2])
    ijk = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    r = np.linalg.norm((ijk - centre_vox) * voxel_mm, axis=1)
    data = (100.0 * np.clip(radius_mm - r + 0.5, 0, 1)).reshape(n, n, n).astype(np.float32)
    centre_mri = A[:3, :3] @ centre_vox + A[:3, 3]
    return MRIVolume(data=data, T_mri_from_voxel=A, path="ball.nii"), centre_mri


@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1), flip=st.booleans())
def test_oblique_affine_is_used_exactly(seed, flip):
    rng = np.random.default_rng(seed)
    R = Rotation.random(random_state=rng).as_matrix()
    t = rng.uniform(-100, 100, 3)
    mri, centre = _ball_volume(R, t, 2.0, 20.0, flip)
    s = scalp_surface(mri, target_triangles=3000)
    r = np.linalg.norm(s.vertices - centre, axis=1)
    assert abs(np.median(r) - 20.0) < 1.0 and r.max() - r.min() < 3.0
    radial = (s.vertices - centre) / r[:, None]
    assert np.mean(np.sum(radial * s.normals, axis=1) > 0.9) > 0.95
    assert s.boundary_edge_count() == 0


def test_working_volume_keeps_the_world_geometry():
    R = Rotation.from_euler("xyz", [10, -20, 5], degrees=True).as_matrix()
    mri, centre = _ball_volume(R, np.array([5.0, -3.0, 12.0]), 0.7, 12.0)
    w = working_volume(mri)
    assert np.all(w.voxel_size_mm > 1.3) and w.data.shape[0] < mri.data.shape[0]
    # the same world point has the same intensity in both (up to interpolation)
    ijk_w = np.round(w.mri_to_voxel(centre)).astype(int)
    assert w.data[tuple(ijk_w)] == pytest.approx(100.0)
    corner_mri = w.voxel_to_mri(np.array(w.data.shape) - 1)
    np.testing.assert_allclose(mri.mri_to_voxel(corner_mri), np.array(mri.data.shape) - 1, atol=1e-9)


def test_otsu_and_empty_volume():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(10, 2, 5000), rng.normal(100, 5, 5000)])
    assert 20 < otsu_threshold(v) < 90
    empty = MRIVolume(data=np.zeros((10, 10, 10), np.float32), T_mri_from_voxel=np.eye(4), path="e.nii")
    with pytest.raises(GeometryError):
        scalp_surface(empty)


def test_sample_fiducials_lie_on_the_scalp_and_are_plausible(scalp, data_dir):
    from navcore.points import read_points
    from registration.icp import SurfaceIndex

    fid = read_points(data_dir / "sample_head" / "fiducials.csv", frame="mri")
    assert set(fid.names) == {"nasion", "lpa", "rpa"}
    d, _ = SurfaceIndex.build(scalp).signed_distance(fid.positions)
    assert np.all(np.abs(d) < 0.5), f"fiducials off the scalp by {d}"
    n, l, r = fid["nasion"], fid["lpa"], fid["rpa"]
    assert l[0] < -50 and r[0] > 50  # LPA on the left (-x in RAS), RPA on the right
    assert abs(np.linalg.norm(n - l) - np.linalg.norm(n - r)) < 10.0  # symmetric about the midline
    assert abs(l[2] - r[2]) < 10.0
    axis = (r - l) / np.linalg.norm(r - l)
    t = np.dot(n - l, axis) / np.linalg.norm(r - l)
    assert abs(t - 0.5) < 0.1  # nasion over the midpoint of the ears
    perp = (n - l) - np.dot(n - l, axis) * axis
    assert np.linalg.norm(perp) > 80 and perp[1] > 0  # and far in front of them


# ----------------------------------------------------------------------------- the scalp at the skin
# Both references are independent of targets.surfaces: a layered phantom whose skin boundary is an
# exact ellipsoid, and half-maximum edges found on rays through the volume (navtms.benches.skin_truth).

@pytest.fixture(scope="module")
def ray_edges(sample_mri):
    from navtms.benches.skin_truth import ray_half_max_edges

    return ray_half_max_edges(sample_mri.data, sample_mri.T_mri_from_voxel, n_rays=2000)


def test_sample_scalp_lies_on_the_half_maximum_skin_edge(scalp, ray_edges):
    from registration.icp import SurfaceIndex

    assert len(ray_edges.points_mri) > 1000  # the rays found the edge nearly everywhere above the neck
    d, _ = SurfaceIndex.build(scalp).signed_distance(ray_edges.points_mri)
    surface_minus_edge = -d  # positive: the surface lies outside the edge
    assert abs(np.median(surface_minus_edge)) <= 0.3, np.median(surface_minus_edge)
    assert np.percentile(np.abs(surface_minus_edge), 90) <= 0.8


def test_the_old_global_threshold_would_fail_the_edge_goal(sample_mri, ray_edges):
    """The check can fail: the mask at the global half-Otsu threshold lies millimetres outside."""
    from registration.icp import SurfaceIndex
    from targets.surfaces import isosurface_from_mask

    work = working_volume(sample_mri)
    old = isosurface_from_mask(head_mask(work), work.T_mri_from_voxel, 50_000)
    d, _ = SurfaceIndex.build(old).signed_distance(ray_edges.points_mri)
    assert np.median(-d) > 1.0


@pytest.mark.slow
@pytest.mark.parametrize("voxel_mm, psf_mm", [(1.25, 0.8), (1.0, 1.0)])
def test_phantom_scalp_lies_on_the_true_skin(voxel_mm, psf_mm):
    from navtms.benches.skin_truth import ellipsoid_signed_distance, layered_phantom

    ph = layered_phantom(voxel_mm=voxel_mm, psf_sigma_mm=psf_mm, seed=3)
    surf = scalp_surface(MRIVolume(ph.data, ph.T_mri_from_voxel, "phantom.nii"))
    sd = ellipsoid_signed_distance(surf.vertices, ph.centre_mri, ph.semi_axes_mm)
    assert abs(np.median(sd)) <= 0.2, np.median(sd)
    assert np.percentile(np.abs(sd), 90) <= 0.5
    assert surf.boundary_edge_count() == 0


@pytest.mark.slow
def test_phantom_scalp_follows_a_faint_skin_beside_a_strong_one():
    """The face-like case with a known truth: within 25 degrees of the front the skin and fat are
    0.35 times as bright (a faint edge beside the strong one, as over closed eyes). The surface
    follows the faint skin (a level averaged over the region's edges, weighted by their strength,
    put 10 % of it 1.3 mm off) and stays on the skin elsewhere."""
    from navtms.benches.skin_truth import ellipsoid_signed_distance, layered_phantom

    ph = layered_phantom(voxel_mm=1.25, psf_sigma_mm=0.8, seed=4, faint_cone_deg=25.0, faint_gain=0.35)
    surf = scalp_surface(MRIVolume(ph.data, ph.T_mri_from_voxel, "phantom.nii"))
    v = surf.vertices
    sd = ellipsoid_signed_distance(v, ph.centre_mri, ph.semi_axes_mm)
    cos_front = (v - ph.centre_mri)[:, 1] / np.linalg.norm(v - ph.centre_mri, axis=1)
    faint = cos_front > np.cos(np.radians(20.0))
    rest = cos_front < np.cos(np.radians(30.0))
    assert np.sum(faint) > 500
    assert abs(np.median(sd[faint])) <= 0.3 and np.percentile(np.abs(sd[faint]), 90) <= 0.5
    assert abs(np.median(sd[rest])) <= 0.2 and np.percentile(np.abs(sd[rest]), 90) <= 0.5


def test_ellipsoid_distance_matches_a_sphere_and_brute_force():
    from navtms.benches.skin_truth import ellipsoid_signed_distance

    rng = np.random.default_rng(1)
    p = rng.normal(0, 60, (200, 3))
    np.testing.assert_allclose(ellipsoid_signed_distance(p, np.zeros(3), np.array([50.0, 50.0, 50.0])),
                               np.linalg.norm(p, axis=1) - 50.0, atol=1e-6)
    a = np.array([40.0, 60.0, 50.0])
    th, ph = np.meshgrid(np.linspace(0, np.pi, 400), np.linspace(0, 2 * np.pi, 800), indexing="ij")
    pts = np.stack([a[0] * np.sin(th) * np.cos(ph), a[1] * np.sin(th) * np.sin(ph), a[2] * np.cos(th)], -1).reshape(-1, 3)
    q = rng.normal(0, 50, (20, 3))
    brute = np.min(np.linalg.norm(pts[None] - q[:, None], axis=2), axis=1)
    got = ellipsoid_signed_distance(q, np.zeros(3), a)
    np.testing.assert_allclose(np.abs(got), brute, atol=0.3)


def test_ray_finder_finds_a_blurred_step_at_its_middle():
    """The reference finder itself on a ball blurred with a known PSF: the half-maximum is the step."""
    from navtms.benches.skin_truth import ray_half_max_edges
    from scipy import ndimage

    n, r = 96, 35.0
    g = np.indices((n, n, n)).astype(np.float64) - (n - 1) / 2
    ball = (np.sqrt((g ** 2).sum(0)) < r).astype(np.float64)
    img = ndimage.gaussian_filter(ball * 100.0, 1.2)
    T = np.eye(4)
    T[:3, 3] = -(n - 1) / 2
    e = ray_half_max_edges(img, T, n_rays=300, min_z=-1.0, centre_mri=np.zeros(3))
    rad = np.linalg.norm(e.points_mri, axis=1)
    assert len(rad) > 250
    # the ball's voxels cover r = 35 in the mean (stair-cased), so the half-maximum radius is ~35
    assert abs(np.median(rad) - r) < 0.35


def test_face_scalp_lies_on_the_half_maximum_skin_edge(scalp, ray_edges):
    """Over the closed eyes and the nose bridge the skin's edge is faint beside the forehead's
    strong one; the scalp must follow the faint edge (a level averaged over the region put it 1-4 mm
    inside on ~10 % of these rays)."""
    from registration.icp import SurfaceIndex

    p = ray_edges.points_mri
    face = (p[:, 1] > p[:, 1].max() - 40) & (p[:, 2] > -90)  # brow, eyes, nose bridge, cheeks
    assert np.sum(face) > 100
    d, _ = SurfaceIndex.build(scalp).signed_distance(p[face])
    surface_minus_edge = -d
    assert abs(np.median(surface_minus_edge)) <= 0.3, np.median(surface_minus_edge)
    assert np.percentile(np.abs(surface_minus_edge), 90) <= 0.8
    assert np.mean(surface_minus_edge < -1.0) <= 0.03


def test_profile_half_max_finds_the_first_peaks_half_maximum():
    """targets.skin_edge.profile_half_max on blurred steps with a known answer: the half-maximum
    of the first tissue reached from the air, not of a brighter layer behind a darker one."""
    from scipy.special import erf
    from targets.skin_edge import profile_half_max

    s = np.arange(-4.0, 10.0, 0.25)
    step = lambda x0, h, sig: 0.5 * h * (1 + erf((s - x0) / (np.sqrt(2) * sig)))  # noqa: E731
    # skin 60 from 1.3 mm, dark skull (10) from 5 mm: the first peak is the skin's
    a = 5.0 + step(1.3, 55.0, 0.8) - step(5.0, 50.0, 0.8)
    # a faint skin (30 above air) with a dip, then fat at 100 behind it
    b = 5.0 + step(0.7, 30.0, 0.6) - step(3.0, 12.0, 0.6) + step(4.5, 82.0, 0.6)
    flat = np.full_like(s, 5.0)
    ok, level, depth = profile_half_max(np.stack([a, b, flat]), s, 5.0, 5.0)
    assert ok.tolist() == [True, True, False]
    assert level[0] == pytest.approx(0.5 * (5.0 + a.max()), abs=1e-9) and depth[0] == pytest.approx(1.3, abs=0.1)
    skin_peak = b[s < 3.0].max()
    assert level[1] == pytest.approx(0.5 * (5.0 + skin_peak), abs=1e-9) and depth[1] == pytest.approx(0.7, abs=0.1)
