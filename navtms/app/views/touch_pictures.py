"""Where to touch the coil for its calibration (centre / handle / side,
registration.coil_calibration): a schematic drawing with the point to touch now highlighted and
the points already taken in green; nothing measured here. (Fiducials on the head:
views.fiducial_picture.) `fiducial_key` maps common fiducial names to nasion / lpa / rpa.

Coil, seen from above with its face down and the handle pointing away from the operator: +y
(handle) is up on the picture, +x is to the operator's LEFT, as registration.coil_calibration
describes.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

COIL_POINTS = ("centre", "handle", "side")
COIL_WORDS = {"centre": "the centre of the coil face",
              "handle": "a point on the face along the handle, 20-40 mm from the centre",
              "side": "a point on the face to the LEFT of the handle (+x), 20-40 mm from the centre"}
HIGHLIGHT = QColor(255, 200, 0)
DONE = QColor(40, 200, 80)


def fiducial_key(name: str) -> Optional[str]:
    """'nasion' | 'lpa' | 'rpa' for common fiducial names (NAS, LPA, left_ear, ...), else None."""
    n = name.lower().replace("-", "").replace("_", "")
    if n.startswith(("nas", "nz")):
        return "nasion"
    if n in ("lpa", "al", "le", "leftear", "lear", "leftpreauricular", "m1") or n.startswith("lpa"):
        return "lpa"
    if n in ("rpa", "ar", "re", "rightear", "rear", "rightpreauricular", "m2") or n.startswith("rpa"):
        return "rpa"
    return None


class TouchPicture(QWidget):
    """The coil with its three calibration points (centre, handle, side)."""

    def __init__(self, kind: str = "coil", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        if kind != "coil":
            raise ValueError("TouchPicture draws the coil; fiducials: views.fiducial_picture")
        self.kind = kind
        self.current: Optional[str] = None
        self.done: set[str] = set()
        self.setMinimumSize(220, 200)

    def show_point(self, name: Optional[str], done=()) -> None:
        self.current, self.done = name, set(done)
        self.update()

    def _dot(self, p: QPainter, c: QPointF, hot: bool, done: bool, label: str,
             label_at: Optional[QPointF] = None) -> None:
        colour = HIGHLIGHT if hot else (DONE if done else QColor(150, 150, 160))
        p.setPen(QPen(QColor(20, 20, 20), 1.5))
        p.setBrush(colour)
        p.drawEllipse(c, 11 if hot else 7, 11 if hot else 7)
        p.setPen(colour)
        p.setFont(QFont("Sans", 10, QFont.Bold))
        p.drawText(label_at if label_at is not None else c + QPointF(14, 5), label)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(30, 30, 36))
        s = min(self.width(), self.height()) / 220.0
        p.translate(self.width() / 2, self.height() / 2)
        p.scale(s, s)
        self._coil(p)
        p.end()

    def _coil(self, p: QPainter) -> None:
        p.setPen(QPen(QColor(200, 200, 210), 2))
        p.setBrush(QColor(70, 90, 130))
        p.drawRect(QRectF(-9, -100, 18, 62))                       # handle, pointing up (+y)
        for cx in (-34, 34):                                       # the two wings of the figure of eight
            p.drawEllipse(QPointF(cx, 10), 34, 34)
        p.setPen(QPen(QColor(200, 200, 210), 1, Qt.DashLine))
        p.drawLine(QPointF(0, -30), QPointF(0, 60))
        p.setFont(QFont("Sans", 9))
        p.setPen(QColor(200, 200, 210))
        p.drawText(QPointF(-100, 95), "face down, handle away from you")
        p.drawText(QPointF(-100, -88), "+x (LEFT)")
        for name, c, at in (("centre", QPointF(0, 10), QPointF(8, 62)), ("handle", QPointF(0, -22), QPointF(14, -26)),
                            ("side", QPointF(-40, 10), QPointF(-108, 56))):
            self._dot(p, c, name == self.current, name in self.done, name, at)
