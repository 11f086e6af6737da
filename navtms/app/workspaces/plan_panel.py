"""The Plan workspace's side panel: tools, target list, target details (handle dial, offset,
entry, depths), "add from" (library, MNI, Beam F3/F4, 10-20) and the fiducials with pictures.

Widgets only: every change is a signal the workspace turns into an undoable edit
(targets.plan_edit); `show_plan(plan, selected)` fills the panel from a plan.
Angles on screen in degrees (`*_deg`), positions mri mm.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QDial, QDoubleSpinBox, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QToolButton, QVBoxLayout, QWidget)

from navtms.app.views.fiducial_picture import fiducial_picture

TOOLS = (("browse", "Browse"), ("target", "Place target"), ("nasion", "Nasion"), ("lpa", "LPA"), ("rpa", "RPA"))
ADD_KINDS = (("library", "Library"), ("mni", "MNI x,y,z"), ("beam-f3", "Beam F3"), ("beam-f4", "Beam F4"),
             ("ten-twenty", "10-20"))


def _fmt(p) -> str:
    return "--" if p is None else ", ".join(f"{v:.1f}" for v in np.asarray(p, float))


class PlanPanel(QWidget):
    tool_changed = Signal(str)                 # one of TOOLS' keys
    selection_changed = Signal(str)            # target name ('' for none)
    add_at_cursor = Signal()
    delete_requested = Signal(str)
    move_requested = Signal(str, int)          # name, -1 up / +1 down
    rename_requested = Signal(str, str)        # old, new
    add_requested = Signal(str, str)           # kind, text (library name, "x,y,z", "auto", 10-20 label)
    handle_preview = Signal(str, float)        # name, deg (dial being turned)
    handle_commit = Signal(str, float)         # name, deg
    offset_commit = Signal(str, float)         # name, mm
    entry_commit = Signal(str, str)            # name, "closest" | "normal"
    fiducial_at_cursor = Signal(str)           # nasion | lpa | rpa

    def __init__(self, library_names=(), ten_twenty_labels=(), parent=None) -> None:
        super().__init__(parent)
        self.setFixedWidth(370)
        self._filling = False
        self._selected = ""
        self._library_names, self._tt_labels = list(library_names), list(ten_twenty_labels)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        # tools
        tools = QGroupBox("Click in a slice or on the brain to")
        tl = QHBoxLayout(tools)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons = {}
        for key, text in TOOLS:
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            self.tool_group.addButton(b)
            self.tool_buttons[key] = b
            tl.addWidget(b)
            b.toggled.connect(lambda on, k=key: on and self.tool_changed.emit(k))
        self.tool_buttons["browse"].setChecked(True)
        lay.addWidget(tools)
        # targets
        tg = QGroupBox("Targets")
        tv = QVBoxLayout(tg)
        self.target_list = QListWidget()
        self.target_list.setMaximumHeight(110)
        self.target_list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                         | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.target_list.currentItemChanged.connect(self._on_current)
        self.target_list.itemChanged.connect(self._on_item_changed)
        tv.addWidget(self.target_list)
        row = QHBoxLayout()
        self.btn_add_cursor = QPushButton("Add here")
        self.btn_add_cursor.setToolTip("add a target at the crosshair")
        self.btn_delete = QPushButton("Delete")
        self.btn_up, self.btn_down = QPushButton("\u2191"), QPushButton("\u2193")
        for b in (self.btn_add_cursor, self.btn_delete, self.btn_up, self.btn_down):
            row.addWidget(b)
        self.btn_add_cursor.clicked.connect(self.add_at_cursor.emit)
        self.btn_delete.clicked.connect(lambda: self._selected and self.delete_requested.emit(self._selected))
        self.btn_up.clicked.connect(lambda: self._selected and self.move_requested.emit(self._selected, -1))
        self.btn_down.clicked.connect(lambda: self._selected and self.move_requested.emit(self._selected, 1))
        tv.addLayout(row)
        add = QHBoxLayout()
        self.add_kind = QComboBox()
        for key, text in ADD_KINDS:
            self.add_kind.addItem(text, key)
        self.add_value = QComboBox()
        self.add_value.setEditable(True)
        self.add_value.setMinimumWidth(150)
        self.btn_add = QPushButton("Add")
        add.addWidget(self.add_kind)
        add.addWidget(self.add_value, 1)
        add.addWidget(self.btn_add)
        self.add_kind.currentIndexChanged.connect(self._fill_add_values)
        self.btn_add.clicked.connect(lambda: self.add_requested.emit(self.add_kind.currentData(),
                                                                     self.add_value.currentText().strip()))
        tv.addLayout(add)
        self._fill_add_values()
        lay.addWidget(tg)
        # details
        dg = QGroupBox("Selected target")
        dl = QGridLayout(dg)
        self.dial = QDial()
        self.dial.setRange(-180, 180)
        self.dial.setWrapping(True)
        self.dial.setNotchesVisible(True)
        self.dial.setNotchTarget(15)
        self.dial.setFixedSize(96, 96)
        self.angle = QDoubleSpinBox()
        self.angle.setRange(-180.0, 180.0)
        self.angle.setSingleStep(5.0)
        self.angle.setDecimals(1)
        self.angle.setSuffix(" \u00b0")
        self.angle.setKeyboardTracking(False)
        self.offset = QDoubleSpinBox()
        self.offset.setRange(0.0, 40.0)
        self.offset.setSingleStep(0.5)
        self.offset.setSuffix(" mm")
        self.offset.setKeyboardTracking(False)
        self.entry = QComboBox()
        self.entry.addItem("closest scalp point", "closest")
        self.entry.addItem("normal through target", "normal")
        self.entry.addItem("scalp rule's point", "given")
        form = QFormLayout()
        form.addRow("handle angle", self.angle)
        form.addRow("coil offset", self.offset)
        form.addRow("scalp entry", self.entry)
        dl.addWidget(self.dial, 0, 0)
        dl.addLayout(form, 0, 1)
        self.readout = QLabel()
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dl.addWidget(self.readout, 1, 0, 1, 2)
        self.dial.valueChanged.connect(self._on_dial)
        self.dial.sliderReleased.connect(lambda: self._commit_angle(float(self.dial.value())))
        self.angle.valueChanged.connect(lambda v: self._filling or self._commit_angle(v))
        self.offset.valueChanged.connect(lambda v: self._filling or (self._selected and self.offset_commit.emit(self._selected, v)))
        self.entry.currentIndexChanged.connect(self._on_entry)
        lay.addWidget(dg)
        self.details = dg
        # fiducials
        fg = QGroupBox("Fiducials (click with the tool, or set at the crosshair)")
        fl = QGridLayout(fg)
        self.fid_labels = {}
        for col, key in enumerate(("nasion", "lpa", "rpa")):
            pic = QLabel()
            pic.setPixmap(fiducial_picture(key, 72))
            lab = QLabel("--")
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            btn = QPushButton("at crosshair")
            btn.clicked.connect(lambda _=False, k=key: self.fiducial_at_cursor.emit(k))
            fl.addWidget(pic, 0, col, Qt.AlignmentFlag.AlignCenter)
            fl.addWidget(lab, 1, col)
            fl.addWidget(btn, 2, col)
            self.fid_labels[key] = lab
        lay.addWidget(fg)
        lay.addStretch(1)

    # -- filling from a plan ---------------------------------------------------------------
    def _fill_add_values(self) -> None:
        kind = self.add_kind.currentData()
        self.add_value.clear()
        if kind == "library":
            self.add_value.addItems(self._library_names)
        elif kind == "ten-twenty":
            self.add_value.addItems(self._tt_labels)
            self.add_value.setCurrentText("F3")
        elif kind in ("beam-f3", "beam-f4"):
            self.add_value.addItems(["auto"])
            self.add_value.lineEdit().setPlaceholderText("auto, or TT,NI,CF cm")
        else:
            self.add_value.lineEdit().setPlaceholderText("x,y,z (MNI mm)")

    def show_plan(self, plan, selected: str) -> None:
        """Fill the list, details and fiducials from `plan` (or None) with `selected` current."""
        self._filling = True
        try:
            for w in self.findChildren(QGroupBox):
                w.setEnabled(plan is not None)
            self.target_list.clear()
            names = [t.name for t in plan.targets] if plan is not None else []
            for n in names:
                it = QListWidgetItem(n)
                it.setFlags(it.flags() | Qt.ItemFlag.ItemIsEditable)
                it.setData(Qt.ItemDataRole.UserRole, n)
                self.target_list.addItem(it)
            self._selected = selected if selected in names else ""
            if self._selected:
                self.target_list.setCurrentRow(names.index(self._selected))
            t = plan.target(self._selected) if self._selected else None
            self.details.setEnabled(t is not None)
            if t is not None:
                imported = t.entry_method == "imported"      # a pose from another tool, kept as it is
                for w in (self.dial, self.angle, self.offset, self.entry):
                    w.setEnabled(not imported)
                angle = t.handle_angle_deg if math.isfinite(t.handle_angle_deg) else 0.0
                self.dial.setValue(int(round(angle)))
                self.angle.setValue(angle)
                self.offset.setValue(t.offset_mm if math.isfinite(t.offset_mm) else 0.0)
                self.entry.setCurrentIndex(max(0, self.entry.findData(t.entry_method)))
                self.readout.setText(self.describe(t))
            else:
                self.readout.setText("No target selected: pick a tool and click in a slice, or add one from "
                                     "the library.")
            from targets.planner import fiducial_lookup

            look = fiducial_lookup(plan.fiducials) if plan is not None else {}
            for k, lab in self.fid_labels.items():
                lab.setText(_fmt(look.get(k)) if k in look else "not set")
        finally:
            self._filling = False

    @staticmethod
    def describe(t) -> str:
        sc = t.scalp_cortex_distance_mm
        lines = [f"<b>{t.name}</b>", f"target {_fmt(t.target_mri_mm)} mm", f"scalp entry {_fmt(t.entry_mri_mm)} mm",
                 f"scalp\u2192target {t.scalp_target_distance_mm:.1f} mm, scalp\u2192cortex "
                 + ("--" if not math.isfinite(sc) else f"{sc:.1f} mm"),
                 f"source: {t.source or '--'}"]
        if t.mni_mm is not None:
            lines.append(f"MNI {_fmt(t.mni_mm)} mm")
        if t.notes:
            lines.append(f"<i>{t.notes}</i>")
        return "<br>".join(lines)

    def set_selected(self, name: str) -> None:
        names = [self.target_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.target_list.count())]
        if name in names:
            self.target_list.setCurrentRow(names.index(name))

    # -- reactions -------------------------------------------------------------------------
    def _on_current(self, cur: Optional[QListWidgetItem], _prev) -> None:
        if self._filling:
            return
        self._selected = cur.data(Qt.ItemDataRole.UserRole) if cur is not None else ""
        self.selection_changed.emit(self._selected)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        old, new = item.data(Qt.ItemDataRole.UserRole), item.text().strip()
        if new != old:
            self.rename_requested.emit(old, new)

    def _on_dial(self, value: int) -> None:
        if self._filling or not self._selected:
            return
        if self.dial.isSliderDown():
            self.handle_preview.emit(self._selected, float(value))
        else:
            self._commit_angle(float(value))

    def _commit_angle(self, deg: float) -> None:
        if not self._filling and self._selected:
            self.handle_commit.emit(self._selected, float(deg))

    def _on_entry(self, _i: int) -> None:
        if self._filling or not self._selected:
            return
        m = self.entry.currentData()
        if m in ("closest", "normal"):
            self.entry_commit.emit(self._selected, m)
