"""A small drawing of where a fiducial is on the head (for the planner and the operator).

nasion: the head seen from the left, the dip between the forehead and the nose;
LPA / RPA: the head seen from that side, the pre-auricular point just in front of the tragus.
Drawn with QPainter (no image files); the point is a red dot with a white ring.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap

SKIN = QColor(236, 200, 170)
LINE = QColor(90, 60, 40)


def _profile(p: QPainter, s: float, facing_right: bool) -> None:
    """A head in profile (face towards +x when facing_right) in an s x s square."""
    path = QPainterPath()
    path.moveTo(0.30 * s, 0.95 * s)
    path.cubicTo(0.10 * s, 0.70 * s, 0.05 * s, 0.25 * s, 0.40 * s, 0.10 * s)
    path.cubicTo(0.65 * s, 0.00 * s, 0.82 * s, 0.18 * s, 0.80 * s, 0.36 * s)   # forehead
    path.lineTo(0.78 * s, 0.42 * s)                                             # nasion dip
    path.lineTo(0.90 * s, 0.58 * s)                                             # nose tip
    path.lineTo(0.80 * s, 0.62 * s)
    path.cubicTo(0.82 * s, 0.72 * s, 0.80 * s, 0.80 * s, 0.70 * s, 0.84 * s)     # mouth and chin
    path.lineTo(0.60 * s, 0.95 * s)
    if not facing_right:
        p.translate(s, 0)
        p.scale(-1, 1)
    p.setBrush(SKIN)
    p.setPen(QPen(LINE, max(1.0, s / 60)))
    p.drawPath(path)
    p.setBrush(QColor(215, 170, 140))
    p.drawEllipse(QRectF(0.38 * s, 0.40 * s, 0.10 * s, 0.17 * s))             # ear


def fiducial_point(name: str) -> tuple[float, float, bool]:
    """(x, y) of the point in a unit square, and whether the face looks right."""
    key = name.strip().lower()
    if key == "nasion":
        return 0.78, 0.42, True
    if key == "lpa":      # left side: the face looks left in a picture of the left side
        return 1.0 - 0.50, 0.49, False
    if key == "rpa":
        return 0.50, 0.49, True
    raise ValueError(f"no picture for fiducial {name!r}")


def fiducial_picture(name: str, size: int = 72) -> QPixmap:
    """A size x (size + 16) picture of where fiducial `name` (nasion, lpa, rpa) lies, captioned."""
    pm = QPixmap(size, size + 16)
    pm.fill(Qt.GlobalColor.white)
    x, y, right = fiducial_point(name)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.save()
    _profile(p, float(size), right)
    p.restore()
    r = max(3.0, size / 14)
    p.setPen(QPen(Qt.GlobalColor.white, 2))
    p.setBrush(QColor(220, 30, 30))
    p.drawEllipse(QPointF(x * size, y * size), r, r)
    p.setPen(QColor(40, 40, 40))
    p.drawText(QRectF(0, size, size, 16), Qt.AlignmentFlag.AlignCenter,
               {"nasion": "nasion", "lpa": "left ear", "rpa": "right ear"}[name.strip().lower()])
    p.end()
    return pm
