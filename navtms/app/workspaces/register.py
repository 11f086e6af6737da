"""Register workspace: fiducials and head points with the tracked pointer, the registration and
its check, accept or discard.

- Fiducials in the plan's fixed order, a picture of where to touch, per-point state (to touch /
  collected with its spread / refused with why), "Retake selected". Each is the median of
  samples in the head-body frame (navtms.workflow.collect_point, on a worker).
- Once three are in, a provisional paired-point fit draws the live pointer tip on the scalp and
  the head points as they are swept (count and scalp coverage shown).
- Fit: the one pipeline (navtms.workflow.session_registration -> registration.pipeline):
  per-fiducial errors even when refused, FRE, ICP residual map (blue inside / red outside the
  scalp, outliers magenta), signed bias, post-ICP fiducial check, predicted TRE at every target.
- Accept stores the registration (and fiducials_head.csv / head_points.csv, as `navtms session
  register` does); Discard drops the attempt and leaves the accepted registration untouched.

The three panels' widgets are register_panels.py; this module does the work behind them.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Optional

import numpy as np
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from navtms.app.workspaces.base import StepStatus
from navtms.app.workspaces.live_base import LiveWorkspace
from navtms.app.workspaces.register_model import Attempt, PointState, coverage_fraction, provisional_T
from navtms.app.workspaces.register_panels import FiducialBox, HeadPointBox, ResultBox

POINT_SAMPLES = 20
MIN_STEP_MM = 3.0


class RegisterWorkspace(LiveWorkspace):
    key = "register"
    title = "Register"
    bodies = ("pointer", "head")

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.plan = None
        self.attempt: Optional[Attempt] = None
        self._task = None
        self._sweep_lock = threading.Lock()
        self.scene_view = None
        self._plan_for = None
        self._coverage_key = None
        self._sampling = ""
        self._shown_count = -1
        self._build()
        ctx.session_changed.connect(self._session_changed)

    # -- layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.addWidget(self.source_bar)
        root.addWidget(self.lights)
        split = self.split = QSplitter()
        left = QWidget()
        ll = QVBoxLayout(left)
        f, h, r = self.fid_box, self.hp_box, self.result_box = FiducialBox(), HeadPointBox(), ResultBox()
        self.fid_list, self.picture, self.fid_label = f.fid_list, f.picture, f.fid_label
        self.sample_button, self.retake_button = f.sample_button, f.retake_button
        self.hp_n, self.sweep_button, self.hp_label = h.hp_n, h.sweep_button, h.hp_label
        self.fit_button, self.result_label = r.fit_button, r.result_label
        self.accept_button, self.discard_button = r.accept_button, r.discard_button
        self.fid_list.currentRowChanged.connect(self._row_changed)
        self.sample_button.clicked.connect(self.sample_fiducial)
        self.retake_button.clicked.connect(self.retake_selected)
        self.sweep_button.clicked.connect(self.toggle_sweep)
        self.fit_button.clicked.connect(self.fit)
        self.accept_button.clicked.connect(self.accept)
        self.discard_button.clicked.connect(self.discard)
        ll.addWidget(self.fid_box)
        ll.addWidget(self.hp_box)
        ll.addStretch(1)
        split.addWidget(left)
        self.scene_holder = QVBoxLayout()
        mid = QWidget()
        mid.setLayout(self.scene_holder)
        self.scene_holder.addWidget(self.camera_view)
        split.addWidget(mid)
        right = QWidget()
        QVBoxLayout(right).addWidget(self.result_box)
        split.addWidget(right)
        split.setSizes([330, 700, 400])
        root.addWidget(split, 1)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        root.addWidget(self.hint)

    # -- contract --------------------------------------------------------------------------------------
    def step_status(self) -> StepStatus:
        s = self.ctx.session
        if s is None or s.pointer_tip_mm is None or not s.plan:
            return StepStatus.BLOCKED
        return StepStatus.DONE if s.registration is not None else StepStatus.READY

    def next_hint(self) -> str:
        s = self.ctx.session
        if s is None:
            return "Open a session first."
        if not s.plan:
            return "The session names no plan: the planned fiducials are needed."
        if s.pointer_tip_mm is None:
            return "Calibrate the pointer tip first (Calibrate)."
        if self.feed is None:
            return "Connect the tracking source."
        a = self.attempt
        nxt = a.next_pending() if a else None
        if nxt:
            return f"Touch {nxt} with the pointer tip, hold still and press Sample."
        if a is not None and a.result is None:
            return "Optionally sweep head points over the scalp, then press Register."
        if a is not None and a.result is not None:
            return "Accept the registration, or retake a fiducial / discard the attempt."
        return "Registered: go on to Navigate."

    def activated(self) -> None:
        self._session_changed()
        super().activated()

    def _session_changed(self) -> None:
        s = self.ctx.session
        if s is not None and s.plan and self._plan_for != s.plan:
            self._load_plan(s)
        if self.plan is not None and self.plan.scalp is not None and self.scene_view is None and self.isVisible():
            self._make_scene()
        self._refresh()
        self.status_changed.emit()

    def _load_plan(self, s) -> None:
        import warnings

        from targets.plan import load_plan

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.plan = load_plan(s.resolve(s.plan), checksum="skip")
        except Exception as e:  # noqa: BLE001 - one line on screen
            self.plan = None
            self.fid_label.setText(f"the plan cannot be loaded: {e}")
            return
        self._plan_for = s.plan
        self.attempt = Attempt.for_names(self.plan.fiducials.names)

    def _make_scene(self) -> None:
        from navtms.app.views.register_scene import RegisterScene

        self.scene_view = RegisterScene(self.plan)
        self.scene_holder.insertWidget(0, self.scene_view, 3)
        self.camera_view.setMaximumHeight(260)

    # -- fiducials -------------------------------------------------------------------------------------
    def _selected_or_next(self) -> Optional[str]:
        return self.attempt.next_pending() if self.attempt else None

    def sample_fiducial(self) -> None:
        s = self.ctx.session
        name = self._selected_or_next()
        if s is None or name is None or self._task is not None or s.pointer_tip_mm is None:
            return
        if self.feed is None:
            self.fid_label.setText("connect a tracking source first")
            return
        from navtms.workflow import collect_point

        tip = np.asarray(s.pointer_tip_mm, float)

        def job(progress, cancelled):
            read = self.point_reader(cancelled, tip, POINT_SAMPLES)
            try:
                return collect_point(read, tip, n=POINT_SAMPLES)
            finally:
                read.close()

        self.fid_label.setText(f"sampling {name}: hold the pointer tip still on it")
        self._task = self.ctx.run_in_worker("fiducial", job, on_done=lambda pt: self._fid_done(name, pt),
                                            on_error=lambda e: self._fid_failed(name, e))
        self._sampling = name
        self._task.finished_any.connect(self._task_ended)
        self._refresh()

    def _fid_done(self, name, pt) -> None:
        e = self.attempt.entry(name)
        e.state, e.position_head_mm, e.spread_mm, e.message = PointState.COLLECTED, pt.position_mm, pt.spread_mm, ""
        self.attempt.result = None
        self.fid_label.setText(f"{name}: spread {pt.spread_mm:.2f} mm")

    def _fid_failed(self, name, exc) -> None:
        e = self.attempt.entry(name)
        e.state, e.message = PointState.REFUSED, str(exc)
        self.fid_label.setText(f"{name} refused: {exc}")

    def retake_selected(self) -> None:
        row = self.fid_list.currentRow()
        if self.attempt is None or not 0 <= row < len(self.attempt.fiducials):
            return
        self.retake(self.attempt.fiducials[row].name)

    def retake(self, name: str) -> None:
        """Put one fiducial back to 'to touch' (the others stay); the fit must be redone."""
        e = self.attempt.entry(name)
        e.state, e.position_head_mm, e.spread_mm, e.message = PointState.PENDING, None, math.nan, ""
        self.attempt.result = None
        self._refresh()

    # -- head points --------------------------------------------------------------------------------------
    def toggle_sweep(self) -> None:
        if self._task is not None and self._task.title == "sweep":
            self._task.cancel()
            return
        s = self.ctx.session
        if self._task is not None or self.feed is None or s is None or s.pointer_tip_mm is None:
            return
        from navtms.workflow import tip_in_head

        tip = np.asarray(s.pointer_tip_mm, float)
        n = int(self.hp_n.value())
        pts = self.attempt.head_points

        def job(progress, cancelled):
            read = self.reader(cancelled)
            try:    # navtms.workflow.collect_head_points's rule, with the points shown as they come
                while len(pts) < n:
                    poses = read()
                    if poses is None:
                        break
                    p = tip_in_head(poses, tip)
                    if p is None or (pts and np.linalg.norm(p - pts[-1]) < MIN_STEP_MM):
                        continue
                    with self._sweep_lock:
                        pts.append(p)      # the display timer shows the count
            finally:
                read.close()
            return len(pts)

        self.attempt.result = None
        self._task = self.ctx.run_in_worker("sweep", job)
        self._task.finished_any.connect(self._task_ended)
        self._refresh()

    # -- fit, accept, discard ------------------------------------------------------------------------------
    def fit(self) -> None:
        s = self.ctx.session
        if s is None or self.plan is None or self._task is not None:
            return
        from navtms.workflow import session_registration, session_settings

        fids = self.attempt.collected()
        if len(fids.names) < 3:
            self.result_label.setText("at least three fiducials are needed")
            return
        hp = self.attempt.head_points_array()
        use_hp = len(hp) > 0 and self.plan.scalp is not None
        plan = self.plan

        def job(progress, cancelled):
            return session_registration(s, plan.fiducials, fids, hp if use_hp else None,
                                        plan.scalp if use_hp else None, session_settings())

        self.result_label.setText("registering...")
        self._task = self.ctx.run_in_worker("register", job, on_done=self._fit_done,
                                            on_error=lambda e: self.result_label.setText(f"cannot register: {e}"))
        self._task.finished_any.connect(self._task_ended)
        self._refresh()

    def _fit_done(self, result) -> None:
        self.attempt.result = result
        self.result_box.show_result(result)
        self._refresh()

    def accept(self) -> None:
        s = self.ctx.session
        r = self.attempt.result if self.attempt else None
        if s is None or r is None or not r.accepted:
            return
        from navtms.workflow import keep_attempt

        hp = self.attempt.head_points_array()
        new = keep_attempt(s, r, self.attempt.collected(), hp if len(hp) else None, source="workbench")
        self.ctx.set_session(new, self.ctx.session_dir or new.folder)
        self.ctx.message.emit(f"registration accepted: FRE {r.fre_mm:.2f} mm")
        self.attempt = Attempt.for_names(self.plan.fiducials.names)
        self.result_label.setText(f"accepted: FRE {r.fre_mm:.2f} mm, predicted TRE "
                                  + ", ".join(f"{n} {v:.2f} mm" for n, v in r.predicted_tre_mm.items()))
        self._refresh()

    def discard(self) -> None:
        """Drop this attempt; the session's accepted registration is not touched."""
        if self.plan is not None:
            self.attempt = Attempt.for_names(self.plan.fiducials.names)
        self.result_label.setText("attempt discarded" + ("; the accepted registration is kept"
                                                         if self.ctx.session and self.ctx.session.registration else ""))
        self._refresh()

    # -- display -------------------------------------------------------------------------------------------
    def _task_ended(self) -> None:
        self._task = None
        self._refresh()
        self.status_changed.emit()

    def _refresh(self) -> None:
        a = self.attempt
        self.fid_box.show_attempt(a)
        busy = self._task is not None
        self.sample_button.setEnabled(not busy and a is not None and a.next_pending() is not None)
        self.sample_button.setText(f"Sample {a.next_pending()}" if a and a.next_pending() else "Sample")
        self.sweep_button.setText("Stop sweep" if busy and self._task.title == "sweep" else "Start sweep")
        self.fit_button.setEnabled(not busy and a is not None and len(a.collected().names) >= 3)
        self.accept_button.setEnabled(a is not None and a.result is not None and a.result.accepted and not busy)
        self.hint.setText(self.next_hint())

    def _row_changed(self, row: int) -> None:
        a = self.attempt
        if a is not None and a.next_pending() is None and 0 <= row < len(a.fiducials):
            self.fid_box.show_picture(a.fiducials[row].name)

    def refresh_live(self, state, lights) -> None:
        a = self.attempt
        if a is None:
            return
        if self._task is not None and self._task.title == "fiducial" and self.samples:
            self.fid_label.setText(f"sampling {self._sampling}: {self.samples[0]} / {self.samples[1]} samples; "
                                   "hold the pointer tip still on it")
        with self._sweep_lock:
            hp = self.attempt.head_points_array()
        if self._shown_count != len(hp):
            self._shown_count = len(hp)
            self.hp_label.setText(f"{len(hp)} points")
        if self.scene_view is None or self.plan is None:
            return
        r = a.result
        T = r.T_mri_from_b if r is not None else provisional_T(self.plan.fiducials, a)
        if T is None and self.ctx.session is not None and self.ctx.session.registration is not None:
            T = self.ctx.session.registration.T_mri_from_head
        if T is None:
            return
        if len(hp):
            key = (len(hp), id(r), T.tobytes())
            hp_mri = self.scene_view.set_head_points(T, hp, r)
            if key != self._coverage_key and self.plan.scalp is not None and len(self.plan.fiducials.names):
                self._coverage_key = key
                cov = coverage_fraction(hp_mri, self.plan.scalp.vertices, float(self.plan.fiducials.positions[:, 2].min()))
                self.hp_label.setText(f"{len(hp)} points, {100 * cov:.0f} % of the scalp above the fiducials covered")
        self.scene_view.set_tip(T, self._live_tip(state))
        self.scene_view.render()

    def _live_tip(self, state) -> Optional[np.ndarray]:
        from navtms.workflow import tip_in_head

        s = self.ctx.session
        if state is None or s is None or s.pointer_tip_mm is None or time.monotonic_ns() - state.received_ns > 1e8:
            return None
        return tip_in_head(state.poses, np.asarray(s.pointer_tip_mm, float))

    def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
        super().shutdown()
        if self.scene_view is not None:
            from navtms.app.views.navigation_view import release_vtk_view

            release_vtk_view(self.scene_view)
