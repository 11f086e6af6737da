"""CameraView: the newest camera image with the detected tags outlined, or, for a tracker that
delivers poses (pose log, OpenIGTLink), its device list (body, seen, tags, RMS).

Pixels: tag corners are image pixels (OpenCV, x right, y down), scaled with the image to the
widget. Drawing only; the feed (navtms.app.live_feed) does the tracking on its own thread.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from navtms.app.views.pose_lights import LIGHT_COLOURS

BACKGROUND = QColor(24, 24, 28)


class CameraView(QWidget):
    """set_frame(image, detections, poses, owners) then update(); paintEvent draws."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self._qimage: Optional[QImage] = None
        self._buf: Optional[np.ndarray] = None
        self._detections: Mapping = {}
        self._rows: list[tuple[str, str, str]] = []
        self._message = "no source"

    def set_message(self, text: str) -> None:
        self._message = text
        self._qimage, self._rows = None, []
        self.update()

    def set_frame(self, image: Optional[np.ndarray], detections: Mapping, poses: Mapping,
                  lights: Mapping[str, str]) -> None:
        """image: BGR uint8 (H, W, 3) or gray (H, W), or None for a pose-only tracker;
        detections: (dictionary, id) -> (4, 2) px; poses: body -> BodyPose; lights: body -> light."""
        if image is not None:
            rgb = np.ascontiguousarray(image[:, :, ::-1] if image.ndim == 3 else np.repeat(image[:, :, None], 3, 2))
            self._buf = rgb    # QImage does not own the bytes: keep them alive
            h, w, _ = rgb.shape
            self._qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888)
        else:
            self._qimage = None
        self._detections = dict(detections)
        self._rows = []
        for name, p in poses.items():
            tags = f"{p.tags_seen}/{p.tags_total} tags" if p.tags_total else ""
            rms = f"{p.rms_px:.2f} px" if p.visible and np.isfinite(p.rms_px) else ""
            self._rows.append((name, lights.get(name, "not seen"), f"{tags}  {rms}".strip()))
        self._message = ""
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn (aspect kept, centred)."""
        if self._qimage is None:
            return QRectF()
        w, h = self._qimage.width(), self._qimage.height()
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        if self._qimage is not None:
            r = self.image_rect()
            p.drawImage(r, self._qimage)
            s = r.width() / self._qimage.width()
            p.setRenderHint(QPainter.Antialiasing)
            pen = QPen(QColor(60, 230, 90), 2)
            p.setFont(QFont("Sans", 9, QFont.Bold))
            for (_dic, tid), c in self._detections.items():
                pts = [QPointF(r.left() + (x + 0.5) * s, r.top() + (y + 0.5) * s) for x, y in np.asarray(c)]
                p.setPen(pen)
                p.drawPolygon(QPolygonF(pts))
                p.setPen(QPen(QColor(255, 80, 80), 4))
                p.drawPoint(pts[0])          # first corner: the tag's orientation
                p.setPen(QColor(255, 255, 120))
                p.drawText(sum(pts, QPointF()) / 4, str(tid))
        elif self._rows:
            p.setPen(QColor(220, 220, 225))
            p.setFont(QFont("Sans", 12, QFont.Bold))
            p.drawText(16, 30, "Tracker devices (poses from the source, no image)")
            p.setFont(QFont("Sans", 12))
            for i, (name, light, detail) in enumerate(self._rows):
                y = 64 + 30 * i
                p.setBrush(LIGHT_COLOURS.get(light, QColor("grey")))
                p.setPen(Qt.NoPen)
                p.drawEllipse(QPointF(28, y - 5), 8, 8)
                p.setPen(QColor(220, 220, 225))
                p.drawText(46, y, f"{name}: {light}   {detail}")
        else:
            p.setPen(QColor(200, 200, 200))
            p.setFont(QFont("Sans", 13))
            p.drawText(self.rect(), Qt.AlignCenter, self._message)
        p.end()
