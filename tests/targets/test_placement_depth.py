"""targets.placement.depth_along_coil_axis against a phantom with a known answer: a 90 mm
scalp sphere around a 75 mm brain sphere whose centre is shifted (so the scalp-cortex distance
varies over the head), with the crossing computed in closed form (ray-sphere)."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from navcore.errors import GeometryError
from planning_helpers import ellipsoid_mesh, planning_dir, sample_fiducials, sample_plan, surface_cache_dir  # noqa: F401
from targets.placement import depth_along_coil_axis

R_SCALP, R_BRAIN = 90.0, 75.0
BRAIN_CENTRE = np.array([0.0, 0.0, -6.0])     # brain sits low: 21 mm at the vertex, about 15 mm at the equator
_MESH = {}


def phantom():
    if not _MESH:
        from targets.surfaces import Surface

        s = ellipsoid_mesh((R_SCALP,) * 3, res=240)
        b = ellipsoid_mesh((R_BRAIN,) * 3, res=240)
        _MESH["scalp"] = s
        _MESH["brain"] = Surface(b.vertices + BRAIN_CENTRE, b.faces, b.normals)
    return _MESH["scalp"], _MESH["brain"]


def ray_sphere(o, d, centre, r):
    """Smallest t >= 0 with |o + t d - centre| = r (d unit), or None."""
    oc = o - centre
    b = oc @ d
    disc = b * b - (oc @ oc - r * r)
    if disc < 0:
        return None
    ts = [t for t in (-b - np.sqrt(disc), -b + np.sqrt(disc)) if t >= -1e-6]   # a coil face on the sphere: t = 0
    return min(ts) if ts else None


def coil_pose(azimuth, elevation, tilt_deg, tilt_dir, offset_mm):
    """A coil `offset_mm` outside the scalp sphere above (azimuth, elevation), its axis tilted
    by tilt_deg from the inward radial direction."""
    n = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    a = np.cross(n, [0.0, 0.0, 1.0] if abs(n[2]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    perp = np.cos(tilt_dir) * a + np.sin(tilt_dir) * b
    t = np.deg2rad(tilt_deg)
    z = -np.cos(t) * n + np.sin(t) * perp
    x = np.cross(perp, z)
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2] = x, np.cross(z, x), z
    T[:3, 3] = (R_SCALP + offset_mm) * n
    return T


@settings(max_examples=40, deadline=None)
@example(az=0.0, el=0.25, tilt=0.0, tdir=0.0, off=0.0)      # the coil face exactly on the scalp
@given(az=st.floats(0, 2 * np.pi), el=st.floats(0.05, 1.45), tilt=st.floats(0, 25), tdir=st.floats(0, 2 * np.pi),
       off=st.floats(0, 12))
def test_depth_along_axis_matches_closed_form(az, el, tilt, tdir, off):
    scalp, brain = phantom()
    T = coil_pose(az, el, tilt, tdir, off)
    o, z = T[:3, 3], T[:3, 2]
    ts = ray_sphere(o, z, np.zeros(3), R_SCALP)
    tb = ray_sphere(o, z, BRAIN_CENTRE, R_BRAIN)
    d = depth_along_coil_axis(T, scalp, brain)
    assert d.scalp_cortex_mm == pytest.approx(tb - ts, abs=0.1)
    assert d.coil_cortex_mm == pytest.approx(tb, abs=0.1)
    assert np.linalg.norm(d.scalp_mri_mm) == pytest.approx(R_SCALP, abs=0.1)
    assert np.linalg.norm(d.cortex_mri_mm - BRAIN_CENTRE) == pytest.approx(R_BRAIN, abs=0.1)


def test_vertex_and_side_depths_differ_as_the_phantom_says():
    scalp, brain = phantom()
    top = depth_along_coil_axis(coil_pose(0.3, np.pi / 2 - 1e-3, 0, 0, 5), scalp, brain)
    side = depth_along_coil_axis(coil_pose(0.3, 0.1, 0, 0, 5), scalp, brain)
    assert top.scalp_cortex_mm == pytest.approx(R_SCALP - R_BRAIN + 6.0, abs=0.1)      # 21 mm
    assert side.scalp_cortex_mm < 16.0


def test_tilted_axis_is_longer_than_the_nearest_point_distance():
    """Along a tilted axis the cortex is farther than the nearest brain point (what the plan had)."""
    scalp, brain = phantom()
    T = coil_pose(1.0, 0.8, 30.0, 0.5, 5)
    d = depth_along_coil_axis(T, scalp, brain)
    nearest = np.min(np.linalg.norm(brain.vertices - d.scalp_mri_mm, axis=1))
    assert d.scalp_cortex_mm > nearest + 1.0


def test_axis_pointing_away_is_refused():
    scalp, brain = phantom()
    T = coil_pose(0.0, 0.5, 0, 0, 5)
    T[:3, 2] *= -1
    T[:3, 3] *= 1.6            # 150 mm out, looking away: no scalp within reach
    with pytest.raises(GeometryError):
        depth_along_coil_axis(T, scalp, brain)
    with pytest.raises(GeometryError):
        depth_along_coil_axis(np.full((4, 4), np.nan), scalp, brain)


def test_place_coil_reports_both_distances():
    """place_coil keeps the nearest-point distance and adds the along-axis one."""
    from targets.placement import place_coil

    scalp, brain = phantom()
    pl = place_coil(np.array([-40.0, 30.0, 50.0]), scalp, brain=brain, handle_angle_deg=45.0)
    T = pl.T_mri_from_coil
    o, z = T[:3, 3], T[:3, 2]
    expect = ray_sphere(o, z, BRAIN_CENTRE, R_BRAIN) - ray_sphere(o, z, np.zeros(3), R_SCALP)
    assert pl.scalp_cortex_axis_mm == pytest.approx(expect, abs=0.1)
    assert pl.scalp_cortex_distance_mm <= pl.scalp_cortex_axis_mm + 0.1


@pytest.mark.slow
def test_depth_on_the_sample_head(sample_plan):
    """Real anatomy (the embedded sample head): along the planned coil axis of the Fox 2012 DLPFC
    targets the cortex lies a plausible 5-30 mm under the scalp, on the brain mesh, at least as
    far as the nearest brain point, and the crossing points lie on the coil axis."""
    from targets.placement import closest_point_on_mesh

    assert sample_plan.brain is not None
    for t in sample_plan.targets:
        d = depth_along_coil_axis(t.T_mri_from_coil, sample_plan.scalp, sample_plan.brain)
        assert 5.0 < d.scalp_cortex_mm < 30.0, (t.name, d.scalp_cortex_mm)
        on_brain, _ = closest_point_on_mesh(sample_plan.brain, d.cortex_mri_mm)
        assert np.linalg.norm(on_brain - d.cortex_mri_mm) < 0.05
        on_scalp, _ = closest_point_on_mesh(sample_plan.scalp, d.scalp_mri_mm)
        assert np.linalg.norm(on_scalp - d.scalp_mri_mm) < 0.05
        nearest, _ = closest_point_on_mesh(sample_plan.brain, d.scalp_mri_mm)
        assert d.scalp_cortex_mm >= np.linalg.norm(nearest - d.scalp_mri_mm) - 1e-6
        z, c = t.T_mri_from_coil[:3, 2], t.T_mri_from_coil[:3, 3]
        for p in (d.scalp_mri_mm, d.cortex_mri_mm):
            v = p - c
            assert np.linalg.norm(v - (v @ z) * z) < 1e-6
