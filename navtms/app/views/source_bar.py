"""SourceBar: the tracking source (camera:0, video:FILE, poses:FILE, replay:DIR, igtl:HOST:PORT),
Connect / Disconnect, and one line of feed status."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

SPEC_HINT = "camera:0   video:FILE   poses:FILE   replay:DIR   igtl:HOST:PORT"


class SourceBar(QWidget):
    connect_requested = Signal(str)
    disconnect_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Tracking source:"))
        self.spec = QLineEdit()
        self.spec.setPlaceholderText(SPEC_HINT)
        self.spec.setToolTip(SPEC_HINT)
        lay.addWidget(self.spec, 3)
        self.button = QPushButton("Connect")
        self.button.clicked.connect(self._clicked)
        self.spec.returnPressed.connect(self._clicked)
        lay.addWidget(self.button)
        self.status = QLabel("not connected")
        lay.addWidget(self.status, 2)
        self.connected = False

    def _clicked(self) -> None:
        if self.connected:
            self.disconnect_requested.emit()
        elif self.spec.text().strip():
            self.connect_requested.emit(self.spec.text().strip())

    def set_connected(self, connected: bool, status: str) -> None:
        self.connected = connected
        self.button.setText("Disconnect" if connected else "Connect")
        self.spec.setEnabled(not connected)
        self.status.setText(status)
