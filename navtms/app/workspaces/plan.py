"""The Plan workspace: the T1 in three linked slices and 3D, targets clicked (not typed), a coil
placement per target with a handle-angle dial and a live ghost coil, fiducials by clicking,
undo/redo for every edit, saved with the same code as `navtms plan`.

No science here: placements and edits are targets.planner / targets.plan_edit functions; long
work (the MRI, MNI registration, scalp rules) runs through ctx.run_in_worker. Every edit is
one QUndoCommand (navtms.app.undo) holding the plan before and after.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QWidget

from navtms.app.undo import PlanEdit, push_edit
from navtms.app.views.scene_view import SceneView
from navtms.app.views.slice_view import SliceView, link_crosshairs
from navtms.app.workspaces.base import StepStatus, Workspace
from navtms.app.workspaces.plan_panel import PlanPanel
from viewer.plan_scene import Marker
from viewer.scene import ENTRY_RGB, OTHER_TARGET_RGB, TARGET_RGB

FIDUCIAL_RGB = (0.2, 0.95, 0.35)


class PlanWorkspace(Workspace):
    key = "plan"
    title = "Plan"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        from targets.library import load_library
        from targets.scalp_rules import TEN_TWENTY_LABELS

        self.undo_stack = QUndoStack(self)
        self.selected = ""
        self.tool = "browse"
        self.mri = None
        self._mri_path: Optional[Path] = None
        self._surfaces_of = None
        self.slices = [SliceView(o) for o in ("axial", "coronal", "sagittal")]
        self.scene_view = SceneView()
        link_crosshairs(self.slices)
        grid = QGridLayout()
        grid.setSpacing(3)
        for i, v in enumerate(self.slices):
            grid.addWidget(v, i // 2, i % 2)
        grid.addWidget(self.scene_view, 1, 1)
        try:
            names = list(load_library())
        except Exception:  # noqa: BLE001 - a damaged user library must not stop the workbench
            names = []
        self.panel = PlanPanel(names, TEN_TWENTY_LABELS)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        views = QWidget()
        views.setLayout(grid)
        lay.addWidget(views, 1)
        lay.addWidget(self.panel)
        for v in self.slices:
            v.clicked.connect(self._on_slice_click)
            v.marker_moved.connect(self._on_marker_moved)
            v.marker_released.connect(self._on_marker_released)
            v.marker_clicked.connect(lambda key: key.startswith("target:") and self.select(key[7:]))
        self.scene_view.surface_clicked.connect(self._on_surface_click)
        p = self.panel
        p.tool_changed.connect(self._set_tool)
        p.selection_changed.connect(self.select)
        p.add_at_cursor.connect(lambda: self.add_target_at(self.slices[0].cursor))
        p.delete_requested.connect(lambda n: self._edit(f"delete {n}", "remove_target", n))
        p.move_requested.connect(self._reorder)
        p.rename_requested.connect(self._rename)
        p.add_requested.connect(self.add_from)
        p.handle_preview.connect(self._preview_handle)
        p.handle_commit.connect(self._set_handle)
        p.offset_commit.connect(self._set_offset)
        p.entry_commit.connect(lambda n, m: self._edit(f"entry {m}", "set_target_options", n, entry_method=m))
        p.fiducial_at_cursor.connect(lambda k: self.set_fiducial(k, self.slices[0].cursor))
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        ctx.plan_changed.connect(self._on_plan_changed)
        self._on_plan_changed()

    # -- workflow --------------------------------------------------------------------------
    def _on_clean_changed(self, _clean: bool) -> None:
        self.status_changed.emit()

    def step_status(self) -> StepStatus:
        plan = self.ctx.plan
        if plan is not None and plan.targets and self.ctx.plan_dir is not None and self.undo_stack.isClean():
            return StepStatus.DONE
        return StepStatus.READY

    def next_hint(self) -> str:
        plan = self.ctx.plan
        if plan is None:
            return "Open a T1 MRI (File > New plan from MRI) or a plan folder (File > Open plan)."
        from targets.planner import fiducial_lookup

        if not {"nasion", "lpa", "rpa"} <= set(fiducial_lookup(plan.fiducials)):
            return "Mark the nasion, LPA and RPA: pick a fiducial tool and click it in a slice or on the scalp."
        if not plan.targets:
            return "Choose 'Place target' and click the cortex in a slice or on the brain, or add one from the library."
        if self.ctx.plan_dir is None or not self.undo_stack.isClean():
            return "Save the plan (File > Save plan)."
        return f"Plan saved with {len(plan.targets)} target(s) in {self.ctx.plan_dir}."

    def activated(self) -> None:
        self.render_all()

    # -- plan -> views ---------------------------------------------------------------------
    def render_all(self) -> None:
        for v in (*self.slices, self.scene_view):
            v.render()

    def _on_plan_changed(self) -> None:
        plan = self.ctx.plan
        if plan is None:
            self.panel.show_plan(None, "")
            self.status_changed.emit()
            return
        if self._mri_path != Path(plan.mri_path):
            self._load_mri(Path(plan.mri_path))
        if self._surfaces_of is not plan.scalp:
            self._surfaces_of = plan.scalp
            self.scene_view.scene.set_surfaces(plan.scalp, plan.brain)
            self.scene_view.scene.reset_camera()
        names = [t.name for t in plan.targets]
        if self.selected not in names:
            self.selected = names[-1] if names else ""
            if self.selected:
                self.scene_view.scene.look_at(plan.target(self.selected).T_mri_from_coil)
        self._refresh()
        self.status_changed.emit()

    def _refresh(self) -> None:
        plan = self.ctx.plan
        self.panel.show_plan(plan, self.selected)
        markers = []
        from targets.planner import fiducial_lookup

        for t in plan.targets:
            sel = t.name == self.selected
            markers.append(Marker(f"target:{t.name}", t.target_mri_mm, TARGET_RGB if sel else OTHER_TARGET_RGB,
                                  t.name, 3.5 if sel else 2.5))
        for k, p in fiducial_lookup(plan.fiducials).items():
            markers.append(Marker(f"fid:{k}", p, FIDUCIAL_RGB, k.upper() if k != "nasion" else "nasion", 3.0))
        for v in self.slices:
            v.set_markers(markers)
        entries = [Marker(f"entry:{t.name}", t.entry_mri_mm, ENTRY_RGB, "", 1.5) for t in plan.targets]
        self.scene_view.scene.set_markers(markers + entries)
        t = plan.target(self.selected) if self.selected else None
        self.scene_view.scene.set_coil(None if t is None else t.T_mri_from_coil)
        self.scene_view.render()

    def _load_mri(self, path: Path) -> None:
        from navcore.mri import load_mri

        self._mri_path = path

        def work(p, progress, cancelled):
            progress(0.2, f"loading {p.name}")
            return load_mri(p)

        def done(mri):
            if self._mri_path != path:
                return
            self.mri = mri
            for v in self.slices:
                v.set_volume(mri.data, mri.T_mri_from_voxel)
            t = self.ctx.plan.target(self.selected) if (self.ctx.plan is not None and self.selected) else None
            if t is not None:
                for v in self.slices:
                    v.set_cursor(t.target_mri_mm)
            self._refresh()
            self.render_all()

        self.ctx.run_in_worker("MRI", work, path, on_done=done,
                               on_error=lambda e: self.ctx.message.emit(f"the plan's MRI cannot be shown: {e}"))

    # -- selection and tools ---------------------------------------------------------------
    def select(self, name: str) -> None:
        if name == self.selected or self.ctx.plan is None:
            return
        self.selected = name
        self._refresh()
        self._focus(name)

    def _focus(self, name: str) -> None:
        """Slices through the target, 3D camera looking at its coil from outside."""
        names = [t.name for t in self.ctx.plan.targets] if self.ctx.plan is not None else []
        if name not in names:
            return
        t = self.ctx.plan.target(name)
        if self.mri is not None:
            for v in self.slices:
                v.set_cursor(t.target_mri_mm)
        self.scene_view.scene.look_at(t.T_mri_from_coil)
        self.scene_view.render()

    def _set_tool(self, tool: str) -> None:
        self.tool = tool
        self.scene_view.pick_order = ("scalp", "brain") if tool in ("nasion", "lpa", "rpa") else ("brain", "scalp")

    def _on_slice_click(self, p) -> None:
        if self.tool == "target":
            self.add_target_at(p)
        elif self.tool in ("nasion", "lpa", "rpa"):
            self.set_fiducial(self.tool, p)

    def _on_surface_click(self, p, _which: str) -> None:
        if self.tool == "target":
            self.add_target_at(p)
        elif self.tool in ("nasion", "lpa", "rpa"):
            self.set_fiducial(self.tool, p)
        if self.mri is not None:
            for v in self.slices:
                v.set_cursor(p)

    # -- edits -----------------------------------------------------------------------------
    def _edit(self, text: str, fn_name: str, *args, **kwargs) -> bool:
        from targets import plan_edit

        return push_edit(self.undo_stack, self.ctx, text, getattr(plan_edit, fn_name), *args, **kwargs)

    def add_target_at(self, p_mri, name: Optional[str] = None) -> Optional[str]:
        """Add a target at this mri point (mm), planned like `navtms plan --mri`; returns its name."""
        from targets.plan_edit import unique_name

        if self.ctx.plan is None:
            return None
        name = name or unique_name(self.ctx.plan, "target")
        if not self._edit(f"add {name}", "add_target", name, np.asarray(p_mri, float)):
            return None
        self._focus(name)
        return name

    def set_fiducial(self, key: str, p_mri) -> bool:
        return self._edit(f"set {key}", "set_fiducial", key, np.asarray(p_mri, float))

    def import_fiducials(self, path) -> bool:
        """Nasion, LPA, RPA (and inion) from a CSV or Slicer .mrk.json file, as one edit."""
        from navcore.errors import NavtmsError
        from targets.plan import import_points

        try:
            pts = import_points(path)
        except NavtmsError as e:
            self.ctx.message.emit(f"import fiducials: {e}")
            return False
        return self._edit(f"import fiducials from {Path(path).name}", "set_fiducials", pts)

    def _reorder(self, name: str, delta: int) -> None:
        i = [t.name for t in self.ctx.plan.targets].index(name)
        self._edit(f"move {name}", "reorder_target", name, i + delta)

    def _rename(self, old: str, new: str) -> None:
        if self._edit(f"rename {old}", "rename_target", old, new):
            self.selected = new.strip()
            self._refresh()
        else:
            self._refresh()

    def _set_handle(self, name: str, deg: float) -> None:
        """One edit per new angle (the dial's release and the spin box both report it)."""
        if self.ctx.plan.target(name).handle_angle_deg == float(deg):
            self._refresh()                      # the ghost coil back at the planned pose
            return
        self._edit(f"handle {deg:g}\u00b0", "set_target_options", name, handle_angle_deg=deg)

    def _set_offset(self, name: str, mm: float) -> None:
        if self.ctx.plan.target(name).offset_mm != float(mm):
            self._edit(f"offset {mm:g} mm", "set_target_options", name, offset_mm=mm)

    def _preview_handle(self, name: str, deg: float) -> None:
        """The ghost coil follows the dial while it turns (no edit until it is released)."""
        from navcore.errors import NavtmsError
        from targets.planner import place_target

        t = self.ctx.plan.target(name)
        try:
            p = place_target(self.ctx.plan, name, t.target_mri_mm, handle_angle_deg=deg, offset_mm=t.offset_mm,
                             entry_method="closest" if t.entry_method == "given" else t.entry_method,
                             entry_mri_mm=t.entry_mri_mm if t.entry_method == "given" else None)
        except NavtmsError:
            return
        self.scene_view.scene.set_coil(p.T_mri_from_coil)
        self.scene_view.render()

    def _on_marker_moved(self, key: str, p) -> None:
        if key.startswith("target:") and key[7:] == self.selected:
            from navcore.errors import NavtmsError
            from targets.planner import place_target

            t = self.ctx.plan.target(self.selected)
            try:
                pl = place_target(self.ctx.plan, t.name, p, handle_angle_deg=t.handle_angle_deg, offset_mm=t.offset_mm)
            except NavtmsError:
                return
            self.scene_view.scene.set_coil(pl.T_mri_from_coil)
            self.scene_view.render()

    def _on_marker_released(self, key: str, p) -> None:
        kind, _, name = key.partition(":")
        if kind == "target":
            self.selected = name
            self._edit(f"move {name}", "move_target", name, p)
        elif kind == "fid":
            self.set_fiducial(name, p)

    def add_from(self, kind: str, text: str):
        """Add a target from the library, an MNI coordinate, Beam F3/F4 or a 10-20 position, in
        the worker (MNI registration and scalp rules take seconds); one undoable edit when done.
        Returns the Task (None when refused at once)."""
        from targets.planner import PlanOptions, TargetRequest, add_requested_targets

        plan = self.ctx.plan
        if plan is None:
            self.ctx.message.emit("open an MRI or a plan first")
            return None
        try:
            if kind == "library":
                req = TargetRequest("library", name=text)
            elif kind == "ten-twenty":
                req = TargetRequest("ten-twenty", name=text)
            elif kind == "mni":
                req = TargetRequest("mni", values=tuple(float(v) for v in text.replace(" ", "").split(",")))
                if len(req.values) != 3 or not np.all(np.isfinite(req.values)):
                    raise ValueError
            elif kind in ("beam-f3", "beam-f4"):
                vals = () if text.lower() in ("", "auto") else tuple(float(v) for v in text.split(","))
                if vals and len(vals) != 3:
                    raise ValueError
                req = TargetRequest(kind, values=vals)
            else:
                raise ValueError
        except ValueError:
            self.ctx.message.emit(f"'{text}' is not a valid {kind} entry")
            return None
        mri = self.mri
        opts = PlanOptions(log=lambda m: None)

        def work(snapshot, progress, cancelled):
            needs_mni = plan.T_mri_from_mni is None and kind in ("library", "mni")
            progress(0.05, "registering the MRI to MNI152" if needs_mni else f"placing {kind} target")
            return add_requested_targets(snapshot, mri, [req], opts)

        def done(new_plan):
            if self.ctx.plan is not plan:
                self.ctx.message.emit("the plan changed while the target was computed; add it again")
                return
            self.selected = new_plan.targets[-1].name
            self.undo_stack.push(PlanEdit(self.ctx, f"add {self.selected}", plan, new_plan))
            self._focus(self.selected)

        return self.ctx.run_in_worker(f"Add {kind} target", work, plan, on_done=done,
                                      on_error=lambda e: self.ctx.message.emit(f"add {kind} target: {e}"))

    def shutdown(self) -> None:
        for v in (*self.slices, self.scene_view):
            v.close_view()
