"""tracking.synthetic.renderer / synthetic_motion: exact geometry, truth vs detections, determinism, files."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from navcore.errors import GeometryError, InputFileError, TrackingError
from navcore.transforms import is_rigid, make_transform, rotation_between
from tracking.bodies import load_body, planar_body
from tracking.camera import CameraModel
from tracking.edgerefine import refine_corners
from tracking.synthetic.renderer import (INK_BLACK, PAPER_WHITE, Occlusion, RenderEffects, SequenceRenderer, project,
                                render_sequence)
from tracking.synthetic.files import frame_time_ns, load_sequence, write_sequence
from tracking.synthetic.motion import coil_approach, spline_trajectory

W, H = 480, 360
CAM = CameraModel((W, H), np.array([[420.0, 0, 239.5], [0, 420.0, 179.5], [0, 0, 1]]), np.zeros(5))
CAM_DIST = CameraModel((W, H), CAM.K, np.array([-0.12, 0.08, 0.001, -0.001, 0.0]))
# for the detector comparison: tags of ~65 px, as at 450 mm with a 720p webcam
K_BIG = np.array([[700.0, 0, 319.5], [0, 700.0, 239.5], [0, 0, 1]])
CAM_BIG = CameraModel((640, 480), K_BIG, np.zeros(5))
CAM_BIG_DIST = CameraModel((640, 480), K_BIG, np.array([-0.12, 0.08, 0.001, -0.001, 0.0]))


@pytest.fixture(scope="session")
def bodies(data_dir):
    return [load_body(data_dir / "bodies" / "coil.json"), load_body(data_dir / "bodies" / "head.json")]


def detector(dictionary=cv2.aruco.DICT_4X4_50):
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(dictionary))
    p = cv2.aruco.DetectorParameters()
    p.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    det.setDetectorParameters(p)
    return det


def detect(img):
    corners, ids, _ = detector().detectMarkers(img)
    if ids is None:
        return {}
    return {int(i): c.reshape(4, 2) for i, c in zip(ids.ravel(), corners)}


def pose(euler_deg, t):
    return make_transform(Rotation.from_euler("xyz", euler_deg, degrees=True).as_matrix(), t)


def still(T, n=1):
    return np.repeat(np.asarray(T, dtype=np.float64)[None], n, axis=0)


@settings(max_examples=12)
@given(dx=st.floats(-0.5, 0.5), dy=st.floats(-0.5, 0.5), z=st.floats(250, 400))
def test_tag_edges_land_exactly_on_the_projected_corners(dx, dy, z):
    # A fronto-parallel tag: each edge pixel is an area average, so its gray level gives the
    # edge's subpixel position exactly; it must match the projection of the body corners.
    body = planar_body("b", "DICT_4X4_50", [3], 30.0, "1x1")
    T = make_transform(np.eye(3), [dx * z / 420.0 * 3, dy * z / 420.0 * 3, z])
    r = SequenceRenderer(CAM, [body], RenderEffects.clean(background=False, plate=False), seed=0)
    img, truth = r.render({"b": still(T)}, 0, 30.0)
    g = img[..., 1].astype(np.float64)
    uv = r.project(T, body.tags[3])  # TL, TR, BR, BL
    row = int(round((uv[0, 1] + uv[3, 1]) / 2))
    left = int(math.floor(uv[0, 0] + 0.5))   # the pixel whose footprint holds the left edge
    right = int(math.floor(uv[1, 0] + 0.5))
    white, black = g[row, left - 3], g[row, left + 3]
    assert white - black > 0.7 * (PAPER_WHITE - INK_BLACK)
    est_left = left - 0.5 + (g[row, left] - black) / (white - black)    # white part of the pixel
    est_right = right - 0.5 + (white - g[row, right]) / (white - black)  # black part of the pixel
    assert abs(est_left - uv[0, 0]) < 0.03
    assert abs(est_right - uv[1, 0]) < 0.03
    assert truth["b"].visible and truth["b"].tags_visible == 1


@pytest.mark.parametrize("camera", [CAM_BIG, CAM_BIG_DIST], ids=["pinhole", "distorted"])
def test_detected_corners_match_projection_on_clean_frames(bodies, camera):
    # OpenCV's detector (CORNER_REFINE_SUBPIX) within 0.3 px median; its known inward bias of
    # ~0.2 px (see tracking/edgerefine.py) is the detector's: the edge-fit refinement, which has
    # no such bias, agrees with the projection to better than 0.05 px (median).
    rng = np.random.default_rng(4)
    errs, errs_fit = [], []
    for k in range(3):
        traj = {"coil": still(pose(rng.uniform(-25, 25, 3), [rng.uniform(40, 80), rng.uniform(-30, 30), 380])),
                "head": still(pose(rng.uniform(-25, 25, 3), [rng.uniform(-130, -90), rng.uniform(-30, 30), 450]))}
        r = SequenceRenderer(camera, bodies, RenderEffects.clean(), seed=k)
        img, truth = r.render(traj, 0, 30.0)
        found = detect(img)
        ids = sorted(found)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        fitted = dict(zip(ids, refine_corners(gray, np.stack([found[i] for i in ids]))))
        for b in bodies:
            assert truth[b.name].visible
            assert set(b.ids) <= set(found), f"{b.name} tags missing in a clean frame"
            for tid in b.ids:
                uv = r.project(traj[b.name][0], b.tags[tid])
                errs.append(np.linalg.norm(found[tid] - uv, axis=1))
                errs_fit.append(np.linalg.norm(fitted[tid] - uv, axis=1))
    errs, errs_fit = np.concatenate(errs), np.concatenate(errs_fit)
    assert np.median(errs) < 0.3 and errs.max() < 0.8
    assert np.median(errs_fit) < 0.05 and errs_fit.max() < 0.15


def test_fully_occluded_or_out_of_view_body_is_not_visible_and_not_detected(bodies):
    traj = {"coil": still(pose([5, -10, 0], [60, 0, 400]), 3), "head": still(pose([-5, 10, 0], [-110, 0, 450]), 3)}
    occ = (Occlusion("coil", 0.0, 10.0, ramp_s=1e-3),)
    r = SequenceRenderer(CAM, bodies, RenderEffects(occlusions=occ), seed=2)
    img, truth = r.render(traj, 1, 30.0)
    found = detect(img)
    assert not truth["coil"].visible and truth["coil"].tags_visible == 0
    assert not (set(found) & set(bodies[0].ids))
    assert truth["head"].visible and set(bodies[1].ids) <= set(found)
    # out of view: far to the right
    traj_out = dict(traj, coil=still(pose([0, 0, 0], [600, 0, 400]), 3))
    r2 = SequenceRenderer(CAM, bodies, RenderEffects(), seed=2)
    img, truth = r2.render(traj_out, 1, 30.0)
    assert not truth["coil"].visible and not (set(detect(img)) & set(bodies[0].ids))
    # seen from behind: not drawn, not visible
    traj_back = dict(traj, coil=still(pose([0, 180, 0], [60, 0, 400]), 3))
    img, truth = r2.render(traj_back, 1, 30.0)
    assert not truth["coil"].visible and not (set(detect(img)) & set(bodies[0].ids))


def test_partial_occlusion_counts_only_uncovered_tags(bodies):
    # The coil covers part of the head: the head's covered tags are not counted as visible.
    traj = {"coil": still(pose([0, 0, 0], [-5, 0, 330])), "head": still(pose([0, 0, 0], [-100, 0, 450]))}
    img, truth = SequenceRenderer(CAM, bodies, RenderEffects.clean(), seed=0).render(traj, 0, 30.0)
    found = set(detect(img))
    head_found = found & set(bodies[1].ids)
    assert 0 < truth["head"].tags_visible < 4
    assert len(head_found) <= truth["head"].tags_visible + 1  # a barely covered tag may still be found


def test_same_seed_same_frames_and_different_seed_different(bodies):
    sc = coil_approach(seed=7, seconds=1.0, fps=10.0)
    eff = RenderEffects(occlusions=sc.occlusions)
    a = [img for img, _ in render_sequence(CAM, bodies, sc.trajectories, seed=7, effects=eff, fps=sc.fps)]
    b = [img for img, _ in render_sequence(CAM, bodies, sc.trajectories, seed=7, effects=eff, fps=sc.fps)]
    c = next(render_sequence(CAM, bodies, sc.trajectories, seed=8, effects=eff, fps=sc.fps))[0]
    assert len(a) == 10 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c)
    sc2 = coil_approach(seed=7, seconds=1.0, fps=10.0)
    assert all(np.array_equal(sc.trajectories[k], sc2.trajectories[k]) for k in sc.trajectories)


def test_noise_lighting_and_blur_change_pixels_not_geometry(bodies):
    traj = {"coil": np.stack([pose([0, 0, 0], [40 + 6 * i, 0, 400]) for i in range(3)]),
            "head": still(pose([0, 0, 0], [-110, 0, 450]), 3)}
    clean, t0 = SequenceRenderer(CAM, bodies, RenderEffects.clean(), seed=1).render(traj, 1, 30.0)
    full, t1 = SequenceRenderer(CAM, bodies, RenderEffects(exposure_s=1 / 30), seed=1).render(traj, 1, 30.0)
    diff = full.astype(float) - clean.astype(float)
    assert np.std(diff) > 2.0  # noise + lighting are there
    np.testing.assert_array_equal(t0["coil"].T_camera_from_body, t1["coil"].T_camera_from_body)
    # motion blur smears the moving coil's vertical edges along x (6 px/frame, full-frame exposure)
    found = detect(full)
    assert set(bodies[1].ids) <= set(found)


def test_render_sequence_refuses_missing_trajectory(bodies):
    with pytest.raises(TrackingError):
        list(render_sequence(CAM, bodies, {"coil": still(np.eye(4))}))


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 6))
def test_spline_trajectory_passes_through_keys_and_is_rigid(seed, k):
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.2, 1.0, k)) - 0.1
    times[0] = 0.0
    keys = np.stack([make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-200, 200, 3))
                     for _ in range(k)])
    fps = 50.0
    n = int(times[-1] * fps) + 1
    traj = spline_trajectory(times, keys, fps, n)
    assert traj.shape == (n, 4, 4) and all(is_rigid(T, 1e-9) for T in traj)
    for tk, Tk in zip(times, keys):
        i = int(round(tk * fps))
        if abs(i / fps - tk) < 1e-9:
            assert np.allclose(traj[i], Tk, atol=1e-6)
    # smooth: consecutive frames never jump more than the largest key-to-key step
    steps = [rotation_between(a, b) for a, b in zip(traj, traj[1:])]
    assert max(steps) < math.pi / 2
    with pytest.raises(GeometryError):
        spline_trajectory(times[::-1], keys, fps, n)


def test_coil_approach_scenario_has_its_events(bodies):
    sc = coil_approach(seed=3, seconds=4.0, fps=15.0)
    coil, head = sc.trajectories["coil"], sc.trajectories["head"]
    assert coil.shape == head.shape == (60, 4, 4)
    assert 380 < coil[:, 2, 3].min() and coil[:, 2, 3].max() < 660 and 500 < head[:, 2, 3].min()
    assert np.ptp(head[:, :3, 3], axis=0).max() < 20  # the head moves only a little
    t = np.arange(0, 60, 3) / sc.fps
    occ = sc.occlusions[0]
    covered = (t > occ.start_s + occ.ramp_s) & (t < occ.end_s - occ.ramp_s)
    o0, o1 = sc.out_of_view_s["coil"]
    gone = (t > o0 + 0.1) & (t < o1 - 0.1)
    r = SequenceRenderer(CAM, bodies, RenderEffects(occlusions=sc.occlusions), seed=3)
    vis = []
    for k, i in enumerate(range(0, 60, 3)):
        img, truth = r.render(sc.trajectories, i, sc.fps)
        vis.append(truth["coil"].visible)
        if covered[k] or gone[k]:  # fully covered or out of view: not visible, nothing detected
            assert not truth["coil"].visible and truth["coil"].tags_visible == 0
            assert not (set(detect(img)) & set(bodies[0].ids))
    assert covered.any() and gone.any()
    assert any(vis) and vis[0] and vis[-1]


@pytest.mark.parametrize("codec", ["png", "ffv1", "h264"])
def test_write_and_load_sequence_round_trip(tmp_path, bodies, codec):
    if codec == "h264":
        pytest.importorskip("av", reason="H.264 sequences need PyAV (test extra)")
    sc = coil_approach(seed=5, seconds=1.0, fps=8.0)
    cam = CameraModel((320, 240), np.array([[230.0, 0, 160.0], [0, 230.0, 119.0], [0, 0, 1]]), np.array([-0.05, 0.02, 0, 0, 0]))
    eff = RenderEffects(occlusions=sc.occlusions)
    out = write_sequence(tmp_path / "seq", cam, bodies, sc, seed=5, effects=eff, codec=codec)
    seq = load_sequence(out)
    assert seq.frame_count == 8 and seq.fps == 8.0 and seq.seed == 5
    assert [b.name for b in seq.bodies] == ["coil", "head"]
    np.testing.assert_array_equal(seq.camera.K, cam.K)
    rendered = list(render_sequence(cam, bodies, sc.trajectories, seed=5, effects=eff, fps=8.0))
    images = list(seq.images())
    assert len(images) == 8
    for i, ((img, truth), loaded, poses) in enumerate(zip(rendered, images, seq.truth)):
        if codec == "h264":  # lossy but close
            assert np.mean(np.abs(loaded.astype(float) - img.astype(float))) < 3.0
        else:
            np.testing.assert_array_equal(loaded, img)
        for name in ("coil", "head"):
            p = poses[name]
            assert p.frame_number == i and p.capture_ns == frame_time_ns(i, 8.0)
            assert p.visible == truth[name].visible and p.tags_seen == truth[name].tags_visible
            if p.visible:
                np.testing.assert_allclose(p.T_camera_from_body, truth[name].T_camera_from_body, atol=1e-9)
            else:
                assert p.T_camera_from_body is None
            np.testing.assert_array_equal(seq.truth_poses[name][i], sc.trajectories[name][i])
    # never overwrites a sequence by accident
    with pytest.raises(InputFileError):
        write_sequence(out, cam, bodies, sc, seed=5, codec="png")
    assert load_sequence(out).frame_count == 8


def test_load_sequence_names_the_bad_file(tmp_path, bodies):
    sc = coil_approach(seed=1, seconds=1.0, fps=4.0)
    cam = CameraModel((160, 120), np.array([[115.0, 0, 80.0], [0, 115.0, 60.0], [0, 0, 1]]), np.zeros(5))
    out = write_sequence(tmp_path / "s", cam, bodies, sc, seed=1, codec="png")
    lines = (out / "truth.csv").read_text().splitlines(keepends=True)
    (out / "truth.csv").write_text("".join(lines[:-2]))  # drop the last frame's rows
    with pytest.raises(InputFileError, match="truth.csv"):
        load_sequence(out)
    with pytest.raises(InputFileError, match="does not exist"):
        load_sequence(tmp_path / "nothing")


def test_navtms_synth_command(tmp_path):
    from navtms.cli import main

    out = tmp_path / "cli_seq"
    assert main(["synth", "--out", str(out), "--resolution", "320x180", "--seconds", "1", "--fps", "6",
                 "--seed", "9", "--codec", "png"]) == 0
    seq = load_sequence(out)
    assert seq.camera.image_size == (320, 180) and seq.frame_count == 6 and seq.seed == 9
    assert main(["synth", "--out", str(out), "--resolution", "320x180", "--seconds", "1", "--codec", "png"]) == 2
    assert main(["synth", "--out", str(tmp_path / "x"), "--resolution", "big"]) == 2
    assert load_sequence(out).frame_count == 6  # the refused run left it alone


def test_bundled_sequence_loads_and_matches_its_readme(data_dir):
    seq = load_sequence(data_dir / "sequences" / "coil_approach_720p")
    assert seq.camera.image_size == (1280, 720) and seq.frame_count == 120 and seq.fps == 30.0
    assert seq.seed == 20261123
    coil = np.array([f["coil"].visible for f in seq.truth])
    head = np.array([f["head"].visible for f in seq.truth])
    assert head.all()
    assert not coil[49:60].any() and not coil[79:100].any()  # hand, then out of view
    assert coil[:49].all() and coil[60:79].all() and coil[100:].all()
    z = {n: seq.truth_poses[n][:, 2, 3] for n in ("coil", "head")}
    assert 480 < z["coil"].min() and z["coil"].max() < 660 and 560 < z["head"].min() and z["head"].max() < 600
    images = seq.images()
    first = next(images)
    assert first.shape == (720, 1280, 3)
    found = detect(first)
    assert set(range(8)) <= set(found)  # both bodies' tags are found in the first frame
    for tid, b in ((0, seq.bodies[0]), (4, seq.bodies[1])):
        err = np.linalg.norm(found[tid] - project(seq.camera, seq.truth_poses[b.name][0], b.tags[tid]), axis=1)
        assert np.median(err) < 0.6  # after noise, blur and H.264
    assert sum(1 for _ in images) == 119


def test_bundled_sequence_plays_through_the_video_source_with_truth_times(data_dir):
    from tracking.sources import VideoFileSource

    seq = load_sequence(data_dir / "sequences" / "coil_approach_720p")
    with VideoFileSource(seq.frames_path) as src:
        assert src.fps == seq.fps
        for k, img in zip(range(10), seq.images()):
            frame = src.read()
            truth = seq.truth[k]["coil"]
            assert (frame.frame_number, frame.capture_ns) == (truth.frame_number, truth.capture_ns)
            np.testing.assert_array_equal(frame.image, img)


@settings(max_examples=10)
@given(rx=st.floats(-45, 45), ry=st.floats(-45, 45), rz=st.floats(-180, 180), x=st.floats(-40, 40),
       y=st.floats(-30, 30), z=st.floats(180, 320), distorted=st.booleans())
def test_any_pose_renders_corners_where_the_camera_projects_them(rx, ry, rz, x, y, z, distorted):
    # A single 30 mm tag at a random pose: the unbiased edge-fit corners of the rendered tag
    # agree with the projection of its body corners (perspective and distortion included).
    body = planar_body("b", "DICT_4X4_50", [7], 30.0, "1x1")
    cam = CAM_DIST if distorted else CAM
    T = pose([rx, ry, rz], [x, y, z])
    r = SequenceRenderer(cam, [body], RenderEffects.clean(), seed=1)
    img, truth = r.render({"b": still(T)}, 0, 30.0)
    assert truth["b"].visible
    found = detect(img)
    assert set(found) == {7}
    fitted = refine_corners(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), found[7][None])[0]
    err = np.linalg.norm(fitted - r.project(T, body.tags[7]), axis=1)
    assert err.max() < 0.15
