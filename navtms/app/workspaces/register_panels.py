"""The Register workspace's three panels (navtms.app.workspaces.register), widgets only: what they
show of an attempt (navtms.app.workspaces.register_model.Attempt); the workspace wires their
buttons to the work.

- FiducialBox: the fiducials in the plan's order with their state (to touch / collected with its
  spread / refused with why), the picture of where to touch the next one, Sample and Retake.
- HeadPointBox: how many head points to sweep, Start/Stop sweep, the count and scalp coverage.
- ResultBox: Register, the result in words (errors per fiducial, FRE, ICP, predicted TRE),
  Accept and Discard.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget, QPushButton, QSpinBox, QVBoxLayout

from navtms.app.workspaces.register_model import PointState, result_lines

HEAD_POINTS = 200
PICTURE_PX = 170
ACCEPTED_RGB, REFUSED_RGB = "#28c850", "#dc3232"


class FiducialBox(QGroupBox):
    def __init__(self, parent=None) -> None:
        super().__init__("1. Fiducials (in this order)", parent)
        g = QGridLayout(self)
        self.fid_list = QListWidget()
        g.addWidget(self.fid_list, 0, 0, 1, 2)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignCenter)
        self.picture.setMinimumHeight(190)
        self.picture.current = None
        g.addWidget(self.picture, 1, 0, 1, 2)
        self.sample_button = QPushButton("Sample")
        g.addWidget(self.sample_button, 2, 0)
        self.retake_button = QPushButton("Retake selected")
        g.addWidget(self.retake_button, 2, 1)
        self.fid_label = QLabel()
        self.fid_label.setWordWrap(True)
        g.addWidget(self.fid_label, 3, 0, 1, 2)

    def show_attempt(self, attempt) -> None:
        """One line per fiducial of the attempt (the selected row kept) and the picture of the
        next one to touch (else of the selected one); emits no row change."""
        row = self.fid_list.currentRow()
        self.fid_list.blockSignals(True)
        self.fid_list.clear()
        if attempt is not None:
            for e in attempt.fiducials:
                detail = (f"{e.spread_mm:.2f} mm spread" if e.state is PointState.COLLECTED else e.message)
                self.fid_list.addItem(f"{e.name}: {e.state.value}" + (f" ({detail})" if detail else ""))
            if 0 <= row < len(attempt.fiducials):
                self.fid_list.setCurrentRow(row)
            chosen = attempt.fiducials[row].name if 0 <= row < len(attempt.fiducials) else None
            self.show_picture(attempt.next_pending() or chosen)
        self.fid_list.blockSignals(False)

    def show_picture(self, name: Optional[str]) -> None:
        """The drawing of where the fiducial is (views.fiducial_picture), or its name."""
        from navtms.app.views.fiducial_picture import fiducial_picture
        from navtms.app.views.touch_pictures import fiducial_key

        self.picture.current = name
        key = fiducial_key(name) if name else None
        if key is None:
            self.picture.setPixmap(QPixmap())
            self.picture.setText("" if name is None else f"touch: {name}")
        else:
            self.picture.setPixmap(fiducial_picture(key, PICTURE_PX))


class HeadPointBox(QGroupBox):
    def __init__(self, parent=None) -> None:
        super().__init__("2. Head points (sweep the scalp)", parent)
        h = QGridLayout(self)
        self.hp_n = QSpinBox()
        self.hp_n.setRange(10, 2000)
        self.hp_n.setValue(HEAD_POINTS)
        self.hp_n.setSuffix(" points")
        h.addWidget(self.hp_n, 0, 0)
        self.sweep_button = QPushButton("Start sweep")
        h.addWidget(self.sweep_button, 0, 1)
        self.hp_label = QLabel("0 points")
        h.addWidget(self.hp_label, 1, 0, 1, 2)


class ResultBox(QGroupBox):
    def __init__(self, parent=None) -> None:
        super().__init__("3. Registration", parent)
        rg = QVBoxLayout(self)
        self.fit_button = QPushButton("Register")
        rg.addWidget(self.fit_button)
        self.result_label = QLabel("collect the fiducials first")
        self.result_label.setWordWrap(True)
        rg.addWidget(self.result_label, 1)
        row = QHBoxLayout()
        self.accept_button, self.discard_button = QPushButton("Accept"), QPushButton("Discard attempt")
        row.addWidget(self.accept_button)
        row.addWidget(self.discard_button)
        rg.addLayout(row)

    def show_result(self, result) -> None:
        """The registration result in words (register_model.result_lines), the verdict in colour."""
        colour = ACCEPTED_RGB if result.accepted else REFUSED_RGB
        lines = [(f"<span style='color:{colour}'><b>{x}</b></span>" if x.startswith(("ACCEPTABLE", "REFUSED")) else x)
                 for x in result_lines(result)]
        self.result_label.setText("<br>".join(lines)
                                  + ("<br><i>3D: head points blue inside / white on / red outside the scalp "
                                     "(3 mm full colour), outliers magenta</i>" if result.icp is not None else ""))
