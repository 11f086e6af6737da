"""Random SIGKILLs of `navtms track --record` (and `navtms navigate --record`), each replayed.

For every kill: the recording replays every frame its pose log holds but at most one (the frame
being written), at least every frame the process reported, bit-exact (images against the
source video, poses against the separately written --out pose log), and a recording killed
before its first frame replays as empty (no error)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from navtms.benches._tracking_real import read_video
from tracking import poselog
from tracking.recorder import RecordingSource, ffv1_available

REPO = Path(__file__).resolve().parents[2]
REAL_DIR = REPO.parent / "shared" / "data" / "real" / "webcam-aruco-sksurgery"
REAL_VIDEO = REAL_DIR / "multipattern.avi"


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    """60 frames of the real webcam footage (multipattern.avi cycled, every frame made unique
    by one pixel), stored losslessly so the tracker and the truth see the same pixels."""
    if not REAL_VIDEO.exists():
        pytest.skip("../shared real data not beside the checkout")
    if not ffv1_available():
        pytest.skip("no FFV1 writer (PyAV) here")
    from tracking.ffv1 import FFV1Writer

    frames = read_video(REAL_VIDEO)
    path = tmp_path_factory.mktemp("src") / "looped.avi"
    w = FFV1Writer(path, (frames[0].shape[1], frames[0].shape[0]), 3, 30.0)
    truth = []
    for i in range(60):
        im = frames[i % len(frames)].copy()
        im[0, 0] = (i, 255 - i, 7)
        w.write(im)
        truth.append(im)
    w.close()
    return path, truth


@pytest.fixture(scope="module")
def track_options(tmp_path_factory):
    """The footage's own camera (upstream calibration.txt) and its three marker bodies, so every
    run tracks real poses (without them `navtms track` refuses to start: no focal length)."""
    from tracking.camera import CameraModel

    vals = np.array((REAL_DIR / "calibration.txt").read_text().split(), float)
    cam = tmp_path_factory.mktemp("cam") / "camera.json"
    CameraModel((640, 480), vals[:9].reshape(3, 3), vals[9:14]).save(cam)
    return ["--camera", str(cam), "--body", f"reference={REAL_DIR / 'reference.txt'}@DICT_ARUCO_ORIGINAL",
            "--body", f"pointer={REAL_DIR / 'pointer.txt'}@DICT_ARUCO_ORIGINAL",
            "--body", f"tag0={REAL_DIR / 'tag_0.txt'}"]


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def _kill_after(cmd, cwd, lines_before_kill: int, extra_delay_s: float, marker: str):
    """Run cmd, SIGKILL it after `lines_before_kill` stdout lines starting with marker (0: as
    soon as it starts writing) plus extra_delay_s; returns the lines seen."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
    seen = []
    try:
        if lines_before_kill > 0:
            for line in proc.stdout:
                if line.startswith(marker):
                    seen.append(line)
                    if len(seen) >= lines_before_kill:
                        break
        else:
            end = time.monotonic() + 60
            while (time.monotonic() < end and proc.poll() is None
                   and not any((Path(cwd) / "rec").glob("frames.csv"))):
                time.sleep(0.002)
        time.sleep(extra_delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return seen


def _replay(folder):
    src = RecordingSource(folder)
    frames = list(src)
    return src, frames


def _pose_frames(path):
    return list(poselog.read_frames(path)) if path.exists() else []


def _same_poses(a, b):
    assert set(a) == set(b)
    for name in a:
        assert poselog.format_row(a[name]) == poselog.format_row(b[name])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_random_kills_of_track_record(tmp_path, source_video, track_options):
    video, truth = source_video
    rng = random.Random(int(os.environ.get("NAVTMS_KILL_SEED", "13")))
    plan = [(0, rng.uniform(0.0, 0.05))] + [(rng.randint(1, 25), rng.uniform(0.0, 0.04)) for _ in range(3)]
    posed = 0
    for k, (lines, delay) in enumerate(plan):
        work = tmp_path / f"run{k}"
        work.mkdir()
        seen = _kill_after([sys.executable, "-m", "navtms", "track", f"video:{video}", "--out", "o.csv",
                            "--record", "rec", *track_options], work, lines, delay, "frame ")
        rec_dir = work / "rec"
        assert len(seen) == lines, f"kill {k}: the tracker reported {len(seen)} of {lines} frames (did it start?)"
        if not (rec_dir / "recording.json").exists():
            assert lines == 0, f"kill {k}: {lines} frames reported but no recording"
            continue    # killed before the recorder started: nothing to replay
        src, frames = _replay(rec_dir)
        log = _pose_frames(rec_dir / "poses.csv")
        out_log = _pose_frames(work / "o.csv")
        msg = f"kill {k} after {lines} frames + {delay * 1e3:.0f} ms"
        print(f"{msg}: replayed {len(frames)}, recording pose log {len(log)}, --out log {len(out_log)}, "
              f"reported {len(seen)}")
        assert len(log) - len(frames) <= 1, msg
        assert len(out_log) - len(frames) <= 1, msg      # the --out log is written before the recording
        assert len(frames) >= len(seen), msg            # every frame reported is replayed
        for f in frames:
            assert np.array_equal(f.image, truth[f.frame_number]), msg
        by_number = {f.frame_number: f.poses for f in out_log}
        for f in frames:
            _same_poses(f.poses, by_number[f.frame_number])
            posed += any(p.visible for p in f.poses.values())
        # The CLI replays it too (an empty one as empty, exit 0).
        r = subprocess.run([sys.executable, "-m", "navtms", "track", f"replay:{rec_dir}", "--quiet"], cwd=work,
                           capture_output=True, text=True, env=_env(), timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"{len(frames)} frames" in r.stdout
        assert all(line.startswith("navtms track: ") for line in r.stderr.splitlines()), r.stderr
    assert posed >= 10     # the replays hold real poses of the footage's bodies, not just images


def _navigate_session(tmp_path, T_mri_from_head, target):
    from navcore.points import NamedPoints
    from navcore.transforms import invert
    from navtms.session import create_session
    from navtms.workflow import register_session

    fid = NamedPoints.from_dict({"a": [0, 95, 10], "b": [-75, 10, -20], "c": [75, 10, -20]}, "mri")
    s = create_session(tmp_path / "session", [target])
    register_session(s, fid, fid.transformed(invert(T_mri_from_head), "head"))
    return tmp_path / "session"


def _new_logged_frames(log: Path, offset: int) -> list[int]:
    """Frame numbers of the whole rows appended to a session's frames.csv after byte `offset`."""
    if not log.exists():
        return []
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8")
    lines = text.split("\n")[:-1]          # a last line without its newline is not whole
    return [int(x.split(",", 1)[0]) for x in lines if x and x[0].isdigit()]


def _kill_navigate(cmd, cwd, rec_dir, rows_before_kill, delay_s):
    """Run `navtms navigate ... --record rec_dir`; SIGKILL it once the recording's frame index
    holds rows_before_kill rows (0: as soon as the recording exists), plus delay_s."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        end = time.monotonic() + 90
        index = rec_dir / "frames.csv"
        while time.monotonic() < end and proc.poll() is None:
            if index.exists() and (rows_before_kill == 0 or index.read_text().count("\n") - 2 >= rows_before_kill):
                break
            time.sleep(0.003)
        assert proc.poll() is None, f"navigate ended before the kill: {proc.stderr.read()}"
        time.sleep(delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_random_kills_of_navigate_record_from_a_recording_with_images(tmp_path):
    """navigate --source replay:SRC (images + poses, paced) --record DIR, killed at random:
    DIR replays every frame of its pose log but at most one, each bit-exact to SRC, and every
    frame the loop logged in the session's frames.csv (the loop logs a frame after recording
    it; the recorder encodes images in the background, so this holds only because write()
    spools the image and writes the rows before it returns)."""
    from navtms.cli import main  # noqa: F401  (imports the commands once here: faster children)
    from tracking.recorder import Recorder
    from navloop_helpers import Scene, approach

    scene = Scene.make(4)
    frames, _ = approach(scene, 120, fps=30.0)
    rng_img = np.random.default_rng(0)
    src_dir = tmp_path / "src"
    with Recorder(src_dir, bodies=["coil", "head"], video="auto") as rec:
        for f in frames:
            rec.write(type(f)(f.frame_number, f.capture_ns, rng_img.integers(0, 256, (120, 160, 3), dtype=np.uint8),
                              f.poses))
    source = {f.frame_number: f for f in RecordingSource(src_dir)}
    session = _navigate_session(tmp_path, scene.T_mri_from_head, scene.target)
    from navtms.session import load_session

    s = load_session(session)
    s.with_(T_coilbody_from_coil=scene.T_coilbody_from_coil).save()
    rng = random.Random(int(os.environ.get("NAVTMS_KILL_SEED", "13")) + 1)
    for k, (rows, delay) in enumerate([(0, 0.0)] + [(rng.randint(2, 40), rng.uniform(0.0, 0.03)) for _ in range(2)]):
        rec_dir = tmp_path / f"rec{k}"
        session_log = session / "frames.csv"
        offset = session_log.stat().st_size if session_log.exists() else 0
        _kill_navigate([sys.executable, "-m", "navtms", "navigate", "--session", str(session), "--source",
                        f"replay:{src_dir}", "--headless", "--no-keys", "--record", str(rec_dir)],
                       tmp_path, rec_dir, rows, delay)
        got = list(RecordingSource(rec_dir))
        log = _pose_frames(rec_dir / "poses.csv")
        logged = _new_logged_frames(session_log, offset)
        print(f"navigate kill {k} after {rows} rows + {delay * 1e3:.0f} ms: replayed {len(got)}, pose log {len(log)}, "
              f"loop logged {len(logged)}")
        assert len(log) - len(got) <= 1
        assert set(logged) <= {f.frame_number for f in got}, "a frame the loop logged after recording it is lost"
        if rows:
            assert len(got) >= 1
        for f in got:
            assert np.array_equal(f.image, source[f.frame_number].image)
            assert f.capture_ns == source[f.frame_number].capture_ns
            # Poses: a pose log stores quaternions, so a pose read from SRC and logged again
            # agrees to the last bit or two of the matrix (the images are bit-exact).
            for name, p in f.poses.items():
                q = source[f.frame_number].poses[name]
                assert p.visible == q.visible
                if p.visible:
                    assert np.allclose(p.T_camera_from_body, q.T_camera_from_body, rtol=0, atol=1e-12)
        assert [f.frame_number for f in got] == sorted({f.frame_number for f in got})


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_of_navigate_record_behind_a_plus_server(tmp_path):
    """navigate --source igtl: (a pyigtl server streaming PLUS-style 60 Hz frames, head
    moving) --record DIR, killed: the pose-only recording replays its pose log but at most one
    frame, and every replayed frame is one whole tracker frame (the same-frame chain is exact)."""
    from navcore.transforms import invert
    from igtl_helpers import plus_motion, pyigtl_server, stream_plus_frames

    T_mri_from_head, T_mri_from_coil, frames = plus_motion(1200, 60.0, seed=9)

    from types import SimpleNamespace

    target = SimpleNamespace(name="t", T_mri_from_coil=T_mri_from_coil, target_mri_mm=T_mri_from_coil[:3, 3])
    session = _navigate_session(tmp_path, T_mri_from_head, target)
    server = pyigtl_server()
    stop = __import__("threading").Event()
    try:
        th = stream_plus_frames(server, frames, 60.0, stop=stop)
        rec_dir = tmp_path / "rec"
        _kill_navigate([sys.executable, "-m", "navtms", "navigate", "--session", str(session), "--source",
                        f"igtl:127.0.0.1:{server.server_address[1]}", "--headless", "--no-keys",
                        "--record", str(rec_dir)], tmp_path, rec_dir, 45, 0.011)
    finally:
        stop.set()
        server.stop()
    got = list(RecordingSource(rec_dir))
    log = _pose_frames(rec_dir / "poses.csv")
    assert len(log) - len(got) <= 1 and len(got) >= 40
    whole = 0
    for f in got:
        c, h = f.poses["coil"], f.poses["head"]
        if c.visible and h.visible:
            T = T_mri_from_head @ invert(h.T_camera_from_body) @ c.T_camera_from_body
            assert np.max(np.abs(T[:3, 3] - T_mri_from_coil[:3, 3])) < 1e-3
            whole += 1
    assert whole >= 40
