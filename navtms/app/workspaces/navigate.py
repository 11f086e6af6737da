"""Navigate workspace: the live navigation screen.

Tracking runs in the navigation loop's own threads (capture + tracking, latest-value hand-off,
navigation.loop); the loop's viewer sink stores the newest ViewState in a LatestState. The
display timer here (display rate) takes that newest state and draws it; it never waits on the
loop and the loop never waits on it. Logs go into the session folder exactly as `navtms
navigate` writes them (frames.csv, timing.csv, pulses.csv), through the same wiring.

Keys: Space pulse (refused pulses are shown with their reason), N / B next / previous target,
G ghost coil on/off, S sound cue on/off, R reset the 3D view.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QHBoxLayout, QLabel, QListWidget, QPushButton,
                               QVBoxLayout, QWidget)

from navtms.app.views.bullseye_view import PulseMark
from navtms.app.views.navigation_view import NavExtras, NavigationView, direction_points, pulse_mark
from navtms.app.views.source_bar import SourceBar
from navtms.app.workspaces.base import StepStatus, Workspace

DISPLAY_MS = 16
KEY_LEGEND = ("Space: pulse    N / B: next / previous target    G: ghost coil whole / without handle / off    "
              "S: sound cue    "
              "R: reset 3D view")


class NavigateWorkspace(Workspace):
    key = "navigate"
    title = "Navigate"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.run = None                 # navtms.app.workspaces.navigate_run.NavRun while navigating
        self.view: Optional[NavigationView] = None
        self._spec_for: Optional[Path] = None
        self._timer = QTimer(self)
        self._timer.setInterval(DISPLAY_MS)
        self._timer.timeout.connect(self._tick)
        self._last_version = None
        self._render_times: list[float] = []
        self._rate = (time.monotonic(), 0)
        self._tracking_hz = math.nan
        self._was_on, self._was_current = False, False
        self.last_refusal = ""
        self.pulses_done = 0
        self._build()
        ctx.session_changed.connect(self._session_changed)

    def _build(self) -> None:
        root = QVBoxLayout(self)
        self.source_bar = SourceBar()
        self.source_bar.button.setText("Start navigation")
        self.source_bar.connect_requested.connect(self.start)
        self.source_bar.disconnect_requested.connect(self.stop)
        root.addWidget(self.source_bar)
        self.body = QHBoxLayout()
        self.placeholder = QLabel("Open a registered session to navigate.")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.body.addWidget(self.placeholder, 1)
        side = QWidget()
        side.setMaximumWidth(260)
        sl = QVBoxLayout(side)
        sl.addWidget(QLabel("<b>Targets</b>"))
        self.targets = QListWidget()
        self.targets.currentRowChanged.connect(self._select_target)
        sl.addWidget(self.targets, 1)
        row = QHBoxLayout()
        self.prev_button, self.next_button = QPushButton("\u25c0 Previous"), QPushButton("Next \u25b6")
        self.prev_button.clicked.connect(lambda: self.step_target(-1))
        self.next_button.clicked.connect(lambda: self.step_target(+1))
        row.addWidget(self.prev_button)
        row.addWidget(self.next_button)
        sl.addLayout(row)
        self.pulse_button = QPushButton("Pulse (Space)")
        self.pulse_button.clicked.connect(self.pulse)
        sl.addWidget(self.pulse_button)
        gl = QHBoxLayout()
        gl.addWidget(QLabel("ghost coil"))
        self.ghost_combo = QComboBox()
        self.ghost_combo.addItems(NavigationView.GHOST_MODES)
        self.ghost_combo.currentTextChanged.connect(self._ghost)
        gl.addWidget(self.ghost_combo, 1)
        sl.addLayout(gl)
        self.sound_box = QCheckBox("sound cue: on target / tracking lost")
        sl.addWidget(self.sound_box)
        legend = QLabel(KEY_LEGEND.replace("    ", "<br>"))
        legend.setWordWrap(True)
        sl.addWidget(legend)
        self.body.addWidget(side)
        root.addLayout(self.body, 1)
        for key, fn in ((Qt.Key_Space, self.pulse), (Qt.Key_N, lambda: self.step_target(+1)),
                        (Qt.Key_B, lambda: self.step_target(-1)),
                        (Qt.Key_G, self._next_ghost), (Qt.Key_S, lambda: self.sound_box.toggle()),
                        (Qt.Key_R, self._reset_camera)):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.WidgetWithChildrenShortcut)
            sc.activated.connect(fn)

    # -- contract --------------------------------------------------------------------------------
    def step_status(self) -> StepStatus:
        s = self.ctx.session
        if s is None or s.registration is None:
            return StepStatus.BLOCKED
        return StepStatus.DONE if self.pulses_done else StepStatus.READY

    def next_hint(self) -> str:
        s = self.ctx.session
        if s is None:
            return "Open a session first."
        if s.registration is None:
            return "Register the head first (Register)."
        if self.run is None:
            return "Connect the tracking source and press Start navigation."
        return "Bring the coil onto the ghost until the screen says ON TARGET, then pulse."

    def activated(self) -> None:
        self._session_changed()
        spec = getattr(self.ctx, "source_spec", None)
        if spec and not self.source_bar.spec.text():
            self.source_bar.spec.setText(spec)
        self._timer.start()

    def deactivated(self) -> None:
        self._timer.stop()

    def shutdown(self) -> None:
        try:
            self._timer.stop()
            self.stop()
            if self.view is not None:
                self.view.close_view()
        except Exception:  # noqa: BLE001 - shutdown must not raise
            pass

    # -- session -------------------------------------------------------------------------------------
    def _session_changed(self) -> None:
        s = self.ctx.session
        self.targets.blockSignals(True)
        self.targets.clear()
        if s is not None:
            for t in s.targets:
                self.targets.addItem(t.name)
            self.targets.setCurrentRow(s.target_index())
        self.targets.blockSignals(False)
        if s is not None and s.plan and self._spec_for != s.folder and self.isVisible():
            self._build_view(s)
        self.status_changed.emit()

    def _build_view(self, session) -> bool:
        from navtms.app.workspaces.navigate_run import plan_scene

        try:
            spec, fiducials = plan_scene(session)
        except Exception as e:  # noqa: BLE001 - one line on screen
            self.placeholder.setText(f"the session's plan cannot be shown: {e}")
            return False
        fids = direction_points(fiducials)
        if self.view is not None:
            self.view.close_view()
            self.body.removeWidget(self.view)
            self.view.deleteLater()
        self.view = NavigationView(spec, fids)
        self.placeholder.hide()
        self.body.insertWidget(0, self.view, 1)
        self._spec_for = session.folder
        return True

    # -- run -----------------------------------------------------------------------------------------
    def start(self, spec: str) -> bool:
        """Start navigating from source `spec`; False (with the reason on screen) when it cannot."""
        from navtms.app.workspaces.navigate_run import start_run

        s = self.ctx.session
        if s is None or s.registration is None:
            self.source_bar.set_connected(False, "register the session first")
            return False
        if self.view is None and not self._build_view(s):
            return False
        self.stop()
        try:
            self.run = start_run(s, spec)
        except Exception as e:  # noqa: BLE001 - one line on screen
            self.source_bar.set_connected(False, f"cannot start: {e}")
            self.ctx.message.emit(f"cannot start navigation: {e}")
            return False
        self.ctx.source_spec = spec
        self.source_bar.set_connected(True, f"navigating from {spec}")
        self.source_bar.button.setText("Stop")
        self.run.navigator.select_target(self.targets.currentRow() if self.targets.currentRow() >= 0 else 0)
        self._last_version = None
        self._timer.start()
        self.status_changed.emit()
        return True

    def stop(self) -> None:
        if self.run is None:
            return
        run, self.run = self.run, None
        run.stop()
        self.pulses_done += run.pulses.fired_count
        self.source_bar.set_connected(False, f"stopped: {run.loop.stats.frames_processed} frames, "
                                             f"{run.pulses.fired_count} pulses; logs in {run.session.folder}")
        self.source_bar.button.setText("Start navigation")
        self.status_changed.emit()

    def pulse(self) -> None:
        if self.run is None:
            return
        d = self.run.key()
        if not d.fired:
            self.last_refusal = f"pulse {d.index} refused: {d.refusal}"
            self.ctx.message.emit(self.last_refusal)

    def step_target(self, step: int) -> None:
        n = self.targets.count()
        if n:
            self.targets.setCurrentRow((max(self.targets.currentRow(), 0) + step) % n)

    def _select_target(self, row: int) -> None:
        if self.run is not None and row >= 0:
            self.run.navigator.select_target(row)
        if self.view is not None and row >= 0 and self.ctx.session is not None:
            self.view.set_active_target(self.ctx.session.targets[row].name)

    def _ghost(self, mode: str) -> None:
        if self.view is not None:
            self.view.set_ghost(mode)
            self.view.render()

    def _next_ghost(self) -> None:
        self.ghost_combo.setCurrentIndex((self.ghost_combo.currentIndex() + 1) % self.ghost_combo.count())

    def _reset_camera(self) -> None:
        if self.view is not None:
            self.view.scene.reset_camera()

    # -- display -------------------------------------------------------------------------------------
    def _tick(self) -> None:
        run, view = self.run, self.view
        if run is None or view is None:
            return
        version, state = run.latest.get()
        now = time.monotonic()
        t0, n0 = self._rate
        if now - t0 >= 1.0:
            n = run.loop.stats.frames_processed
            self._tracking_hz = (n - n0) / (now - t0)
            self._rate = (now, n)
        if state is None or version == self._last_version:
            return
        self._last_version = version
        self._render_times = [t for t in self._render_times if now - t < 1.0] + [now]
        out = run.last_output
        extras = NavExtras(display_hz=float(len(self._render_times)), tracking_hz=self._tracking_hz,
                           latency_ms=(out.latency_ns / 1e6) if out is not None else math.nan,
                           pulses=self._marks(run, view), pulse_points_mri=self._pulse_points(run),
                           last_refusal=self.last_refusal, loop_state=run.loop.stats.state)
        view.set_state(state, extras)
        view.render()
        self._cues(state)
        if not run.loop.running and run.loop.stats.state != "running":
            self.source_bar.status.setText(f"loop {run.loop.stats.state}" +
                                           (f": {run.loop.stats.error}" if run.loop.stats.error else ""))

    @staticmethod
    def _pulse_points(run) -> list:
        return [(s.T_mri_from_coil[:3, 3], bool(s.on_target)) for s in list(run.pulses.samples)
                if s.fired and s.T_mri_from_coil is not None]

    @staticmethod
    def _marks(run, view) -> list[PulseMark]:
        tgt = view.active_target()
        return [pulse_mark(tgt if (tgt is not None and s.target_name == tgt.name) else None, s.T_mri_from_coil,
                           s.fired, s.on_target, s.refusal) for s in list(run.pulses.samples)]

    def _cues(self, state) -> None:
        cur = state.pose_is_current
        if self.sound_box.isChecked():
            if state.on_target and not self._was_on:
                QApplication.beep()
            if self._was_current and not cur:
                QApplication.beep()
        self._was_on, self._was_current = bool(state.on_target), cur
