"""Printable sheets of flat marker bodies at true size: tags, their ids, a cut outline and a scale bar.

sheet_image(body, dpi) draws the sheet as a uint8 gray raster (page x right, y down, the body's
x, y axes in mm); `navtms make-body` writes it as PNG (with its DPI recorded) or PDF (page size =
sheet size), so printing at 100 % scale gives tags of the body file's size. Only flat bodies with every
corner at z = 0 in the body frame can be printed as one sheet.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from navcore.errors import TrackingError
from tracking.bodies import MarkerBody, dictionary_by_name

PAPER_MM = {"a4": (210.0, 297.0), "letter": (215.9, 279.4), "a3": (297.0, 420.0)}
MARGIN_MM = 18.0
MM_PER_INCH = 25.4


def _check_flat(body: MarkerBody) -> None:
    z = body.corners()[:, 2]
    if np.any(np.abs(z) > 1e-6):
        raise TrackingError(f"body {body.name!r} is not flat in its z = 0 plane; only flat bodies can be printed as one sheet")


def sheet_size_mm(body: MarkerBody, paper: Optional[str] = None) -> tuple[float, float]:
    """(width, height) of the sheet in mm: the named paper, or just big enough for the body,
    its labels and the scale bar."""
    _check_flat(body)
    c = body.corners()[:, :2]
    w = float(np.ptp(c[:, 0])) + 2 * MARGIN_MM
    h = float(np.ptp(c[:, 1])) + 2 * MARGIN_MM + 36.0
    w = max(w, 80.0)
    if paper is None:
        return (w, h)
    key = paper.lower()
    if key not in PAPER_MM:
        raise TrackingError(f"unknown paper {paper!r}; use one of {', '.join(sorted(PAPER_MM))}")
    pw, ph = PAPER_MM[key]
    if w > pw or h > ph:
        raise TrackingError(f"body {body.name!r} needs {w:.0f} x {h:.0f} mm and does not fit on {paper} ({pw:.0f} x {ph:.0f} mm)")
    return (pw, ph)


def sheet_image(body: MarkerBody, dpi: float = 300.0, paper: Optional[str] = None) -> tuple[np.ndarray, float]:
    """(gray uint8 sheet raster, pixels per mm). Tags are exact at their body-frame corners."""
    sw, sh = sheet_size_mm(body, paper)
    ppmm = dpi / MM_PER_INCH
    W, H = int(round(sw * ppmm)), int(round(sh * ppmm))
    img = np.full((H, W), 255, np.uint8)
    c = body.corners()[:, :2]
    lo, hi = c.min(axis=0), c.max(axis=0)
    # pattern centred horizontally, top part of the sheet; scale bar below
    origin = np.array([(sw - (hi[0] - lo[0])) / 2 - lo[0], MARGIN_MM + 6.0 - lo[1]])

    def px(p_mm: np.ndarray) -> np.ndarray:
        return (np.asarray(p_mm) + origin) * ppmm - 0.5      # pixel centres at integers

    d = dictionary_by_name(body.dictionary)
    bits = d.markerSize + 2
    centre = c.mean(axis=0)
    font = cv2.FONT_HERSHEY_SIMPLEX
    text_scale = max(0.25, 2.2 * ppmm / 22.0)               # ~2.2 mm high digits
    thick = max(1, int(round(0.25 * ppmm)))
    # cut outline: the pattern grown by its quiet zone and the id labels, light gray dashes
    module = body.tag_size_mm(body.ids[0]) / bits
    x0, y0 = px(lo - 1.2 * module - 5.0)
    x1, y1 = px(hi + 1.2 * module + 5.0)
    for t in np.arange(0, 1, 0.04):
        for (a, b) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
            pa = np.array(a) + (np.array(b) - np.array(a)) * t
            pb = np.array(a) + (np.array(b) - np.array(a)) * min(t + 0.02, 1.0)
            cv2.line(img, tuple(np.round(pa).astype(int)), tuple(np.round(pb).astype(int)), 170, thick)
    for tid, corners in body.tags.items():
        side = bits * 20
        tag = cv2.aruco.generateImageMarker(d, tid, side, borderBits=1)
        src = np.array([[-0.5, -0.5], [side - 0.5, -0.5], [side - 0.5, side - 0.5], [-0.5, side - 0.5]], np.float32)
        dst = px(corners[:, :2]).astype(np.float32)
        Hm = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(tag, Hm, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=255)
        mask = cv2.warpPerspective(np.full_like(tag, 255), Hm, (W, H), flags=cv2.INTER_NEAREST)
        img[mask > 0] = warped[mask > 0]
        # id label outside the pattern, beyond the tag's quiet zone
        tc = corners[:, :2].mean(axis=0)
        out = tc - centre
        half = body.tag_size_mm(tid) / 2
        if abs(out[1]) >= abs(out[0]):
            pos = tc + np.array([0.0, np.sign(out[1] or 1) * (half + 1.2 * module + 1.2)])
        else:
            pos = tc + np.array([np.sign(out[0]) * (half + 1.2 * module + 3.0), 0.0])
        label = str(tid)
        (tw, th), _ = cv2.getTextSize(label, font, text_scale, thick)
        p = px(pos)
        cv2.putText(img, label, (int(p[0] - tw / 2), int(p[1] + th / 2)), font, text_scale, 90, thick, cv2.LINE_AA)
    # scale bar: 50 mm with 10 mm ticks, under the pattern
    bar_mm = 50.0 if sw >= 70 else 20.0
    y_bar = hi[1] + 1.2 * module + 12.0
    a = px(np.array([centre[0] - bar_mm / 2, y_bar]))
    b = px(np.array([centre[0] + bar_mm / 2, y_bar]))
    cv2.line(img, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 0, thick)
    for k in range(int(bar_mm // 10) + 1):
        x = a[0] + k * 10 * ppmm
        cv2.line(img, (int(round(x)), int(round(a[1] - 1.5 * ppmm))), (int(round(x)), int(round(a[1] + 1.5 * ppmm))), 0, thick)
    note = f"{bar_mm:.0f} mm - print at 100 %, then measure this bar"
    title = f"{body.name}  {body.dictionary}  tags {body.tag_size_mm(body.ids[0]):.1f} mm"
    small = text_scale * 0.8
    for i, s in enumerate((note, title)):
        (tw, th), _ = cv2.getTextSize(s, font, small, thick)
        p = px(np.array([centre[0], y_bar + 5.0 + i * 4.0]))
        cv2.putText(img, s, (int(p[0] - tw / 2), int(p[1] + th)), font, small, 60, thick, cv2.LINE_AA)
    return img, ppmm
