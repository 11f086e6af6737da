"""Calibrate workspace: the tracked tools before registration.

- Camera image with the detected tags drawn (or the tracker's device list) and a light per body
  (seen / not seen / stale), live from a LiveFeed on its own thread.
- Pointer pivot: the operator rests the tip in a divot and swings the pointer; a ring fills
  with the poses collected, the rotation spread collected so far is shown (registration.pivot
  needs >= 5 deg); then the robust fit (navtms.workflow.collect_pivot ->
  registration.pivot.pivot_calibration_ransac) with its RMS, inlier fraction and tip
  uncertainty (registration.pivot.tip_uncertainty_mm); Retry or Accept (saved in session.json).
- Coil calibration: three guided touches with the calibrated pointer (centre, handle, side; a
  picture of each), each a median of samples in the coil body frame (navtms.workflow.
  collect_point), then registration.coil_calibration.coil_frame_from_points; retake any point;
  Accept saves T_coilbody_from_coil.
The maths lives in registration/ and navtms.workflow; this module collects and shows.
"""
from __future__ import annotations

import math
import threading
from typing import Optional

import numpy as np
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QGridLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget, QPushButton,
                               QSpinBox, QSplitter, QVBoxLayout, QWidget)

from navtms.app.views.progress_ring import ProgressRing
from navtms.app.views.touch_pictures import COIL_POINTS, COIL_WORDS, TouchPicture
from navtms.app.workspaces.base import StepStatus
from navtms.app.workspaces.live_base import LiveWorkspace

PIVOT_POSES = 150
POINT_SAMPLES = 20
GOOD_INLIER_FRACTION = 0.8
GOOD_RMS_MM = 1.0
GREEN, AMBER, RED = QColor(40, 200, 80), QColor(240, 170, 30), QColor(220, 50, 50)


