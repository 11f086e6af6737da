"""PoseLights: one light per tracked body: green SEEN, red NOT SEEN, amber STALE (no fresh data).

The state of each light comes from navtms.app.live_feed.body_light (or the navigation output);
this widget only draws it, with the word beside the colour (never colour alone).
"""
from __future__ import annotations

from typing import Mapping, Optional

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

LIGHT_COLOURS = {"seen": QColor(40, 200, 80), "not seen": QColor(220, 50, 50), "stale": QColor(240, 170, 30)}


class PoseLights(QWidget):
    def __init__(self, bodies=("pointer", "head", "coil"), parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.bodies = list(bodies)
        self.states: dict[str, str] = {b: "not seen" for b in self.bodies}
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_states(self, states: Mapping[str, str]) -> None:
        changed = False
        for b in self.bodies:
            s = states.get(b, "not seen")
            changed |= self.states.get(b) != s
            self.states[b] = s
        if changed:
            self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.setFont(QFont("Sans", 11, QFont.Bold))
        w = max(1, self.width() // max(1, len(self.bodies)))
        for i, b in enumerate(self.bodies):
            s = self.states[b]
            x = i * w + 14
            p.setPen(Qt.NoPen)
            p.setBrush(LIGHT_COLOURS[s])
            p.drawEllipse(QPointF(x, self.height() / 2), 9, 9)
            p.setPen(QColor(230, 230, 230) if self.palette().window().color().lightness() < 128 else QColor(20, 20, 20))
            p.drawText(x + 16, int(self.height() / 2 + 5), f"{b.upper()} {s.upper()}")
        p.end()
