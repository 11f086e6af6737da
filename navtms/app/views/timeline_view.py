"""TimelineView: a run's distance (mm) and tilt (deg) over time with the tolerances, frames
without a coil pose shaded, pulses as ticks (fired on target white, fired off target orange,
refused red) and the playback cursor; a click seeks (signal seek(t_s))."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

DIST, TILT = QColor(90, 170, 255), QColor(240, 170, 30)


class TimelineView(QWidget):
    seek = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.t = np.zeros(0)
        self.dist = self.tilt = np.zeros(0)
        self.visible = np.zeros(0, bool)
        self.pulses: Sequence[tuple[float, str]] = ()
        self.tol_mm, self.tol_deg = 3.0, 3.0
        self.cursor_s = 0.0
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def set_data(self, t_s, distance_mm, tilt_deg, visible, pulses, tol_mm: float, tol_deg: float) -> None:
        """pulses: (time_s, kind) with kind 'on', 'off' or 'refused'."""
        self.t, self.dist, self.tilt = np.asarray(t_s, float), np.asarray(distance_mm, float), np.asarray(tilt_deg, float)
        self.visible = np.asarray(visible, bool)
        self.pulses, self.tol_mm, self.tol_deg = list(pulses), float(tol_mm), float(tol_deg)
        self.update()

    def set_cursor(self, t_s: float) -> None:
        self.cursor_s = float(t_s)
        self.update()

    def _plot_rect(self) -> QRectF:
        return QRectF(44, 10, max(10, self.width() - 54), max(10, self.height() - 34))

    def _x(self, t: float) -> float:
        r = self._plot_rect()
        span = float(self.t[-1]) if len(self.t) and self.t[-1] > 0 else 1.0
        return r.left() + r.width() * t / span

    def mousePressEvent(self, e) -> None:
        r = self._plot_rect()
        span = float(self.t[-1]) if len(self.t) else 0.0
        self.seek.emit(min(span, max(0.0, (e.position().x() - r.left()) / r.width() * span)))

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(28, 28, 33))
        r = self._plot_rect()
        p.setPen(QColor(90, 90, 100))
        p.drawRect(r)
        if not len(self.t):
            p.end()
            return
        ymax = max(3 * self.tol_mm, 3 * self.tol_deg)
        fin = np.r_[self.dist[np.isfinite(self.dist)], self.tilt[np.isfinite(self.tilt)]]
        if fin.size:
            ymax = min(max(ymax, float(np.percentile(fin, 98)) * 1.1), 10 * ymax)

        def y(v: float) -> float:
            return r.bottom() - r.height() * min(v, ymax) / ymax
        # frames without a coil pose: shaded
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(120, 40, 40, 90))
        i, n = 0, len(self.t)
        while i < n:
            if not self.visible[i]:
                j = i
                while j + 1 < n and not self.visible[j + 1]:
                    j += 1
                p.drawRect(QRectF(self._x(self.t[i]), r.top(), max(1.0, self._x(self.t[j]) - self._x(self.t[i])), r.height()))
                i = j + 1
            else:
                i += 1
        for tol, col in ((self.tol_mm, DIST), (self.tol_deg, TILT)):
            p.setPen(QPen(col, 1, Qt.DashLine))
            p.drawLine(QPointF(r.left(), y(tol)), QPointF(r.right(), y(tol)))
        for series, col in ((self.dist, DIST), (self.tilt, TILT)):
            p.setPen(QPen(col, 1.5))
            path, pen_down = QPainterPath(), False
            for t, v in zip(self.t, series):
                if not math.isfinite(v):
                    pen_down = False
                    continue
                pt = QPointF(self._x(t), y(v))
                path.lineTo(pt) if pen_down else path.moveTo(pt)
                pen_down = True
            p.setBrush(Qt.NoBrush)
            p.drawPath(path)
        colours = {"on": QColor(255, 255, 255), "off": QColor(255, 150, 60), "refused": QColor(255, 70, 70)}
        for t, kind in self.pulses:
            p.setPen(QPen(colours.get(kind, QColor("grey")), 1.5))
            p.drawLine(QPointF(self._x(t), r.bottom()), QPointF(self._x(t), r.bottom() - 10))
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(QPointF(self._x(self.cursor_s), r.top()), QPointF(self._x(self.cursor_s), r.bottom()))
        p.setFont(QFont("Sans", 8))
        p.setPen(QColor(200, 200, 210))
        p.drawText(QPointF(4, y(ymax) + 10), f"{ymax:.0f}")
        p.drawText(QPointF(4, r.bottom()), "0")
        p.drawText(QPointF(r.left(), self.height() - 6),
                   f"0 s{' ' * 6}distance mm (blue), tilt deg (orange), dashed: tolerances; ticks: pulses; "
                   f"shaded: no coil pose{' ' * 6}{self.t[-1]:.1f} s")
        p.end()
