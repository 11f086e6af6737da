"""Printable boards: PNG pixel counts for the DPI, PDF page at true size, detectors find them."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from navcore.errors import InputFileError
from navtms.cli import main
from tracking import boards
from tracking import calibration as cal

CHESS = cal.ChessboardSpec(14, 10, 6.0)
CHARUCO = cal.CharucoSpec(7, 5, 25.0, 18.0, "DICT_5X5_100")


def corner_spacing_px(points: np.ndarray, cols: int) -> float:
    """Mean distance between horizontally adjacent detected corners (row-major grid)."""
    p = points.reshape(-1, cols, 2)
    return float(np.mean(np.linalg.norm(np.diff(p, axis=1), axis=2)))


@pytest.mark.parametrize("dpi", [72, 150])
def test_chessboard_png_pixels_and_detection(tmp_path, dpi):
    out, lay = boards.write_board(CHESS, tmp_path / "board.png", dpi=dpi)
    im = Image.open(out)
    assert im.size == (round(110.0 / 25.4 * dpi), round((66.0 + 20.0 + boards.LABEL_BAND_MM) / 25.4 * dpi))
    assert im.size == lay.size_px(dpi)
    assert np.allclose(im.info["dpi"], (dpi, dpi), atol=0.05)  # PNG stores whole pixels per metre
    image = np.asarray(im.convert("L"))
    det = cal.detect_board(image, CHESS)
    assert det is not None
    # Squares measure 6 mm at this DPI (within half a pixel on average).
    assert abs(corner_spacing_px(det[1], 14) - 6.0 / 25.4 * dpi) < 0.5


def test_charuco_png_all_corners_found(tmp_path):
    out, lay = boards.write_board(CHARUCO, tmp_path / "board.png", dpi=100)
    image = np.asarray(Image.open(out).convert("L"))
    assert image.shape == (lay.size_px(100)[1], lay.size_px(100)[0])
    det = cal.detect_board(image, CHARUCO)
    assert det is not None and len(det[0]) == (7 - 1) * (5 - 1)


@pytest.mark.parametrize("spec", [CHESS, CHARUCO], ids=["chessboard", "charuco"])
def test_pdf_has_true_physical_size(tmp_path, spec):
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 renders the PDF for this check")
    out, lay = boards.write_board(spec, tmp_path / "board.pdf")
    page = pdfium.PdfDocument(str(out))[0]
    w_pt, h_pt = page.get_size()
    assert abs(w_pt - lay.sheet_w_mm / 25.4 * 72) < 0.01 and abs(h_pt - lay.sheet_h_mm / 25.4 * 72) < 0.01
    dpi = 200
    image = page.render(scale=dpi / 72, grayscale=True).to_numpy()
    image = image if image.ndim == 2 else image[:, :, 0]
    det = cal.detect_board(np.ascontiguousarray(image), spec)
    assert det is not None
    cols = spec.cols if isinstance(spec, cal.ChessboardSpec) else spec.cols - 1
    if isinstance(spec, cal.CharucoSpec):
        assert len(det[0]) == (spec.cols - 1) * (spec.rows - 1)
    # The printed square is square_mm: rendered at 200 dpi it spans square_mm / 25.4 * 200 px.
    assert abs(corner_spacing_px(det[1], cols) - spec.square_mm / 25.4 * dpi) < 0.5
    assert b"make-board" in out.read_bytes()


def test_write_board_refusals(tmp_path):
    keep = tmp_path / "board.pdf"
    keep.write_bytes(b"mine")
    with pytest.raises(InputFileError, match="already exists"):
        boards.write_board(CHESS, keep)
    assert keep.read_bytes() == b"mine"
    with pytest.raises(InputFileError, match="must end in .png or .pdf"):
        boards.write_board(CHESS, tmp_path / "board.svg")
    with pytest.raises(InputFileError, match="folder for the board file does not exist"):
        boards.write_board(CHESS, tmp_path / "no" / "board.png")


def test_make_board_cli(tmp_path, capsys):
    out = tmp_path / "b.png"
    code = main(["make-board", "--charuco", "5x4", "--square-mm", "20", "--marker-mm", "14",
                 "--dictionary", "DICT_4X4_50", "--dpi", "120", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and out.exists()
    lay = boards.layout(cal.CharucoSpec(5, 4, 20, 14, "DICT_4X4_50"))
    w, h = lay.size_px(120)
    assert f"{w} x {h} px at 120 dpi" in text and Image.open(out).size == (w, h)
    before = out.read_bytes()
    code = main(["make-board", "--chessboard", "9x6", "--square-mm", "20", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "already exists" in err and out.read_bytes() == before
    code = main(["make-board", "--charuco", "5x4", "--square-mm", "20", "--marker-mm", "25", "--out", str(tmp_path / "c.pdf")])
    assert code == 2 and "smaller than the square size" in capsys.readouterr().err
    assert not (tmp_path / "c.pdf").exists()
