"""`navtms calibrate-pointer`: a pose log or a folder of 4x4 matrices, the same robust fit as a
session, and its refusals (exit 2, one sentence naming the file, no output written)."""
from __future__ import annotations

import json

import numpy as np

from navtms.cli import main
from pointer_helpers import pointer_poses
from registration.pivot import pivot_calibration_robust
from tracking.poselog import write_log
from tracking.types import BodyPose


def _log(path, P, hidden=()):
    frames = []
    for i, T in enumerate(P):
        ptr = BodyPose.not_visible("pointer", i, i * 33_000_000, 6) if i in hidden else \
            BodyPose("pointer", i, i * 33_000_000, True, T, 6, 6, 0.4)
        ref = BodyPose("reference", i, i * 33_000_000, True, np.eye(4), 12, 12, 0.3)
        frames.append([ptr, ref])
    return write_log(path, frames)


def test_pose_log_gives_the_session_fit(tmp_path, capsys):
    P, wild, tip, _ = pointer_poses(np.random.default_rng(5), n=400, n_wild=10)
    log = _log(tmp_path / "poses.csv", P, hidden={3, 4})
    out = tmp_path / "pointer.json"
    assert main(["calibrate-pointer", str(log), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["format_version"] == 1 and doc["n_poses"] == 398  # the hidden frames have no pose
    keep = np.array([i for i in range(len(P)) if i not in (3, 4)])
    ref = pivot_calibration_robust(P[keep])
    np.testing.assert_allclose(doc["tip_tool_mm"], ref.tip_tool, atol=1e-9)
    assert np.linalg.norm(np.array(doc["tip_tool_mm"]) - tip) < 0.6
    assert doc["inlier_fraction"] < 1.0 and doc["rms_all_mm"] > doc["rms_inliers_mm"]
    assert "over all poses" in text and "inliers" in text and "tip uncertainty" in text
    # never overwrites without --force
    before = out.read_bytes()
    assert main(["calibrate-pointer", str(log), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before


def test_folder_of_matrices(tmp_path, capsys):
    P, _, tip, _ = pointer_poses(np.random.default_rng(6), n=300, n_wild=3)
    folder = tmp_path / "matrices"
    folder.mkdir()
    for i, T in enumerate(P):
        sep = "," if i % 2 else " "
        (folder / f"pose_{i:04d}.txt").write_text("\n".join(sep.join(repr(float(v)) for v in row) for row in T) + "\n")
    out = tmp_path / "tip.json"
    assert main(["calibrate-pointer", str(folder), "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_poses"] == 300 and np.linalg.norm(np.array(printed["tip_tool_mm"]) - tip) < 1.0


def test_refusals_name_the_file(tmp_path, capsys):
    out = tmp_path / "o.json"
    assert main(["calibrate-pointer", str(tmp_path / "nope.csv"), "--out", str(out)]) == 2
    assert "nope.csv" in capsys.readouterr().err
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.txt").write_text("1 0 0\n0 1 0\n")
    assert main(["calibrate-pointer", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "a.txt" in err and "4x4" in err
    (folder / "a.txt").write_text("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    assert main(["calibrate-pointer", str(folder), "--out", str(out)]) == 2
    assert "not a rigid transform" in capsys.readouterr().err
    P, _, _, _ = pointer_poses(np.random.default_rng(1), n=50, n_wild=0)
    log = _log(tmp_path / "p.csv", P)
    assert main(["calibrate-pointer", str(log), "--out", str(out), "--body", "coil"]) == 2
    assert "coil" in capsys.readouterr().err
    # no rotation: refused with the reason
    still = np.repeat(P[:1], 30, axis=0)
    log2 = _log(tmp_path / "still.csv", still)
    assert main(["calibrate-pointer", str(log2), "--out", str(out)]) == 2
    assert "not rotated enough" in capsys.readouterr().err
    assert not out.exists()
