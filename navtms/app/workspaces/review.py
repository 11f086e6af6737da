"""Review workspace: replay a navigation run from its logs with play / pause / seek / speed, and
the report's figures.

The run (workspaces.review_run.ReviewRun: frames.csv, pulses.csv, timing.csv, the PNGs) is
played on the recorded clock: a display timer advances the playback time by the wall time
elapsed times the speed; the bullseye shows the frame at that time (coil centre, the path of
the last second, every pulse so far), the timeline the whole run with the cursor, the text the
frame's numbers. Seek by the slider or a click on the timeline. The figures tab shows the
report's errors.png, bullseye.png and snapshots as written by navtms replay / demo.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSlider, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from navtms.app.views.bullseye_view import BullseyeState, BullseyeView, PulseMark
from navtms.app.views.timeline_view import TimelineView
from navtms.app.workspaces.base import StepStatus, Workspace
from navtms.app.workspaces.review_run import ReviewRun, load_run, summary_lines

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
TRAIL_S = 1.0
SLIDER_STEPS = 2000
DEG = "\u00b0"


class ReviewWorkspace(Workspace):
    key = "review"
    title = "Review"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.run: Optional[ReviewRun] = None
        self.t_s = 0.0
        self.playing = False
        self._last_wall: Optional[float] = None
        self.tol_mm, self.tol_deg = 3.0, 3.0
        self.tolerances = None
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._tick)
        ctx.session_changed.connect(self._session_changed)

    def _build(self) -> None:
        root = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.open_button = QPushButton("Open run folder\u2026")
        self.open_button.clicked.connect(self._choose)
        bar.addWidget(self.open_button)
        self.path_label = QLabel("no run loaded: open a report folder (navtms replay / demo) or a session after navigation")
        bar.addWidget(self.path_label, 1)
        root.addLayout(bar)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        root.addWidget(self.summary)
        tabs = self.tabs = QTabWidget()
        play = QWidget()
        pl = QVBoxLayout(play)
        split = QSplitter()
        self.bullseye = BullseyeView()
        split.addWidget(self.bullseye)
        self.readout = QLabel()
        self.readout.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.readout.setStyleSheet("font-size: 15px;")
        split.addWidget(self.readout)
        split.setSizes([600, 400])
        pl.addWidget(split, 1)
        self.timeline = TimelineView()
        self.timeline.seek.connect(self.seek)
        pl.addWidget(self.timeline)
        ctl = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.toggle_play)
        ctl.addWidget(self.play_button)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.sliderMoved.connect(lambda v: self.seek(v / SLIDER_STEPS * self._duration()))
        ctl.addWidget(self.slider, 1)
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}x", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        ctl.addWidget(QLabel("speed"))
        ctl.addWidget(self.speed)
        self.time_label = QLabel("0.00 s")
        ctl.addWidget(self.time_label)
        pl.addLayout(ctl)
        tabs.addTab(play, "Replay")
        self.view3d_page = QWidget()
        self.view3d_layout = QVBoxLayout(self.view3d_page)
        self.view3d_label = QLabel("the 3D replay needs the run's session (with its plan) open")
        self.view3d_layout.addWidget(self.view3d_label)
        self.view3d = None
        tabs.addTab(self.view3d_page, "3D replay")
        tabs.currentChanged.connect(lambda _i: self._show_frame(self.run.index_at(self.t_s)) if self.run else None)
        self.figures = QWidget()
        self.figures_layout = QVBoxLayout(self.figures)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.figures)
        tabs.addTab(scroll, "Report figures")
        root.addWidget(tabs, 1)

    # -- workspace contract ----------------------------------------------------------------------
    def step_status(self) -> StepStatus:
        return StepStatus.DONE if self.run is not None else StepStatus.READY

    def next_hint(self) -> str:
        if self.run is None:
            return "Open a run folder (a report of navtms replay or demo, or a session after navigation)."
        return "Play the run, seek on the timeline, or look at the report's figures."

    def activated(self) -> None:
        if self.run is None:
            self._session_changed()
        self._timer.start()

    def deactivated(self) -> None:
        self._timer.stop()
        self.pause()

    def shutdown(self) -> None:
        self._timer.stop()
        if self.view3d is not None:
            self.view3d.close_view()

    # -- loading ------------------------------------------------------------------------------------
    def _session_changed(self) -> None:
        d = self.ctx.session_dir
        if d is None or self.run is not None:
            return
        for cand in (Path(d), Path(d).parent / "report"):
            if (cand / "frames.csv").is_file():
                self.load(cand)
                return

    def _choose(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Run folder (frames.csv, pulses.csv, ...)")
        if d:
            self.load(d)

    def load(self, folder) -> bool:
        """Load a run folder; False (the reason on screen) when it is not one."""
        try:
            run = load_run(folder)
        except Exception as e:  # noqa: BLE001 - one line for the operator
            self.path_label.setText(f"cannot open {folder}: {e}")
            return False
        self.run = run
        self.tolerances = self._tolerances(run)
        self.tol_mm, self.tol_deg = self.tolerances.distance_mm, self.tolerances.angle_deg
        self.bullseye.tolerance_mm = self.tol_mm
        self.path_label.setText(str(run.folder))
        self.summary.setText("\n".join(summary_lines(run)))
        kinds = []
        for r, t in zip(run.pulses, run.pulse_times_s()):
            kinds.append((float(t), "refused" if r["fired"] != "1" else ("on" if r["on_target"] == "1" else "off")))
        self.timeline.set_data(run.times_s, run.series("distance_mm"), run.series("tilt_deg"),
                               [r["visible"] == "1" for r in run.frames], kinds, self.tol_mm, self.tol_deg)
        self._show_figures(run)
        self.seek(0.0)
        self.status_changed.emit()
        return True

    def _tolerances(self, run: ReviewRun):
        """The run's navigation.navigator.Tolerances (summary.json, else the open session's)."""
        from navigation.navigator import Tolerances

        p = run.folder / "summary.json"
        tol = None
        if p.is_file():
            try:
                tol = json.loads(p.read_text()).get("tolerances")
            except (OSError, ValueError):
                tol = None
        if tol is None and self.ctx.session is not None:
            tol = self.ctx.session.tolerances.to_dict()
        return Tolerances.from_dict(tol or {})

    def _show_figures(self, run: ReviewRun) -> None:
        while self.figures_layout.count():
            w = self.figures_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        if not run.figures:
            self.figures_layout.addWidget(QLabel("this run folder holds no figures (navtms replay writes them)"))
        for name, path in run.figures.items():
            self.figures_layout.addWidget(QLabel(f"<b>{name}</b>  ({path.name})"))
            img = QLabel()
            img.setPixmap(QPixmap(str(path)))
            self.figures_layout.addWidget(img)
        self.figures_layout.addStretch(1)

    # -- playback -------------------------------------------------------------------------------------
    def _duration(self) -> float:
        return self.run.duration_s if self.run is not None else 0.0

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def play(self) -> None:
        if self.run is None:
            return
        if self.t_s >= self._duration():
            self.seek(0.0)
        self.playing, self._last_wall = True, time.monotonic()
        self.play_button.setText("Pause")

    def pause(self) -> None:
        self.playing = False
        self.play_button.setText("Play")

    def set_speed(self, speed: float) -> None:
        self.speed.setCurrentIndex(SPEEDS.index(speed))

    def _tick(self) -> None:
        if not self.playing or self.run is None:
            return
        now = time.monotonic()
        dt = now - (self._last_wall or now)
        self._last_wall = now
        t = self.t_s + dt * float(self.speed.currentData())
        if t >= self._duration():
            t = self._duration()
            self.pause()
        self.seek(t)

    def seek(self, t_s: float) -> None:
        """Show the run at time t_s (s from the first frame)."""
        if self.run is None:
            return
        self.t_s = min(max(0.0, float(t_s)), self._duration())
        self.timeline.set_cursor(self.t_s)
        if not self.slider.isSliderDown():
            self.slider.setValue(int(round(self.t_s / max(self._duration(), 1e-9) * SLIDER_STEPS)))
        self.time_label.setText(f"{self.t_s:.2f} / {self._duration():.2f} s")
        self._show_frame(self.run.index_at(self.t_s))

    def _show_frame(self, i: int) -> None:
        run = self.run
        f = run.frame(i)
        lo = run.index_at(f.time_s - TRAIL_S)
        trail = [(run.frame(k).offset_x_mm, run.frame(k).offset_y_mm) for k in range(lo, i + 1)
                 if run.frames[k]["visible"] == "1"]
        marks = []
        for r, t in zip(run.pulses, run.pulse_times_s()):
            if t > f.time_s:
                break
            x = float(r["offset_x_mm"]) if r.get("offset_x_mm") else None
            y = float(r["offset_y_mm"]) if r.get("offset_y_mm") else None
            marks.append(PulseMark(x, y, r["fired"] == "1", r["on_target"] == "1", r.get("refusal", "")))
        # the frame as the loop's viewer sink saw it, and the same words as the live screen
        from navtms.app.views.navigation_view import verdict
        from navtms.app.workspaces.review_run import view_state_at

        reason, grade = verdict(view_state_at(run, i, self.tolerances))
        vis = f.visible and not f.stale
        self.bullseye.set_state(BullseyeState(
            (f.offset_x_mm, f.offset_y_mm) if vis else None, f.tilt_deg if vis else math.nan, (0.0, 0.0),
            f.twist_deg if vis else math.nan, math.nan, grade, reason, f"REPLAY  {f.target}  frame {f.frame}",
            trail if vis else (), marks))
        n_fired = sum(m.fired for m in marks)
        refused = [m for m in marks if not m.fired]

        def num(v, unit, d=1):
            return f"{v:.{d}f} {unit}" if math.isfinite(v) else "--"
        lines = [f"<b>time</b> {f.time_s:.3f} s &nbsp; <b>frame</b> {f.frame}",
                 f"<b>target</b> {f.target}",
                 f"<b>distance</b> {num(f.distance_mm, 'mm', 2)} &nbsp; <b>tilt</b> {num(f.tilt_deg, DEG, 2)}"
                 f" &nbsp; <b>twist</b> {num(f.twist_deg, DEG, 1)}",
                 f"<b>offset</b> x {num(f.offset_x_mm, 'mm')} y {num(f.offset_y_mm, 'mm')} z {num(f.offset_z_mm, 'mm')}",
                 f"<b>coil</b> {'seen' if f.coil_visible else 'NOT SEEN'} &nbsp; "
                 f"<b>head</b> {'seen' if f.head_visible else 'NOT SEEN'}",
                 f"<b>pulses so far</b> {n_fired} fired, {len(refused)} refused"]
        if refused:
            lines.append(f"<b>last refusal</b>: {refused[-1].refusal}")
        lines.append(f"<b>verdict</b>: {reason}")
        self.readout.setText("<br>".join(lines))
        if self.tabs.currentWidget() is self.view3d_page:
            self._show_3d(i)

    def _make_3d(self) -> bool:
        """The Navigate workspace's view, on the open session's plan (built on first use)."""
        from navtms.app.views.navigation_view import NavigationView, direction_points
        from navtms.app.workspaces.navigate_run import plan_scene

        if self.view3d is not None:
            return True
        s = self.ctx.session
        if s is None or not s.plan:
            return False
        try:
            spec, fids = plan_scene(s)
        except Exception as e:  # noqa: BLE001 - one line on screen
            self.view3d_label.setText(f"no 3D replay: {e}")
            return False
        self.view3d = NavigationView(spec, direction_points(fids))
        self.view3d_layout.addWidget(self.view3d, 1)
        self.view3d_label.hide()
        return True

    def _show_3d(self, i: int) -> None:
        from navtms.app.views.navigation_view import NavExtras, pulse_mark
        from navtms.app.workspaces.review_run import pulses_until, view_state_at

        if not self._make_3d():
            return
        s = self.ctx.session
        fre = s.registration.fre_mm if s is not None and s.registration is not None else math.nan
        f = self.run.frame(i)
        tre = (s.registration.predicted_tre_mm.get(f.target, math.nan)
               if s is not None and s.registration is not None else math.nan)
        state = view_state_at(self.run, i, self.tolerances, fre, tre)
        tgt = self.view3d.spec.target(f.target)
        pulses = pulses_until(self.run, f.time_s)
        marks = [pulse_mark(tgt if p.get("target") == f.target else None, T, p["fired"] == "1",
                            p["on_target"] == "1", p.get("refusal", "")) for p, T in pulses]
        points = [(T[:3, 3], p["on_target"] == "1") for p, T in pulses if p["fired"] == "1" and T is not None]
        self.view3d.set_state(state, NavExtras(pulses=marks, pulse_points_mri=points, loop_state="replay"))
        self.view3d.render()
