"""ProgressRing: a ring that fills with a fraction (0..1) and a line of text in its centre."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget


class ProgressRing(QWidget):
    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.fraction, self.text, self.colour = 0.0, "", QColor(60, 150, 240)
        self.setMinimumSize(140, 140)

    def set_progress(self, fraction: float, text: str = "", colour: Optional[QColor] = None) -> None:
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.text = text
        if colour is not None:
            self.colour = colour
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        side = min(self.width(), self.height()) - 16
        r = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        p.setPen(QPen(QColor(90, 90, 100), 10))
        p.drawEllipse(r)
        p.setPen(QPen(self.colour, 10, Qt.SolidLine, Qt.RoundCap))
        p.drawArc(r, 90 * 16, -int(round(self.fraction * 360 * 16)))
        p.setPen(self.palette().windowText().color())
        p.setFont(QFont("Sans", 11, QFont.Bold))
        p.drawText(r, Qt.AlignCenter | Qt.TextWordWrap, self.text or f"{100 * self.fraction:.0f} %")
        p.end()
