"""The main window: workspaces in workflow order with done / next, open and save plans and
sessions, the recent list, one progress bar with cancel for long work, the status bar.

Steps: WORKFLOW order (navtms.app.workspaces); a step whose class is missing shows as
"not built". Each step's label carries its StepStatus (done, ready, blocked) and the first
step that is not done and not blocked is marked "next"; its hint is shown above the pages.
File actions call the library (targets.planner.start_plan, targets.plan.save_plan /
load_plan, navtms.session.load_session): the same folders and files the CLI writes.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from navcore.errors import NavtmsError
from navtms.app.context import AppContext
from navtms.app.recent import RecentList
from navtms.app.worker import TaskState
from navtms.app.workspaces import WORKFLOW, WORKSPACE_CLASSES
from navtms.app.workspaces.base import StepStatus

MARK = {StepStatus.DONE: "\u2713", StepStatus.READY: "\u25cb", StepStatus.BLOCKED: "\u2013"}


class MainWindow(QMainWindow):
    """ctx: the AppContext (made when None); recent: the recent list (default file)."""

    def __init__(self, ctx: Optional[AppContext] = None, recent: Optional[RecentList] = None,
                 workspace_classes=None) -> None:
        super().__init__()
        self.ctx = ctx or AppContext(self)
        self.recent = recent or RecentList()
        self.setWindowTitle("navtms")
        self.resize(1500, 950)
        classes = {c.key: c for c in (workspace_classes if workspace_classes is not None else WORKSPACE_CLASSES)}
        self.workspaces = {}
        self.undo_group = QUndoGroup(self)
        self.steps = QListWidget()
        self.steps.setFixedWidth(190)
        self.steps.setSpacing(3)
        self.pages = QStackedWidget()
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { padding: 6px; background: #263238; color: #eceff1; font-weight: bold; }")
        self._keys = []
        for key, title in WORKFLOW:
            cls = classes.get(key)
            if cls is not None:
                ws = cls(self.ctx)
                ws.status_changed.connect(self.refresh_steps)
                if getattr(ws, "undo_stack", None) is not None:
                    self.undo_group.addStack(ws.undo_stack)
                self.workspaces[key] = ws
                page = ws
            else:
                page = QLabel(f"{title}: this workspace is not built yet.")
                page.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.pages.addWidget(page)
            self._keys.append((key, title))
            self.steps.addItem(QListWidgetItem(title))
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.steps)
        right = QVBoxLayout()
        right.addWidget(self.hint)
        right.addWidget(self.pages, 1)
        lay.addLayout(right, 1)
        self.setCentralWidget(central)
        self._build_status_bar()
        self._build_menus()
        self._current: Optional[str] = None
        self.steps.currentRowChanged.connect(self._on_step)
        self.ctx.plan_changed.connect(self._on_plan_changed)
        self.ctx.session_changed.connect(self.refresh_steps)
        self.ctx.message.connect(lambda m: self.statusBar().showMessage(m, 15000))
        self.ctx.task_started.connect(self._on_task_started)
        self.ctx.task_finished.connect(self._on_task_finished)
        self.confirm_discard = self._ask_discard     # replaced in tests
        from targets.planner import PlanOptions

        self.plan_options = PlanOptions()            # surfaces of new plans (cache folder, brain mask)
        self.steps.setCurrentRow(0)
        self.refresh_steps()

    # -- layout pieces ---------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(260)
        self.progress.setFormat("%p%")
        self.task_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        for w in (self.task_label, self.progress, self.cancel_button):
            sb.addPermanentWidget(w)
            w.hide()
        self._task = None
        self.cancel_button.clicked.connect(lambda: self._task.cancel() if self._task is not None else None)

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self.act_new = self._action(m, "New plan from MRI\u2026", self.new_plan_dialog, QKeySequence.StandardKey.New)
        self.act_open = self._action(m, "Open plan\u2026", self.open_plan_dialog, QKeySequence.StandardKey.Open)
        self._action(m, "Open session\u2026", self.open_session_dialog)
        self._action(m, "Import fiducials\u2026", self.import_fiducials_dialog)
        self.recent_menu = m.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        self.act_save = self._action(m, "Save plan", self.save_plan, QKeySequence.StandardKey.Save)
        self._action(m, "Save plan as\u2026", self.save_plan_as_dialog, QKeySequence.StandardKey.SaveAs)
        m.addSeparator()
        self._action(m, "Quit", self.close, QKeySequence.StandardKey.Quit)
        e = self.menuBar().addMenu("&Edit")
        self.act_undo = self.undo_group.createUndoAction(self, "Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_redo = self.undo_group.createRedoAction(self, "Redo")
        self.act_redo.setShortcut(QKeySequence.StandardKey.Redo)
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    # -- steps -----------------------------------------------------------------------------
    def _on_step(self, row: int) -> None:
        key = self._keys[row][0] if 0 <= row < len(self._keys) else None
        if self._current in self.workspaces:
            self.workspaces[self._current].deactivated()
        self.pages.setCurrentIndex(row)
        self._current = key
        ws = self.workspaces.get(key)
        if ws is not None:
            if getattr(ws, "undo_stack", None) is not None:
                self.undo_group.setActiveStack(ws.undo_stack)
            ws.activated()
        self.refresh_steps()

    def show_workspace(self, key: str) -> None:
        self.steps.setCurrentRow([k for k, _ in self._keys].index(key))

    def step_states(self) -> list[tuple[str, str, str]]:
        """[(key, status, hint)] in workflow order; status is done, ready, blocked, next or missing."""
        out, next_given = [], False
        for key, _title in self._keys:
            ws = self.workspaces.get(key)
            if ws is None:
                out.append((key, "missing", "not built yet"))
                continue
            st = ws.step_status()
            label = st.value
            if st is StepStatus.READY and not next_given:
                label, next_given = "next", True
            out.append((key, label, ws.next_hint()))
        return out

    def refresh_steps(self) -> None:
        states = self.step_states()
        for i, ((key, title), (_, st, hint)) in enumerate(zip(self._keys, states)):
            mark = {"done": "\u2713 done", "next": "\u25b6 next", "ready": "\u25cb ready", "blocked": "\u2013 blocked",
                    "missing": "not built"}[st]
            item = self.steps.item(i)
            item.setText(f"{i + 1}  {title}\n     {mark}")
            item.setToolTip(hint)
            item.setForeground(Qt.GlobalColor.darkGreen if st == "done" else
                               (Qt.GlobalColor.blue if st == "next" else
                                (Qt.GlobalColor.gray if st in ("blocked", "missing") else Qt.GlobalColor.black)))
        cur = self.steps.currentRow()
        hint = states[cur][2] if 0 <= cur < len(states) else ""
        nxt = next(((t, h) for (k, t), (_, s, h) in zip(self._keys, states) if s == "next"), None)
        text = hint or ""
        if nxt is not None and nxt[0] != self._keys[cur][1]:
            text = (text + "   " if text else "") + f"Next step: {nxt[0]}."
        self.hint.setText(text)
        self._update_title()

    # -- plans and sessions ----------------------------------------------------------------
    def _dirty(self) -> bool:
        return any(getattr(ws, "undo_stack", None) is not None and not ws.undo_stack.isClean()
                   for ws in self.workspaces.values())

    def _ask_discard(self) -> bool:
        r = QMessageBox.question(self, "navtms", "The plan has unsaved changes. Discard them?",
                                 QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        return r == QMessageBox.StandardButton.Discard

    def _clear_undo(self) -> None:
        for ws in self.workspaces.values():
            if getattr(ws, "undo_stack", None) is not None:
                ws.undo_stack.clear()

    def _update_title(self) -> None:
        plan = self.ctx.plan
        if plan is None:
            self.setWindowTitle("navtms")
            return
        where = str(self.ctx.plan_dir) if self.ctx.plan_dir is not None else f"new plan on {Path(plan.mri_path).name}"
        self.setWindowTitle(f"navtms \u2014 {where}{' *' if self._dirty() else ''}")

    def _on_plan_changed(self) -> None:
        self.refresh_steps()

    def new_plan(self, mri_path: str | Path, fiducials: str | Path | None = None):
        """Start a plan on this MRI (surfaces in the worker thread). Returns the Task."""
        from dataclasses import replace

        from targets.planner import start_plan

        if self._dirty() and not self.confirm_discard():
            return None
        opts = replace(self.plan_options, log=None)

        def work(path, fid, progress, cancelled):
            progress(0.1, "loading the MRI and making the scalp and brain surfaces")
            plan, _mri = start_plan(path, fid, opts)
            progress(1.0, "surfaces ready")
            return plan

        def done(plan):
            self._clear_undo()
            self.ctx.set_plan(plan, None)
            self.ctx.message.emit(f"new plan on {Path(mri_path).name}: click a target, then save")

        return self.ctx.run_in_worker("Surfaces", work, Path(mri_path), fiducials, on_done=done,
                                      on_error=lambda e: self._error("New plan", e))

    def open_plan(self, folder: str | Path) -> bool:
        from targets.plan import load_plan

        if self._dirty() and not self.confirm_discard():
            return False
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                plan = load_plan(folder, checksum="warn")
        except NavtmsError as e:
            self._error("Open plan", e)
            return False
        self._clear_undo()
        self.ctx.set_plan(plan, plan.folder)
        self.recent.add("plan", plan.folder)
        msg = f"opened plan {plan.folder} ({len(plan.targets)} targets)"
        if caught:
            msg += f"; {caught[-1].message}"
        self.ctx.message.emit(msg)
        return True

    def open_session(self, folder: str | Path) -> bool:
        from navtms.session import load_session

        try:
            session = load_session(folder)
        except NavtmsError as e:
            self._error("Open session", e)
            return False
        plan_path = session.resolve(session.plan) if session.plan else None
        if plan_path is not None and not self.open_plan(plan_path):
            return False
        self.ctx.set_session(session, session.folder)
        self.recent.add("session", session.folder)
        self.ctx.message.emit(f"opened session {session.folder}")
        return True

    def open_path(self, path: str | Path) -> bool:
        """A plan folder, a session folder (or their JSON index), or an MRI file (new plan)."""
        p = Path(path)
        if p.is_file() and p.name in ("plan.json", "session.json"):
            p = p.parent
        if (p / "session.json").is_file():
            return self.open_session(p)
        if (p / "plan.json").is_file():
            return self.open_plan(p)
        if p.is_file():
            return self.new_plan(p) is not None
        self._error("Open", NavtmsError(f"{p}: not a plan folder, a session folder or an MRI file"))
        return False

    def save_plan(self, folder: str | Path | None = None) -> Optional[Path]:
        """Write the open plan with targets.plan.save_plan (what `navtms plan` writes): to
        `folder`, else to the folder it came from, else ask. Returns the plan.json path."""
        from targets.plan import load_plan, save_plan

        if self.ctx.plan is None:
            self.ctx.message.emit("nothing to save: open an MRI or a plan first")
            return None
        target = Path(folder) if folder is not None else self.ctx.plan_dir
        if target is None:
            return self.save_plan_as_dialog()
        own = self.ctx.plan_dir is not None and target.resolve() == Path(self.ctx.plan_dir).resolve()
        try:
            path = save_plan(self.ctx.plan, target, force=own)
            saved = load_plan(target, checksum="skip")
        except NavtmsError as e:
            self._error("Save plan", e)
            return None
        for ws in self.workspaces.values():
            if getattr(ws, "undo_stack", None) is not None:
                ws.undo_stack.setClean()
        self.ctx.set_plan(self.ctx.plan, saved.folder)
        self.recent.add("plan", saved.folder)
        self.ctx.message.emit(f"plan saved: {path}")
        return path

    # -- dialogs ---------------------------------------------------------------------------
    def new_plan_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "T1 MRI", "", "MRI (*.nii *.nii.gz *.mgz *.mgh)")
        if f:
            self.new_plan(f)

    def open_plan_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Plan folder")
        if d:
            self.open_plan(d)

    def open_session_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Session folder")
        if d:
            self.open_session(d)

    def save_plan_as_dialog(self) -> Optional[Path]:
        f, _ = QFileDialog.getSaveFileName(self, "Save plan as (a new folder)", "plan")
        if not f:
            return None
        p = Path(f)
        if p.exists():
            self._error("Save plan", NavtmsError(f"{p} exists; choose a new folder name"))
            return None
        return self.save_plan(p)

    def import_fiducials_dialog(self) -> None:
        ws = self.workspaces.get("plan")
        if ws is None or self.ctx.plan is None:
            self.ctx.message.emit("open an MRI or a plan first")
            return
        f, _ = QFileDialog.getOpenFileName(self, "Fiducials (nasion, LPA, RPA)", "", "Points (*.csv *.mrk.json *.json)")
        if f:
            ws.import_fiducials(f)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for it in self.recent.items():
            a = self.recent_menu.addAction(f"{it['kind']}: {it['path']}")
            a.triggered.connect(lambda _=False, p=it["path"]: self.open_path(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _error(self, what: str, exc: BaseException) -> None:
        self.ctx.message.emit(f"{what}: {exc}")

    # -- long work -------------------------------------------------------------------------
    def _on_task_started(self, task) -> None:
        self._task = task
        self.task_label.setText(task.title)
        self.progress.setValue(0)
        for w in (self.task_label, self.progress, self.cancel_button):
            w.show()
        task.progress.connect(self._on_progress)

    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(1000 * max(0.0, min(1.0, fraction)))))
        if text and self._task is not None:
            self.task_label.setText(f"{self._task.title}: {text}")

    def _on_task_finished(self, task) -> None:
        if task is self._task:
            self._task = None
            for w in (self.task_label, self.progress, self.cancel_button):
                w.hide()
        if task.state is TaskState.CANCELLED:
            self.ctx.message.emit(f"{task.title}: cancelled")
        elif task.state is TaskState.FAILED:
            self.ctx.message.emit(f"{task.title}: {task.error}")

    # -- closing ---------------------------------------------------------------------------
    def closeEvent(self, ev) -> None:
        if self._dirty() and not self.confirm_discard():
            ev.ignore()
            return
        if self._task is not None:
            self._task.cancel()
        for ws in self.workspaces.values():
            try:
                ws.shutdown()
            except Exception:  # noqa: BLE001 - closing must not fail
                pass
        self.ctx.wait_idle(10000)
        ev.accept()
