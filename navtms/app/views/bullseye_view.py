"""BullseyeView: where the coil is against its plan, drawn with QPainter (cheap at display rate).

Drawn in the planned coil's x/y plane (mm), as viewer/bullseye.py: screen right = planned +x,
screen up = planned +y (handle). Rings at the session's distance tolerance (and 2x, 3x); the
live coil centre as a dot coloured by the verdict, a tilt arrow (the direction the live +z
leans, 1 mm per degree), the handle line rotated by the twist; a short trail; every pulse (fired:
dot, refused: cross); anatomical directions (toward nasion, left ear, vertex) at the rim; the
height above the scalp. Nothing live is drawn when there is no current pose: the words say why.

`anatomical_directions` is the one piece of maths here: unit 2D directions, in the planned
coil plane, of mri points seen from the planned coil centre (pure, tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

GRADE_COLOURS = {"on": QColor(40, 200, 80), "near": QColor(240, 170, 30), "off": QColor(220, 50, 50),
                 "none": QColor(140, 140, 150)}
BACKGROUND = QColor(28, 28, 33)
MM_PER_DEG = 1.0


def anatomical_directions(T_mri_from_plannedcoil: np.ndarray, points_mri: Mapping[str, np.ndarray],
                          up_mri: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """label -> (2,) unit direction in the planned coil x/y plane toward each mri point (mm),
    seen from the planned coil centre; `up_mri` (a direction, e.g. mri +z for the vertex) is
    added as 'vertex'. A direction along the coil normal (no in-plane part) is left out."""
    P = np.asarray(T_mri_from_plannedcoil, float)
    R, c = P[:3, :3], P[:3, 3]
    out = {}
    items = [(k, R.T @ (np.asarray(v, float) - c)) for k, v in points_mri.items()]
    if up_mri is not None:
        items.append(("vertex", R.T @ np.asarray(up_mri, float)))
    for k, d in items:
        n = math.hypot(d[0], d[1])
        if n > 1e-6 * max(1.0, float(np.linalg.norm(d))):
            out[k] = np.array([d[0] / n, d[1] / n])
    return out


@dataclass(frozen=True)
class PulseMark:
    """A pulse on the bullseye: offset (mm, planned x/y) or None when the coil was not seen;
    fired or refused (with the reason)."""

    x_mm: Optional[float]
    y_mm: Optional[float]
    fired: bool
    on_target: bool = False
    refusal: str = ""


@dataclass(frozen=True)
class BullseyeState:
    """One frame for the bullseye. offset_xy_mm: live centre minus planned centre in the planned
    x/y plane (mm), None without a current pose. grade: 'on' | 'near' | 'off' | 'none'.
    reason: the words under the bullseye (why it is not on target, or NOT VISIBLE / STALE)."""

    offset_xy_mm: Optional[tuple[float, float]] = None
    tilt_deg: float = math.nan
    tilt_dir_xy: tuple[float, float] = (0.0, 0.0)
    twist_deg: float = math.nan
    height_mm: float = math.nan
    grade: str = "none"
    reason: str = ""
    title: str = ""
    trail: Sequence[tuple[float, float]] = ()
    pulses: Sequence[PulseMark] = ()
    directions: Mapping[str, np.ndarray] = field(default_factory=dict)


class BullseyeView(QWidget):
    def __init__(self, tolerance_mm: float = 3.0, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.tolerance_mm = float(tolerance_mm)
        self.state = BullseyeState()
        self.setMinimumSize(260, 260)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_state(self, state: BullseyeState) -> None:
        self.state = state
        self.update()

    # mm -> pixels
    def _geom(self):
        extent = 3.6 * self.tolerance_mm
        side = min(self.width() - 20, self.height() - 90)
        s = 0.5 * side / extent
        return QPointF(self.width() / 2, (self.height() - 70) / 2 + 34), s, extent

    def paintEvent(self, _event) -> None:
        st = self.state
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), BACKGROUND)
        c, s, extent = self._geom()

        def px(x: float, y: float) -> QPointF:
            return QPointF(c.x() + x * s, c.y() - y * s)

        for k, col in ((1, GRADE_COLOURS["on"]), (2, GRADE_COLOURS["near"]), (3, GRADE_COLOURS["off"])):
            p.setPen(QPen(col, 2))
            p.setBrush(Qt.NoBrush)
            r = k * self.tolerance_mm * s
            p.drawEllipse(c, r, r)
        p.setPen(QPen(QColor(90, 90, 100), 1))
        p.drawLine(px(-extent, 0), px(extent, 0))
        p.drawLine(px(0, -extent), px(0, extent))
        p.setFont(QFont("Sans", 9))
        p.setPen(QColor(170, 170, 180))
        p.drawText(px(0.1 * extent, 0.92 * extent), "handle (+y)")
        for label, d in st.directions.items():          # anatomical directions at the rim
            q = px(float(d[0]) * 0.98 * extent, float(d[1]) * 0.98 * extent)
            p.setPen(QPen(QColor(120, 180, 255), 2))
            p.drawLine(px(float(d[0]) * 0.80 * extent, float(d[1]) * 0.80 * extent), q)
            p.setFont(QFont("Sans", 9, QFont.Bold))
            lx = min(max(q.x() - 60, 2.0), self.width() - 122.0)
            ly = min(max(q.y() - 18 if d[1] >= 0 else q.y() + 2, 26.0), self.height() - 84.0)
            p.drawText(QRectF(lx, ly, 120, 16), Qt.AlignCenter, f"to {label}")
        p.setPen(QPen(QColor(200, 200, 210, 110), 1.5))
        if len(st.trail) > 1:                             # recent path of the coil centre
            path = QPainterPath(px(*st.trail[0]))
            for x, y in st.trail[1:]:
                path.lineTo(px(x, y))
            p.drawPath(path)
        col = GRADE_COLOURS.get(st.grade, GRADE_COLOURS["none"])
        if st.offset_xy_mm is not None:
            x, y = self._clamp(*st.offset_xy_mm, extent)
            q = px(x, y)
            if math.isfinite(st.tilt_deg) and st.tilt_deg > 0.05:
                L = min(st.tilt_deg * MM_PER_DEG, 0.9 * extent)   # long tilts end at the rim
                e = px(x + st.tilt_dir_xy[0] * L, y + st.tilt_dir_xy[1] * L)
                p.setPen(QPen(GRADE_COLOURS["near"], 3))
                p.drawLine(q, e)
            if math.isfinite(st.twist_deg):
                a = math.radians(st.twist_deg)
                h = 0.6 * self.tolerance_mm
                p.setPen(QPen(QColor(240, 240, 240), 3))
                p.drawLine(px(x + h * math.sin(a), y - h * math.cos(a)), px(x - h * math.sin(a), y + h * math.cos(a)))
            p.setPen(QPen(QColor(10, 10, 10), 1.5))
            p.setBrush(col)
            p.drawEllipse(q, 9, 9)
        # pulses on top of the live dot (every pulse stays visible)
        for m in st.pulses:
            if m.x_mm is None:
                continue
            q = px(*self._clamp(m.x_mm, m.y_mm, extent))
            if m.fired:
                p.setPen(QPen(QColor(10, 10, 10), 1))
                p.setBrush(QColor(255, 255, 255) if m.on_target else QColor(255, 150, 60))
                p.drawEllipse(q, 3.5, 3.5)
            else:
                p.setPen(QPen(QColor(255, 70, 70), 2))
                p.drawLine(q + QPointF(-4, -4), q + QPointF(4, 4))
                p.drawLine(q + QPointF(-4, 4), q + QPointF(4, -4))
        p.setPen(QColor(235, 235, 240))
        p.setFont(QFont("Sans", 11, QFont.Bold))
        p.drawText(QRectF(8, 4, self.width() - 16, 22), Qt.AlignLeft, st.title or "BULLSEYE (planned coil x/y)")
        if math.isfinite(st.height_mm):
            p.setFont(QFont("Sans", 10))
            p.drawText(QRectF(8, 24, self.width() - 16, 20), Qt.AlignLeft, f"height above scalp {st.height_mm:.1f} mm")
        p.setPen(col if st.grade != "none" else QColor(235, 90, 90))
        p.setFont(QFont("Sans", 13, QFont.Bold))
        p.drawText(QRectF(8, self.height() - 64, self.width() - 16, 60), Qt.AlignCenter | Qt.TextWordWrap,
                   st.reason)
        p.end()

    @staticmethod
    def _clamp(x: float, y: float, extent: float) -> tuple[float, float]:
        n = math.hypot(x, y)
        lim = 0.95 * extent
        return (x, y) if n <= lim else (x * lim / n, y * lim / n)
