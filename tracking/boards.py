"""Printable calibration boards: chessboard and ChArUco, as PNG at a DPI or PDF at true size.

Sheet layout (mm): the board with a white margin around it (at least one square, needed by the
detectors) and a label band underneath stating the board, its square size, and "print at
100 %", plus a 50 mm scale bar to check the print with a ruler. A chessboard of cols x rows
INNER corners has (cols + 1) x (rows + 1) squares, the top-left one black.

PNG: pixel size = round(sheet_mm / 25.4 * dpi), with the DPI stored in the file (pHYs).
PDF: page size is the sheet size exactly (matplotlib figure in inches); the chessboard is drawn
as vector squares, the ChArUco board as an unresampled raster placed at its exact mm extent.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from navcore.errors import InputFileError, TrackingError
from navcore.fileio import atomic_write_bytes, check_output_path
from tracking.calibration import BoardSpec, CharucoSpec, ChessboardSpec

MM_PER_INCH = 25.4
LABEL_BAND_MM = 16.0
SCALE_BAR_MM = 50.0
PDF_RASTER_DPI = 600


@dataclass(frozen=True)
class SheetLayout:
    """Positions in mm from the sheet's top-left corner (x right, y down)."""

    sheet_w_mm: float
    sheet_h_mm: float
    board_x_mm: float
    board_y_mm: float
    board_w_mm: float
    board_h_mm: float

    def size_px(self, dpi: float) -> tuple[int, int]:
        """(width, height) in pixels at `dpi`."""
        return px(self.sheet_w_mm, dpi), px(self.sheet_h_mm, dpi)


def px(mm: float, dpi: float) -> int:
    return int(round(mm / MM_PER_INCH * dpi))


def board_size_mm(spec: BoardSpec) -> tuple[float, float]:
    """(width, height) of the printed board in mm."""
    if isinstance(spec, ChessboardSpec):
        return (spec.cols + 1) * spec.square_mm, (spec.rows + 1) * spec.square_mm
    return spec.cols * spec.square_mm, spec.rows * spec.square_mm


def layout(spec: BoardSpec, margin_mm: float = 10.0) -> SheetLayout:
    """The sheet around a board; the margin is at least one square."""
    w, h = board_size_mm(spec)
    m = max(float(margin_mm), spec.square_mm)
    return SheetLayout(w + 2 * m, h + 2 * m + LABEL_BAND_MM, m, m, w, h)


def label_lines(spec: BoardSpec) -> list[str]:
    """The two lines printed under the board."""
    return [spec.describe(), "Print at 100 % (actual size); check the bar with a ruler."]


def label_text(spec: BoardSpec) -> str:
    return ". ".join(label_lines(spec))


def board_raster(spec: BoardSpec, width_px: int, height_px: int) -> np.ndarray:
    """The board alone, (height_px, width_px) uint8, black 0 / white 255, no margin."""
    if isinstance(spec, CharucoSpec):
        return spec.board().generateImage((int(width_px), int(height_px)), marginSize=0, borderBits=1)
    n_x, n_y = spec.cols + 1, spec.rows + 1
    # Square edges rounded to whole pixels once, so every square is within 1 px of its true size.
    xs = np.round(np.linspace(0, width_px, n_x + 1)).astype(int)
    ys = np.round(np.linspace(0, height_px, n_y + 1)).astype(int)
    col = np.searchsorted(xs, np.arange(width_px), side="right") - 1
    row = np.searchsorted(ys, np.arange(height_px), side="right") - 1
    black = (row[:, None] + col[None, :]) % 2 == 0
    return np.where(black, 0, 255).astype(np.uint8)


