"""Every `navtms` command that reads files, given a bad file: one sentence on stderr, exit code
2, and no output written or overwritten. A few run as real processes (`python -m navtms`), the
rest in-process through navtms.cli.main."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from navtms.cli import main

GARBAGE = bytes(range(256)) * 4          # not UTF-8, not JSON, not an image, not a video
SENTINEL = b"the user's earlier file\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad files of every kind, a good pose log and a good registered session."""
    from navigation.navigator import NavTarget
    from navtms.session import RegistrationRecord, create_session
    from tracking import poselog
    from tracking.types import BodyPose

    d = tmp_path_factory.mktemp("cli_bad")
    out = {"dir": d}
    for name in ("garbage.json", "garbage.csv", "garbage.png", "garbage.avi", "garbage.nii.gz", "garbage.txt"):
        (d / name).write_bytes(GARBAGE)
    (d / "truncated.json").write_text('{"format_version": 1, "image_size": [640, 4')
    (d / "images").mkdir()
    (d / "images" / "a.png").write_bytes(GARBAGE)
    bad_session = d / "bad_session"
    bad_session.mkdir()
    (bad_session / "session.json").write_text('{"format_version": 1, "targets": "M1"}')
    bad_plan = d / "bad_plan"
    bad_plan.mkdir()
    (bad_plan / "plan.json").write_text('{"format_version": 1, "mri": 3}')
    T = np.eye(4)
    T[:3, 3] = [0, 0, 50.0]
    s = create_session(d / "session", [NavTarget("M1", np.array([0, 0, 70.0]), T)])
    s.with_(registration=RegistrationRecord(np.eye(4), "paired-point", 1.0, 1.0)).save()
    out["session"] = s.folder
    poses = [[BodyPose("coil", i, 10 ** 9 + i * 10 ** 7, True, T), BodyPose("head", i, 10 ** 9 + i * 10 ** 7, True, np.eye(4))]
             for i in range(5)]
    out["poses"] = poselog.write_log(d / "poses.csv", poses)
    bad_log = d / "bad_poses.csv"
    bad_log.write_text("# navtms pose log, format_version 1\nframe,time\n1,2\n")
    out["bad_poses"] = bad_log
    return out


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_sentence(err: str, command: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith(f"navtms {command}: error: ")
    assert "Traceback" not in err


def _cases(f: dict, work: Path):
    """(command, argv, outputs that must not appear, existing file that must not change)."""
    d = f["dir"]
    existing = work / "existing.json"
    existing.write_bytes(SENTINEL)
    return {
        "calibrate-camera": (["calibrate-camera", str(d / "images"), "--chessboard", "9x6", "--square-mm", "25",
                              "--out", str(existing), "--force"], [], existing),
        "make-body": (["make-body", str(d / "garbage.json"), "--sheet", str(work / "sheet.png")],
                      [work / "sheet.png"], None),
        "make-body-tagfile": (["make-body", str(d / "garbage.txt"), "--sheet", str(work / "sheet.pdf")],
                              [work / "sheet.pdf"], None),
        "register": (["register", "--image-fiducials", str(d / "garbage.csv"), "--tracker-fiducials",
                      str(d / "garbage.csv"), "--out", str(existing), "--force"], [], existing),
        "replay-bad-session": (["replay", str(f["poses"]), "--session", str(d / "bad_session"),
                                "--out", str(work / "report")], [work / "report"], None),
        "replay-bad-pulses": (["replay", str(f["poses"]), "--session", str(f["session"]),
                               "--pulses", str(d / "garbage.csv"), "--out", str(work / "report")],
                              [work / "report"], None),
        "session-new": (["session", "new", str(work / "newsession"), "--plan", str(d / "bad_plan")],
                        [work / "newsession"], None),
        "session-show": (["session", "show", str(d / "bad_session")], [], None),
        "synth": (["synth", "--out", str(work / "seq"), "--coil-body", str(d / "garbage.json"),
                   "--resolution", "64x48", "--seconds", "0.1"], [work / "seq"], None),
        "targets": (["targets", "--user-targets", str(d / "garbage.json")], [], None),
        "track-bad-camera": (["track", f"poses:{f['poses']}", "--camera", str(d / "truncated.json"),
                              "--out", str(work / "poses_out.csv")], [work / "poses_out.csv"], None),
        "navigate": (["navigate", "--session", str(d / "bad_session"), "--source", f"poses:{f['poses']}",
                      "--headless", "--no-keys"], [], None),
        "course": (["course", str(d / "bad_plan"), "--out", str(work / "course_report")], [work / "course_report"], None),
        "hotspot-grid": (["hotspot", "grid", str(d / "bad_plan"), "--session-out", str(work / "grid_session")],
                         [work / "grid_session"], None),
        "hotspot-pick": (["hotspot", "pick", str(d / "bad_plan"), "--session", str(f["session"]),
                          "--responses", str(d / "garbage.csv"), "--map", str(work / "map.png")], [work / "map.png"], None),
        "protocol": (["protocol", str(d / "bad_session"), "--frequency", "10", "--pulses", "3000"], [], None),
        "threshold": (["threshold", str(d / "bad_plan"), "--trial", "50:yyyyyynnnn"], [], None),
        "plan-dicom-folder-of-garbage": (["plan", str(d / "images"), "--mri=0,0,0", "--out", str(work / "plan")],
                                         [work / "plan"], None),
        "plan-import-garbage": (["plan", str(d / "garbage.nii.gz"), "--import", str(d / "garbage.txt"),
                                 "--out", str(work / "plan")], [work / "plan"], None),
        "plan-eeg-cap-garbage": (["plan", str(d / "garbage.nii.gz"), "--eeg-cap", str(d / "garbage.csv"),
                                  "--cap-electrode", "F3", "--out", str(work / "plan")], [work / "plan"], None),
        "export-bad-plan": (["export", "--plan", str(d / "bad_plan"), "--format", "simnibs",
                             "--out", str(existing.with_suffix(".txt"))], [existing.with_suffix(".txt")], None),
        "export-bad-pulses": (["export", "--session", str(f["session"]), "--pulses", str(d / "garbage.csv"),
                               "--format", "brainsight", "--out", str(work / "samples.txt")], [work / "samples.txt"], None),
        "session-digitise-cap": (["session", "digitise-cap", str(d / "bad_session"), "--source", f"poses:{f['poses']}",
                                  "--labels", "F3"], [], None),
        "threshold-ml-emg": (["threshold", str(d / "bad_plan"), "--method", "ml", "--emg", str(d / "garbage.csv"),
                              "--session", str(f["session"])], [], None),
        "protocol-use": (["protocol", str(f["session"]), "--use", str(d / "garbage.json"), "--threshold-mso", "50"],
                         [f["session"] / "protocol.json"], None),
        "protocols": (["protocols", "--library", str(d / "garbage.json")], [], None),
    }


IN_PROCESS = ["calibrate-camera", "make-body", "make-body-tagfile", "register", "replay-bad-session",
              "replay-bad-pulses", "session-new", "session-show", "synth", "targets", "track-bad-camera", "navigate",
              "course", "hotspot-grid", "hotspot-pick", "protocol", "threshold", "plan-dicom-folder-of-garbage",
              "plan-import-garbage", "plan-eeg-cap-garbage", "export-bad-plan", "export-bad-pulses",
              "session-digitise-cap", "threshold-ml-emg", "protocol-use", "protocols"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", IN_PROCESS)
def test_bad_input_in_process(files, tmp_path, capsys, case):
    argv, must_not_exist, unchanged = _cases(files, tmp_path)[case]
    before = _snapshot(files["dir"])
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit code {code}; stderr: {err!r}"
    _one_sentence(err, argv[0])
    for p in must_not_exist:
        assert not p.exists(), f"{p} was written despite the bad input"
    if unchanged is not None:
        assert unchanged.read_bytes() == SENTINEL, "an existing file was overwritten"
    assert _snapshot(files["dir"]) == before, "an input file or the session was changed"


def _run(argv, timeout=60):
    return subprocess.run([sys.executable, "-m", "navtms", *argv], capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("argv_of, command, outputs", [
    (lambda f, w: ["plan", str(f["dir"] / "garbage.nii.gz"), "--target", "dlpfc-fox2012", "--out", str(w / "plan")],
     "plan", ["plan"]),
    (lambda f, w: ["track", f"video:{f['dir'] / 'garbage.avi'}", "--out", str(w / "p.csv")], "track", ["p.csv"]),
    (lambda f, w: ["track", f"images:{f['dir'] / 'images'}", "--record", str(w / "rec")], "track", ["rec"]),
    (lambda f, w: ["replay", str(f["bad_poses"]), "--session", str(f["session"]), "--out", str(w / "report")],
     "replay", ["report"]),
    (lambda f, w: ["replay", str(f["dir"] / "garbage.avi"), "--session", str(f["session"]), "--out", str(w / "r2")],
     "replay", ["r2"]),
], ids=["plan-garbage-mri", "track-garbage-video", "track-garbage-images", "replay-bad-pose-log",
        "replay-garbage-video"])
def test_bad_input_as_a_real_process(files, tmp_path, argv_of, command, outputs):
    before = _snapshot(files["dir"])
    proc = _run(argv_of(files, tmp_path))
    assert proc.returncode == 2, f"exit {proc.returncode}; stderr: {proc.stderr[-800:]!r}"
    _one_sentence(proc.stderr, command)
    for name in outputs:
        assert not (tmp_path / name).exists(), f"{name} was written despite the bad input"
    assert _snapshot(files["dir"]) == before


@pytest.mark.timeout(30)
def test_existing_output_is_refused_and_kept(files, tmp_path):
    """An output that exists is never replaced without --force (track's pose log here)."""
    out = tmp_path / "poses_out.csv"
    out.write_bytes(SENTINEL)
    proc = _run(["track", f"poses:{files['poses']}", "--out", str(out)])
    assert proc.returncode == 2
    _one_sentence(proc.stderr, "track")
    assert out.read_bytes() == SENTINEL
