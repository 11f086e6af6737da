"""targets.hotspot and navtms.motor: grid geometry on the scalp, pulses -> sites, EMG matching,
hotspot choice, hotspot.json + plan target, the response map, grid sites in the viewer scene."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import InputFileError, PlanError
from navcore.transforms import is_rigid
from targets.hotspot import (HOTSPOT_FILE, assign_pulses, load_hotspot, make_grid, match_emg, pick_hotspot,
                             read_emg_csv, save_hotspot, site_stats)
from targets.placement import handle_angle_of, patch_normal
from course_helpers import course_root, hotspot_search, sphere_plan  # noqa: F401 (fixtures)

R = 90.0   # sphere scalp radius (mm)
SAG_MM = 0.8   # largest distance of the 32 x 24 facet sphere mesh from the true sphere (R (1 - cos 7.5 deg))


def _sphere_dist(p):
    return abs(np.linalg.norm(p) - R)


def test_grid_sites_lie_on_the_scalp_with_the_motor_coil_placement(sphere_plan):
    plan_dir, axes, plan = sphere_plan
    g = make_grid(plan.scalp, plan.target("m1-hand").entry_mri_mm, axes, rows=5, cols=5, spacing_mm=10.0)
    assert len(g.sites) == 25 and g.sites[0].name == "hs-A1" and g.sites[-1].name == "hs-E5"
    centre = g.site("hs-C3")
    assert np.linalg.norm(centre.entry_mri_mm - plan.target("m1-hand").entry_mri_mm) < 1.0
    for s in g.sites:
        assert _sphere_dist(s.entry_mri_mm) < SAG_MM       # on the (faceted) sphere mesh
        assert is_rigid(s.T_mri_from_coil)
        z = s.T_mri_from_coil[:3, 2]
        assert np.allclose(z, -patch_normal(plan.scalp, s.entry_mri_mm), atol=1e-9)    # +z into the head
        assert np.degrees(np.arccos(np.clip(z @ (-s.entry_mri_mm / R), -1, 1))) < 6.0   # (coarse sphere facets)
        assert abs(handle_angle_of(s.T_mri_from_coil, axes) - 45.0) < 1e-6
        assert abs(np.linalg.norm(s.coil_centre_mri_mm) - (R + 5.0)) < 0.8            # 5 mm coil offset
    # neighbours 10 mm apart along the scalp (chord of the projected points; sphere: R*atan(u/R) shrink)
    a, b = g.site("hs-C3").entry_mri_mm, g.site("hs-C4").entry_mri_mm
    assert abs(np.linalg.norm(a - b) - 10.0) < 0.6
    # row A is anterior of row E; column 5 is farther from the midline (lateral) than column 1
    assert (g.site("hs-A3").entry_mri_mm - g.site("hs-E3").entry_mri_mm) @ axes.anterior > 30
    side = lambda p: abs((p - axes.midline_point) @ axes.right)  # noqa: E731
    assert side(g.site("hs-C5").entry_mri_mm) > side(g.site("hs-C1").entry_mri_mm) + 20


_FINE = {}


def fine_sphere():
    """A 90 mm sphere with uniformly spread vertices (Fibonacci lattice, 8000 points, about 3.6 mm
    apart; scipy ConvexHull faces), so the geometry checks can be tight: facet sag < 0.05 mm and
    no pole crowding to bias the patch-averaged normals (which still differ from the radial
    direction by up to 1.7 deg: the 10 mm patch holds only ~24 vertices; the lattice poles are
    irregular, so the test keeps to latitudes within 60 deg)."""
    if "s" not in _FINE:
        from scipy.spatial import ConvexHull

        from targets.surfaces import Surface

        n = 8000
        k = np.arange(n) + 0.5
        z = 1 - 2 * k / n
        phi = np.pi * (1 + 5 ** 0.5) * k
        u = np.c_[np.sqrt(1 - z ** 2) * np.cos(phi), np.sqrt(1 - z ** 2) * np.sin(phi), z]
        _FINE["s"] = Surface(R * u, ConvexHull(u).simplices.astype(np.int64), u)
    return _FINE["s"]


@settings(max_examples=15)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), spacing=st.floats(3.0, 15.0),
       az=st.floats(-3.1, 3.1), el=st.floats(-0.6, 0.6), angle=st.floats(-90, 90))
def test_grid_property_on_random_scalp_points(sphere_plan, rows, cols, spacing, az, el, angle):
    _d, axes, _plan = sphere_plan
    scalp = fine_sphere()
    c = R * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    g = make_grid(scalp, c, axes, rows=rows, cols=cols, spacing_mm=spacing, handle_angle_deg=angle)
    assert len(g.sites) == rows * cols and len({s.name for s in g.sites}) == rows * cols
    assert abs(g.e_anterior @ g.normal) < 1e-9 and abs(g.e_lateral @ g.normal) < 1e-9
    for s in g.sites:
        assert is_rigid(s.T_mri_from_coil) and _sphere_dist(s.entry_mri_mm) < 0.1
        # (within ~1 mm of the midline "outwards" is ambiguous: coil_frame decides the side from the
        # entry, handle_angle_of from the coil centre, so the sign may flip there)
        if abs((s.entry_mri_mm - axes.midline_point) @ axes.right) > 3.0:
            assert abs(handle_angle_of(s.T_mri_from_coil, axes) - angle) < 1e-6
        assert np.degrees(np.arccos(np.clip(s.T_mri_from_coil[:3, 2] @ (-s.entry_mri_mm / R), -1, 1))) < 2.0   # patch mean of ~24 vertices: 1.7 deg max in 10k sites
        # the site's tangent-plane coordinates come back from its scalp point: the point (u, v) of the
        # tangent plane projects onto the sphere at (u, v) * R / sqrt(R^2 + u^2 + v^2)
        d = s.entry_mri_mm - g.centre_mri_mm
        k = R / math.sqrt(R ** 2 + s.u_mm ** 2 + s.v_mm ** 2)
        assert abs(d @ g.e_anterior - k * s.u_mm) < 0.8   # 0.49 max in 14k sites
        assert abs(d @ g.e_lateral - k * s.v_mm) < 0.8


def test_grid_refuses_bad_sizes(sphere_plan):
    from navcore.errors import GeometryError

    _d, axes, plan = sphere_plan
    c = plan.target("m1-hand").entry_mri_mm
    for kw in ({"rows": 0}, {"cols": 100}, {"spacing_mm": 0.1}, {"spacing_mm": float("nan")}):
        with pytest.raises(GeometryError):
            make_grid(plan.scalp, c, axes, **kw)


@settings(max_examples=30)
@given(k=st.integers(0, 24), off=st.tuples(*[st.floats(-1, 1)] * 3), r=st.floats(0.0, 12.0))
def test_pulse_goes_to_the_site_it_was_given_at(sphere_plan, k, off, r):
    _d, axes, plan = sphere_plan
    g = _grid(plan, axes)
    u = np.array(off)
    u = u / np.linalg.norm(u) if np.linalg.norm(u) > 1e-6 else np.array([1.0, 0, 0])
    p = g.sites[k].coil_centre_mri_mm + r * u
    a = assign_pulses(g, np.array([p, [np.nan] * 3]), max_distance_mm=5.0)
    assert a[1] == -1
    if r < 4.5:          # nearer its own site than any other (10 mm apart) and inside the limit
        assert a[0] == k
    elif r > 5.0:
        d_all = np.linalg.norm(np.array([s.coil_centre_mri_mm for s in g.sites]) - p, axis=1)
        assert (a[0] == -1) == (d_all.min() > 5.0)


_G = {}


def _grid(plan, axes):
    if "g" not in _G:
        _G["g"] = make_grid(plan.scalp, plan.target("m1-hand").entry_mri_mm, axes)
    return _G["g"]


# ----------------------------------------------------------------------------- EMG
def _emg(tmp_path, text, name="emg.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_emg_csv_reading_and_matching_by_time(tmp_path):
    p = _emg(tmp_path, "# EMG export\ntime_s,p2p_uv\n12.004,150.5\n10.0015,20\n11.0,0\n")
    t, a = read_emg_csv(p)
    assert t.tolist() == [12_004_000_000, 10_001_500_000, 11_000_000_000] and a.tolist() == [150.5, 20.0, 0.0]
    pulses = [10_000_000_000, 11_002_000_000, 12_000_000_000]
    assert match_emg(pulses, t, a, tolerance_ms=5.0).tolist() == [20.0, 0.0, 150.5]
    with pytest.raises(InputFileError, match=r"emg\.csv.*pulse 3"):
        match_emg(pulses, t, a, tolerance_ms=3.0, source=p)
    got = match_emg(pulses, t, a, tolerance_ms=3.0, require_all=False)
    assert got[:2].tolist() == [20.0, 0.0] and np.isnan(got[2])
    with pytest.raises(InputFileError, match="both pulse 1 and pulse 2"):
        match_emg([10_000_000_000, 10_003_000_000], t, a, tolerance_ms=5.0, source=p)


@pytest.mark.parametrize("text, problem", [
    ("", "empty"),
    ("time,amp\n1,2\n", "header must name 'time_s'"),
    ("time_s,p2p_uv\n", "no rows"),
    ("time_s,p2p_uv\n1.0,abc\n", "line 2"),
    ("time_s,mep_uv\n1.0,5\n2.0\n", "line 3"),
    ("time_s,peak_to_peak_uv\n1.0,-5\n", "line 2 .*negative"),
    ("time_s,p2p_uv\nnan,5\n", "line 2"),
])
def test_bad_emg_csv_gives_one_clear_error(tmp_path, text, problem):
    p = _emg(tmp_path, text)
    with pytest.raises(InputFileError, match=problem) as e:
        read_emg_csv(p)
    assert str(p) in str(e.value)


def test_missing_emg_file(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_emg_csv(tmp_path / "nope.csv")


# ----------------------------------------------------------------------------- hotspot choice
def test_site_stats_and_pick(sphere_plan):
    _d, axes, plan = sphere_plan
    g = _grid(plan, axes)
    a = np.array([0, 0, 3, 3, 7, -1, 7])
    r = np.array([100, 300, 50, np.nan, 900, 5000, 700.0])
    s = site_stats(len(g.sites), a, r)
    assert s.n[0] == 2 and s.mean[0] == 200 and s.n[3] == 1 and s.mean[3] == 50 and s.mean[7] == 800
    assert np.isnan(s.mean[1]) and s.n.sum() == 5      # the unassigned 5000 uV pulse counts nowhere
    res = pick_hotspot(g, s)
    assert (res.index, res.name, res.method) == (7, g.sites[7].name, "max-mean")
    assert pick_hotspot(g, s, operator_pick="hs-A1").index == 0
    with pytest.raises(PlanError, match="no site 'hs-Z9'"):
        pick_hotspot(g, s, operator_pick="hs-Z9")
    with pytest.raises(PlanError, match="no grid site has a response"):
        pick_hotspot(g, site_stats(len(g.sites), a, np.zeros(len(a))))


def test_simulated_search_finds_the_simulated_hotspot(hotspot_search, sphere_plan, tmp_path):
    from navtms.course_report import response_map_png
    from navtms.motor import hotspot_from_session
    from targets.plan import load_plan

    grid, sim = hotspot_search
    plan_dir = tmp_path / "plan"
    shutil.copytree(sphere_plan[0], plan_dir)
    (plan_dir / "sessions").mkdir()
    (plan_dir / "sessions" / "keep.txt").write_text("x")
    run = hotspot_from_session(plan_dir, sim["session"], emg_csv=sim["emg"])
    # every pulse went to the site it was given at, and got its EMG amplitude
    assert (run.assignment >= 0).all() and np.bincount(run.assignment).tolist() == [3] * 25
    assert np.allclose(run.result.stats.mean, sim["site_means_uv"], rtol=0, atol=0.06)
    assert run.result.index == int(np.argmax(sim["site_means_uv"]))
    assert run.result.index == int(np.argmax(sim["expected_uv"]))          # the true hotspot's site
    hj = load_hotspot(plan_dir)
    assert hj["format_version"] == 1 and hj["hotspot"] == run.result.name and len(hj["pulses"]) == 75
    plan = load_plan(plan_dir, checksum="skip")
    hs = plan.target("hotspot")
    assert np.allclose(hs.T_mri_from_coil, grid.sites[run.result.index].T_mri_from_coil)
    assert [t.name for t in plan.targets] == ["m1-hand", "dlpfc", "hotspot"]
    assert (plan_dir / "sessions" / "keep.txt").read_text() == "x"         # the plan folder kept its content
    # a second choice (the operator's) replaces the plan's hotspot, never duplicates it
    run2 = hotspot_from_session(plan_dir, sim["session"], operator_pick="hs-A1")
    plan = load_plan(plan_dir, checksum="skip")
    assert [t.name for t in plan.targets].count("hotspot") == 1
    assert np.allclose(plan.target("hotspot").T_mri_from_coil, grid.site("hs-A1").T_mri_from_coil)
    assert run2.result.method == "operator"
    png = response_map_png(tmp_path / "map.png", run.grid, run.result.stats, run.result.index)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_emg_from_another_session_is_refused_and_nothing_is_written(hotspot_search, sphere_plan, tmp_path):
    from navtms.motor import hotspot_from_session

    grid, sim = hotspot_search
    plan_dir = tmp_path / "plan"
    shutil.copytree(sphere_plan[0], plan_dir)
    before = (plan_dir / "plan.json").read_bytes()
    lines = sim["emg"].read_text().splitlines()
    shifted = [lines[0], lines[1]] + [f"{float(l.split(',')[0]) + 0.5:.9f},{l.split(',')[1]}" for l in lines[2:]]
    bad = _emg(tmp_path, "\n".join(shifted) + "\n")
    with pytest.raises(InputFileError, match="no EMG row lies within 5 ms of pulse 1"):
        hotspot_from_session(plan_dir, sim["session"], emg_csv=bad)
    assert (plan_dir / "plan.json").read_bytes() == before and not (plan_dir / HOTSPOT_FILE).exists()


def test_operator_responses_csv(hotspot_search, sphere_plan, tmp_path):
    from navtms.motor import hotspot_from_session

    grid, sim = hotspot_search
    plan_dir = tmp_path / "plan"
    shutil.copytree(sphere_plan[0], plan_dir)
    # twitch seen only for the pulses given at site hs-B4 (pulses 3k+1..3k+3 at site k)
    k = [s.name for s in grid.sites].index("hs-B4")
    rows = ["pulse,response"] + [f"{i},{'y' if (i - 1) // 3 == k else 'n'}" for i in range(1, 76)]
    f = _emg(tmp_path, "\n".join(rows) + "\n", "resp.csv")
    run = hotspot_from_session(plan_dir, sim["session"], responses_csv=f, save=False)
    assert run.result.name == "hs-B4" and run.result.unit == "twitch" and run.result.stats.mean[k] == 1.0
    mixed = _emg(tmp_path, "pulse,response\n1,y\n2,120\n", "mixed.csv")
    with pytest.raises(InputFileError, match="mixes"):
        hotspot_from_session(plan_dir, sim["session"], responses_csv=mixed, save=False)


def test_grid_sites_are_viewer_targets(sphere_plan):
    from viewer.scene import NavigationScene
    from viewer.state import SceneSpec

    _d, axes, plan = sphere_plan
    g = _grid(plan, axes)
    scene = NavigationScene(SceneSpec(scalp=plan.scalp, targets=list(plan.targets) + list(g.sites),
                                      active_target="hs-C3"))
    assert set(scene.target_actors) == {"m1-hand", "dlpfc"} | {s.name for s in g.sites}
    entry_actor = scene.target_actors["hs-B2"][1]
    assert np.allclose(entry_actor.GetCenter(), g.site("hs-B2").entry_mri_mm, atol=0.3)


def test_hotspot_json_round_trip_and_refusals(sphere_plan, tmp_path):
    from navtms.motor import grid_from_json

    _d, axes, plan = sphere_plan
    g = _grid(plan, axes)
    obj = json.loads(json.dumps(__import__("navcore.fileio", fromlist=["to_jsonable"]).to_jsonable(g.to_json())))
    g2 = grid_from_json(tmp_path / "g.json", obj)
    assert [s.name for s in g2.sites] == [s.name for s in g.sites]
    assert all(np.array_equal(a.T_mri_from_coil, b.T_mri_from_coil) for a, b in zip(g.sites, g2.sites))
    del obj["sites"][3]["u_mm"]
    with pytest.raises(InputFileError, match="g.json"):
        grid_from_json(tmp_path / "g.json", obj)
    s = site_stats(len(g.sites), [0], [10.0])
    with pytest.raises(InputFileError, match="not a plan folder"):
        save_hotspot(tmp_path, g, pick_hotspot(g, s))


def test_random_damage_to_a_grid_file_gives_one_clear_error(sphere_plan, tmp_path):
    import random

    from navcore.fileio import to_jsonable
    from navtms.motor import grid_from_json

    _d, axes, plan = sphere_plan
    good = to_jsonable(_grid(plan, axes).to_json())
    rnd = random.Random(1)
    nasty = [None, "x", -1, 10**400, [], {}, [1, 2], float("inf"), True]
    for _ in range(60):
        obj = json.loads(json.dumps(good))
        tgt = obj if rnd.random() < 0.4 else obj["sites"][rnd.randrange(len(obj["sites"]))]
        key = rnd.choice(sorted(tgt))
        if rnd.random() < 0.2:
            del tgt[key]
        else:
            tgt[key] = rnd.choice(nasty)
        try:
            grid_from_json(tmp_path / "g.json", obj)
        except InputFileError as e:
            assert "g.json" in str(e)
