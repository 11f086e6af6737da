"""`navtms calibrate-camera` on the real photos, and its refusals (exit 2, one sentence, no file)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from navtms.cli import main
from tracking.camera import CameraModel


@pytest.mark.slow
def test_calibrates_real_photos(shared_real, tmp_path, capsys):
    folder = shared_real / "webcam-chessboard-bard"
    out = tmp_path / "camera.json"
    code = main(["calibrate-camera", str(folder / "image_*.png"), "--chessboard", "14x10",
                 "--square-mm", "6", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    model = CameraModel.load(out)
    assert model.rms_px < 0.5 and model.image_size == (640, 480)
    assert f"RMS reprojection error {model.rms_px:.3f} px" in text
    assert sum("image_" in line and " px," in line for line in text.splitlines()) == 12
    doc = json.loads(out.read_text())
    assert doc["format_version"] == 1 and len(doc["calibration"]["view_errors_px"]) == 12
    # An existing camera file is not replaced without --force.
    before = out.read_bytes()
    code = main(["calibrate-camera", str(folder), "--chessboard", "14x10", "--square-mm", "6", "--out", str(out)])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    code = main(["calibrate-camera", str(folder / "image_0[0-5].png"), "--chessboard", "14x10", "--square-mm", "6",
                 "--out", str(out), "--force", "--json", "--fix-k3"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0 and figures["dist"][4] == 0.0 and figures["rms_px"] < 0.5
    assert figures["views_used"] == [f"image_0{i}.png" for i in range(6)]
    # Six views with k3 held at 0 give the focal length within 2 % of the 12-view free fit.
    assert abs(figures["fx"] / model.K[0, 0] - 1) < 0.02


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("navtms calibrate-camera: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case", ["missing", "no_match", "unreadable", "never_found", "empty_folder", "no_marker_mm"])
def test_bad_input_exits_2_with_one_sentence_and_no_file(tmp_path, capsys, case):
    out = tmp_path / "camera.json"
    board = ["--chessboard", "14x10", "--square-mm", "6"]
    if case == "missing":
        args, expect = [str(tmp_path / "nope.png")], "does not exist"
    elif case == "no_match":
        args, expect = [str(tmp_path / "*.png")], "no image matches"
    elif case == "unreadable":
        (tmp_path / "bad.png").write_bytes(b"not an image")
        args, expect = [str(tmp_path / "bad.png")], "bad.png: the calibration image cannot be read"
    elif case == "never_found":
        for i in range(5):
            cv2.imwrite(str(tmp_path / f"n{i}.png"), np.random.default_rng(i).integers(0, 255, (60, 80), dtype=np.uint8))
        args, expect = [str(tmp_path)], "the board was found in only 0 of 5 images"
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        args, expect = [str(tmp_path / "empty")], "holds no images"
    else:
        cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10), np.uint8))
        args, expect = [str(tmp_path / "a.png")], "needs --marker-mm"
        board = ["--charuco", "7x5", "--square-mm", "12"]
    code = main(["calibrate-camera", *args, *board, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert expect in _one_error_line(err)
    assert not out.exists()


def test_calibrates_rendered_charuco_views(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "tracking"))   # tests/tracking
    from test_calibration import K_TRUE, render_charuco_views
    from tracking.calibration import CharucoSpec

    spec = CharucoSpec(7, 5, 12.0, 9.0, "DICT_4X4_50")
    images, _ = render_charuco_views(spec, K_TRUE, 6, seed=4)
    for i, img in enumerate(images):
        cv2.imwrite(str(tmp_path / f"view_{i}.png"), img)
    out = tmp_path / "cam.json"
    code = main(["calibrate-camera", str(tmp_path), "--charuco", "7x5", "--square-mm", "12", "--marker-mm", "9",
                 "--dictionary", "DICT_4X4_50", "--out", str(out), "--json"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    assert abs(figures["fx"] / K_TRUE[0, 0] - 1) < 0.03 and abs(figures["fy"] / K_TRUE[1, 1] - 1) < 0.03
    assert len(figures["views_used"]) == 6 and CameraModel.load(out).rms_px == figures["rms_px"]


def test_four_real_charuco_views_warn(shared_real, tmp_path, capsys):
    # 4 views are few: the focal length is 457 +- 16 px and flips to 326 px with k3 held at 0
    out = tmp_path / "camera.json"
    code = main(["calibrate-camera", str(shared_real / "charuco-opencv" / "img_0*.jpg"), "--charuco", "5x7",
                 "--square-mm", "40", "--marker-mm", "20", "--dictionary", "DICT_6X6_250", "--min-views", "4",
                 "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "WARNING: the focal length is poorly determined" in text and "WARNING: the distortion model is overfit" in text
    assert "fx 457." in text and "+- 15." in text
    doc = json.loads(out.read_text())
    assert len(doc["calibration"]["warnings"]) == 2 and 10 < doc["calibration"]["sigma"]["fx"] < 25
