"""tracking.printsheet and `navtms make-body`: true-size sheets whose tags a detector reads back."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from navcore.errors import TrackingError
from navtms.cli import main
from tracking.bodies import MarkerBody, load_body, planar_body
from tracking.printsheet import sheet_image


def _detect(img, dictionary):
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary)))
    corners, ids, _ = det.detectMarkers(img)
    return {int(i): c.reshape(4, 2) for c, i in zip(corners, ids.ravel())} if ids is not None else {}


@pytest.mark.parametrize("dpi", [150, 300])
def test_sheet_tags_read_back_at_true_size(data_dir, dpi):
    body = load_body(data_dir / "bodies" / "coil.json")
    img, ppmm = sheet_image(body, dpi)
    assert ppmm == pytest.approx(dpi / 25.4)
    found = _detect(img, body.dictionary)
    assert sorted(found) == body.ids
    for tid, c in found.items():
        side_px = np.linalg.norm(np.roll(c, -1, axis=0) - c, axis=1).mean()
        assert side_px / ppmm == pytest.approx(body.tag_size_mm(tid), abs=2.0 / ppmm)
    # relative layout: tag centres on the sheet match the body's (x right, y down) up to a shift
    cen = np.array([found[t].mean(axis=0) for t in body.ids]) / ppmm
    ref = body.centres()[:, :2]
    np.testing.assert_allclose(cen - cen.mean(0), ref - ref.mean(0), atol=1.5 / ppmm)


def test_make_body_cli(tmp_path, capsys):
    sheet, js = tmp_path / "ptr.png", tmp_path / "ptr.json"
    assert main(["make-body", "--name", "ptr", "--ids", "20,21,22", "--tag-size", "25", "--gap", "5",
                 "--sheet", str(sheet), "--save-body", str(js), "--dpi", "200"]) == 0
    body = load_body(js)
    assert body.ids == [20, 21, 22] and body.tag_size_mm(21) == pytest.approx(25)
    img = cv2.imread(str(sheet), cv2.IMREAD_GRAYSCALE)
    assert sorted(_detect(img, "DICT_4X4_50")) == [20, 21, 22]
    pdf = tmp_path / "ptr.pdf"
    assert main(["make-body", str(js), "--sheet", str(pdf)]) == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    # existing outputs are never overwritten
    before = sheet.read_bytes()
    assert main(["make-body", str(js), "--sheet", str(sheet)]) == 2
    assert sheet.read_bytes() == before
    assert "already exists" in capsys.readouterr().err
    assert main(["make-body", str(js), "--sheet", str(tmp_path / "x.gif")]) == 2


def test_non_flat_body_and_small_paper_refused():
    tilted = MarkerBody("t", "DICT_4X4_50", {0: np.array([[0, 0, 0], [10, 0, 0], [10, 10, 5], [0, 10, 5.0]])})
    with pytest.raises(TrackingError, match="not flat"):
        sheet_image(tilted)
    big = planar_body("big", "DICT_4X4_50", list(range(8)), 60, "1x8")
    with pytest.raises(TrackingError, match="does not fit on a4"):
        sheet_image(big, 100, "a4")