class CalibrateWorkspace(LiveWorkspace):
    key = "calibrate"
    title = "Calibrate"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.pivot_result = None            # (PivotResult, uncertainty_mm, spread_deg, n_poses)
        self.coil_points: dict[str, np.ndarray] = {}
        self.coil_T: Optional[np.ndarray] = None
        self._pivot_poses: list[np.ndarray] = []
        self._pivot_lock = threading.Lock()
        self._task = None
        self._sampling = ""
        self._build()
        ctx.session_changed.connect(self._session_changed)
        self._session_changed()

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.source_bar, 3)
        root.addLayout(top)
        root.addWidget(self.lights)
        split = QSplitter()
        split.addWidget(self.camera_view)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.addWidget(self._pivot_box())
        sl.addWidget(self._coil_box())
        sl.addStretch(1)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([820, 600])
        root.addWidget(split, 1)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        root.addWidget(self.hint)

    def _pivot_box(self) -> QGroupBox:
        box = QGroupBox("1. Pointer tip (pivot calibration)")
        g = QGridLayout(box)
        self.pivot_ring = ProgressRing()
        g.addWidget(self.pivot_ring, 0, 0, 4, 1)
        g.addWidget(QLabel("Rest the tip in a divot, press Start, swing the pointer in two directions "
                           "(about 20\u00b0 each way) keeping the tip still."), 0, 1, 1, 3)
        self.pivot_n = QSpinBox()
        self.pivot_n.setRange(20, 2000)
        self.pivot_n.setValue(PIVOT_POSES)
        self.pivot_n.setSuffix(" poses")
        g.addWidget(self.pivot_n, 1, 1)
        self.pivot_start = QPushButton("Start pivot")
        self.pivot_start.clicked.connect(self.start_pivot)
        g.addWidget(self.pivot_start, 1, 2)
        self.pivot_accept = QPushButton("Accept tip")
        self.pivot_accept.clicked.connect(self.accept_pivot)
        g.addWidget(self.pivot_accept, 1, 3)
        self.spread_label = QLabel("rotation spread: --")
        g.addWidget(self.spread_label, 2, 1, 1, 3)
        self.pivot_label = QLabel("no pivot yet")
        self.pivot_label.setWordWrap(True)
        g.addWidget(self.pivot_label, 3, 1, 1, 3)
        return box

    def _coil_box(self) -> QGroupBox:
        box = QGroupBox("2. Coil frame (three touches with the pointer)")
        g = QGridLayout(box)
        self.coil_picture = TouchPicture("coil")
        g.addWidget(self.coil_picture, 0, 0, 4, 1)
        self.coil_list = QListWidget()
        self.coil_list.setMaximumHeight(80)
        g.addWidget(self.coil_list, 0, 1, 1, 2)
        self.coil_instruction = QLabel()
        self.coil_instruction.setWordWrap(True)
        g.addWidget(self.coil_instruction, 1, 1, 1, 2)
        self.coil_sample = QPushButton("Sample this point")
        self.coil_sample.clicked.connect(self.sample_coil_point)
        g.addWidget(self.coil_sample, 2, 1)
        self.coil_retake = QPushButton("Retake selected")
        self.coil_retake.clicked.connect(self.retake_coil_point)
        g.addWidget(self.coil_retake, 2, 2)
        self.coil_accept = QPushButton("Accept coil frame")
        self.coil_accept.clicked.connect(self.accept_coil)
        g.addWidget(self.coil_accept, 3, 1)
        self.coil_label = QLabel()
        self.coil_label.setWordWrap(True)
        g.addWidget(self.coil_label, 3, 2)
        return box

    # -- workspace contract ----------------------------------------------------------------------
    def step_status(self) -> StepStatus:
        s = self.ctx.session
        if s is None:
            return StepStatus.BLOCKED
        if s.pointer_tip_mm is not None and not np.allclose(s.T_coilbody_from_coil, np.eye(4)):
            return StepStatus.DONE
        return StepStatus.READY

    def next_hint(self) -> str:
        s = self.ctx.session
        if s is None:
            return "Open or create a session first (it names the camera and the marker bodies)."
        if self.feed is None:
            return "Connect the tracking source (camera:0, a recording or igtl:HOST:PORT)."
        if s.pointer_tip_mm is None:
            return "Calibrate the pointer tip: rest it in a divot, press Start pivot and swing it."
        if np.allclose(s.T_coilbody_from_coil, np.eye(4)):
            nxt = self._next_coil_point()
            return f"Calibrate the coil: touch {COIL_WORDS[nxt]} and press Sample." if nxt else \
                "Accept the coil frame."
        return "Calibration done: go on to Register."

    def _session_changed(self) -> None:
        self._update_texts()
        self.status_changed.emit()

    def _update_texts(self) -> None:
        self.hint.setText(self.next_hint())
        s = self.ctx.session
        busy = self._task is not None
        has_tip = s is not None and s.pointer_tip_mm is not None
        self.pivot_start.setText("Cancel" if busy and self._task.title == "pivot" else
                                 ("Retry pivot" if self.pivot_result is not None else "Start pivot"))
        self.pivot_accept.setEnabled(self.pivot_result is not None and not busy)
        nxt = self._next_coil_point()
        self.coil_picture.show_point(nxt, self.coil_points.keys())
        self.coil_instruction.setText(("Touch " + COIL_WORDS[nxt] + ", hold still, press Sample.") if nxt else
                                      "All three points taken.")
        self.coil_sample.setEnabled(has_tip and nxt is not None and not busy)
        self.coil_accept.setEnabled(self.coil_T is not None and not busy)
        self.coil_list.clear()
        for name in COIL_POINTS:
            p = self.coil_points.get(name)
            self.coil_list.addItem(f"{name}: " + ("--" if p is None else f"{np.round(p, 1).tolist()} mm (coil body)"))
        if s is not None and not has_tip:
            self.coil_label.setText("calibrate the pointer tip first")

    def _next_coil_point(self) -> Optional[str]:
        return next((n for n in COIL_POINTS if n not in self.coil_points), None)

    # -- pivot ----------------------------------------------------------------------------------
    def start_pivot(self) -> None:
        if self._task is not None:
            self._task.cancel()
            return
        if self.feed is None:
            self.pivot_label.setText("connect a tracking source first")
            return
        from navtms.workflow import collect_pivot
        from registration.pivot import tip_uncertainty_mm

        n = int(self.pivot_n.value())
        with self._pivot_lock:
            self._pivot_poses = []
        self.pivot_result = None

        def on_poses(poses):
            b = poses.get("pointer")
            if b is not None and b.visible:
                with self._pivot_lock:
                    self._pivot_poses.append(b.T_camera_from_body)

        def job(progress, cancelled):
            read = self.reader(cancelled, on_poses)
            try:
                res = collect_pivot(read, n=n)
            finally:
                read.close()
            P = np.asarray(self._pivot_poses[:n])
            return res, tip_uncertainty_mm(P, res), self._spread_deg(P), len(P)

        self.pivot_label.setText("collecting: keep the tip in the divot and swing the pointer")
        self._task = self.ctx.run_in_worker("pivot", job, on_done=self._pivot_done, on_error=self._pivot_failed)
        self._task.finished_any.connect(self._task_ended)
        self._update_texts()

    @staticmethod
    def _spread_deg(P: np.ndarray) -> float:
        from registration.pivot import rotation_spread

        return math.degrees(rotation_spread(P)) if len(P) >= 2 else 0.0

    def _pivot_done(self, result) -> None:
        res, unc, spread, n = result
        self.pivot_result = result
        frac = float(np.mean(res.inliers))
        good = frac >= GOOD_INLIER_FRACTION and res.rms_mm <= GOOD_RMS_MM
        self.pivot_ring.set_progress(1.0, f"{100 * frac:.0f} % inliers", GREEN if good else AMBER)
        self.pivot_label.setText(
            f"tip {np.round(res.tip_tool, 2).tolist()} mm (pointer frame)\n"
            f"RMS {res.rms_mm:.2f} mm over {int(res.inliers.sum())} of {n} poses "
            f"(inlier fraction {frac:.2f}); tip uncertainty \u00b1{unc:.2f} mm (1 sd, worst axis); "
            f"rotation spread {spread:.1f}\u00b0"
            + ("" if good else "\nWARNING: few inliers or a large RMS: the tip may have slipped; retry."))

    def _pivot_failed(self, exc) -> None:
        self.pivot_ring.set_progress(0.0, "failed", RED)
        self.pivot_label.setText(f"pivot refused: {exc}")

    def accept_pivot(self) -> None:
        if self.pivot_result is None or self.ctx.session is None:
            return
        s = self.ctx.session.with_(pointer_tip_mm=np.asarray(self.pivot_result[0].tip_tool, float))
        s.save()
        self.ctx.set_session(s, self.ctx.session_dir or s.folder)
        self.ctx.message.emit("pointer tip saved in the session")

    # -- coil -----------------------------------------------------------------------------------
    def sample_coil_point(self) -> None:
        s = self.ctx.session
        name = self._next_coil_point()
        if s is None or s.pointer_tip_mm is None or name is None or self._task is not None:
            return
        if self.feed is None:
            self.coil_label.setText("connect a tracking source first")
            return
        from navtms.workflow import collect_point

        tip = np.asarray(s.pointer_tip_mm, float)

        def job(progress, cancelled):
            read = self.point_reader(cancelled, tip, POINT_SAMPLES, body="coil")
            try:
                return name, collect_point(read, tip, n=POINT_SAMPLES, head="coil")
            finally:
                read.close()

        self.coil_label.setText(f"sampling {name}: hold the pointer still")
        self._task = self.ctx.run_in_worker("coil point", job, on_done=self._coil_point_done,
                                            on_error=lambda e: self.coil_label.setText(f"refused: {e}"))
        self._sampling = name
        self._task.finished_any.connect(self._task_ended)
        self._update_texts()

    def _coil_point_done(self, result) -> None:
        name, pt = result
        self.coil_points[name] = pt.position_mm
        self.coil_label.setText(f"{name}: spread {pt.spread_mm:.2f} mm, {pt.refused} samples refused")
        self._fit_coil()

    def retake_coil_point(self) -> None:
        row = self.coil_list.currentRow()
        if 0 <= row < len(COIL_POINTS):
            self.coil_points.pop(COIL_POINTS[row], None)
            self.coil_T = None
            self._update_texts()
            self.status_changed.emit()

    def _fit_coil(self) -> None:
        from navcore.errors import RegistrationError
        from registration.coil_calibration import coil_frame_from_points

        self.coil_T = None
        if all(n in self.coil_points for n in COIL_POINTS):
            try:
                self.coil_T = coil_frame_from_points(*(self.coil_points[n] for n in COIL_POINTS))
                self.coil_label.setText("coil frame: origin " + str(np.round(self.coil_T[:3, 3], 1).tolist())
                                        + " mm in the coil body; Accept to save it")
            except RegistrationError as e:
                self.coil_label.setText(f"refused: {e}; retake a point")

    def accept_coil(self) -> None:
        if self.coil_T is None or self.ctx.session is None:
            return
        s = self.ctx.session.with_(T_coilbody_from_coil=self.coil_T)
        s.save()
        self.ctx.set_session(s, self.ctx.session_dir or s.folder)
        self.ctx.message.emit("coil calibration saved in the session")

    # -- shared -----------------------------------------------------------------------------------
    def _task_ended(self) -> None:
        self._task = None
        self._update_texts()
        self.status_changed.emit()

    def refresh_live(self, state, lights) -> None:
        if self._task is not None and self._task.title == "coil point" and self.samples:
            self.coil_label.setText(f"sampling {self._sampling}: {self.samples[0]} / {self.samples[1]} samples; "
                                    "hold the pointer still")
        if self._task is not None and self._task.title == "pivot":
            with self._pivot_lock:
                P = np.asarray(self._pivot_poses)
            n = int(self.pivot_n.value())
            spread = self._spread_deg(P[-300:]) if len(P) >= 2 else 0.0
            self.pivot_ring.set_progress(len(P) / n, f"{min(len(P), n)} / {n}",
                                         GREEN if spread >= 10 else AMBER)
            self.spread_label.setText(f"rotation spread collected: {spread:.1f}\u00b0 "
                                      f"(needs 5\u00b0, aim for 15\u00b0 or more)")
        self.hint.setText(self.next_hint())

    def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
        super().shutdown()