def render_png_array(spec: BoardSpec, dpi: float = 300.0, margin_mm: float = 10.0) -> np.ndarray:
    """The whole sheet as a gray uint8 image at `dpi` (label and scale bar included)."""
    if not dpi or dpi < 50:
        raise TrackingError(f"a DPI of {dpi} is too low to print a board; use 50 or more")
    lay = layout(spec, margin_mm)
    W, H = lay.size_px(dpi)
    sheet = np.full((H, W), 255, np.uint8)
    x0, y0 = px(lay.board_x_mm, dpi), px(lay.board_y_mm, dpi)
    x1, y1 = px(lay.board_x_mm + lay.board_w_mm, dpi), px(lay.board_y_mm + lay.board_h_mm, dpi)
    sheet[y0:y1, x0:x1] = board_raster(spec, x1 - x0, y1 - y0)
    # Label band: two text lines (shrunk to fit the sheet) and a scale bar with end ticks.
    text_h = px(2.5, dpi)
    scale = text_h / 22.0
    thick_text = max(1, int(round(scale * 1.5)))
    lines = label_lines(spec)
    widest = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick_text)[0][0] for t in lines)
    scale *= min(1.0, (W - x0 - px(2.0, dpi)) / max(widest, 1))
    base_y = px(lay.board_y_mm * 2 + lay.board_h_mm + 4.0, dpi)
    for k, t in enumerate(lines):
        cv2.putText(sheet, t, (x0, base_y + k * px(4.0, dpi)), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thick_text, cv2.LINE_AA)
    base_y += px(4.0, dpi)
    bar_mm = min(SCALE_BAR_MM, lay.board_w_mm)
    bar_y = min(base_y + px(5.0, dpi), H - px(1.0, dpi))
    bx1 = x0 + px(bar_mm, dpi)
    thick = max(1, px(0.3, dpi))
    cv2.line(sheet, (x0, bar_y), (bx1, bar_y), 0, thick)
    for x in (x0, bx1):
        cv2.line(sheet, (x, bar_y - px(1.5, dpi)), (x, bar_y), 0, thick)
    cv2.putText(sheet, f"{bar_mm:g} mm", (bx1 + px(2.0, dpi), bar_y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, 0,
                max(1, int(round(scale))), cv2.LINE_AA)
    return sheet


def png_bytes(spec: BoardSpec, dpi: float = 300.0, margin_mm: float = 10.0) -> bytes:
    """The sheet as PNG bytes with its DPI recorded in the file."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(render_png_array(spec, dpi, margin_mm)).save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


def pdf_bytes(spec: BoardSpec, margin_mm: float = 10.0) -> bytes:
    """The sheet as a one-page PDF whose page is exactly the sheet size."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    lay = layout(spec, margin_mm)
    fig = Figure(figsize=(lay.sheet_w_mm / MM_PER_INCH, lay.sheet_h_mm / MM_PER_INCH))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, lay.sheet_w_mm)
    ax.set_ylim(lay.sheet_h_mm, 0)  # mm, y down like the PNG
    ax.set_axis_off()
    bx, by = lay.board_x_mm, lay.board_y_mm
    if isinstance(spec, ChessboardSpec):
        s = spec.square_mm
        for r in range(spec.rows + 1):
            for c in range(spec.cols + 1):
                if (r + c) % 2 == 0:
                    ax.add_patch(Rectangle((bx + c * s, by + r * s), s, s, facecolor="black", edgecolor="none",
                                           linewidth=0, antialiased=False))
    else:
        raster = board_raster(spec, px(lay.board_w_mm, PDF_RASTER_DPI), px(lay.board_h_mm, PDF_RASTER_DPI))
        ax.imshow(raster, cmap="gray", vmin=0, vmax=255, interpolation="none",
                  extent=(bx, bx + lay.board_w_mm, by + lay.board_h_mm, by))
        ax.set_xlim(0, lay.sheet_w_mm)
        ax.set_ylim(lay.sheet_h_mm, 0)
    text_y = 2 * by + lay.board_h_mm + 4.0
    lines = label_lines(spec)
    # DejaVu Sans averages about 0.55 em per character; 1 pt = 25.4 / 72 mm.
    fit_pt = (lay.sheet_w_mm - bx - 2.0) / (0.55 * max(len(t) for t in lines)) * 72.0 / MM_PER_INCH
    for k, t in enumerate(lines):
        ax.text(bx, text_y + 4.0 * k, t, fontsize=min(8.0, fit_pt), va="baseline", ha="left")
    text_y += 4.0
    bar_mm = min(SCALE_BAR_MM, lay.board_w_mm)
    bar_y = text_y + 5.0
    ax.plot([bx, bx, bx + bar_mm, bx + bar_mm], [bar_y - 1.5, bar_y, bar_y, bar_y - 1.5], color="black", linewidth=0.8)
    ax.text(bx + bar_mm + 2.0, bar_y, f"{bar_mm:g} mm", fontsize=7, va="baseline")
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"Title": label_text(spec), "Creator": "navtms make-board"})
    return buf.getvalue()


def write_board(spec: BoardSpec, out: str | Path, dpi: float = 300.0, margin_mm: float = 10.0,
                force: bool = False) -> tuple[Path, SheetLayout]:
    """Write the board sheet to `out` (.png at `dpi`, or .pdf at true size), atomically.
    Refuses to replace an existing file unless force. Returns the path and the sheet layout."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise InputFileError(out, "the board file must end in .png or .pdf")
    check_output_path(out, force, "board file")
    data = png_bytes(spec, dpi, margin_mm) if suffix == ".png" else pdf_bytes(spec, margin_mm)
    atomic_write_bytes(out, data)
    return out, layout(spec, margin_mm)
