"""Plain data the viewer draws: the static scene (`SceneSpec`) and one live update (`ViewState`).

Frames: `mri` (scanner RAS+, mm), `coil` (origin at the coil centre on its face, +z into the
head, +y along the handle), `voxel` (i, j, k indices). Lengths in mm, times in ms, angles in
degrees only in the `*_deg` fields (these are screen values). No VTK here.

The navigation loop fills a ViewState per update and hands it over with `LatestState` (the
latest value wins; the viewer never queues updates, so rendering never blocks tracking).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class TargetSpec:
    """One planned target.

    target_mri_mm: (3,) cortical target point, mri mm.
    entry_mri_mm: (3,) scalp entry point, mri mm.
    T_mri_from_coil: 4x4 planned coil pose (coil frame -> mri), mm.
    """

    name: str
    target_mri_mm: np.ndarray
    entry_mri_mm: np.ndarray
    T_mri_from_coil: np.ndarray


@dataclass(frozen=True)
class Tolerances:
    """Colour bands for the numbers: value <= on -> green, <= near -> amber, else red.
    Also the bullseye ring radii (mm, in the planned coil x/y plane)."""

    distance_mm: tuple[float, float] = (3.0, 6.0)
    tilt_deg: tuple[float, float] = (5.0, 10.0)
    twist_deg: tuple[float, float] = (10.0, 20.0)
    rings_mm: tuple[float, ...] = (3.0, 6.0, 10.0)


@dataclass
class SceneSpec:
    """Static content of the navigation scene, built once.

    scalp, brain: surfaces with `.vertices` (N, 3) float mri mm and `.faces` (M, 3) int
        (e.g. targets.surfaces.Surface); brain is optional.
    mri_data: (I, J, K) scalar volume indexed by voxel, optional (for the slice views).
    T_mri_from_voxel: 4x4 affine voxel indices -> mri mm (needed with mri_data).
    targets: planned targets; active_target: the name of the one being navigated.
    coil_mesh_path: a coil library name (viewer.coil_library.COILS) or an STL/PLY/OBJ coil mesh
        (else a generated figure-8); coil_mesh_transform: 4x4 T_coil_from_mesh for a mesh file
        not drawn in the coil frame (mm).
    scalp_labels: (name, (3,) mri mm) electrode or 10-20 positions, drawn as small dots with their
        labels on the scalp.
    depth_peeling: exact order-independent translucency (costly without a GPU); off, the
        scalp's back faces are culled so the translucent scalp still reads correctly.
    """

    scalp: Any
    brain: Any = None
    mri_data: Optional[np.ndarray] = None
    T_mri_from_voxel: Optional[np.ndarray] = None
    targets: Sequence[TargetSpec] = ()
    active_target: Optional[str] = None
    tolerances: Tolerances = field(default_factory=Tolerances)
    coil_mesh_path: Optional[str] = None
    coil_mesh_transform: Optional[np.ndarray] = None
    scalp_labels: Sequence[tuple] = ()   # (label, (3,) mri mm): EEG electrodes / 10-20 points on the scalp
    scalp_opacity: float = 0.35
    depth_peeling: bool = False   # exact translucency; about 2x the render time in software GL

    def target(self, name: Optional[str]) -> Optional[TargetSpec]:
        """The target called `name`, or None."""
        for t in self.targets:
            if t.name == name:
                return t
        return None


@dataclass(frozen=True)
class ViewState:
    """One update from the navigation loop (screen values; NaN = unknown).

    T_mri_from_coil: 4x4 live coil pose (coil -> mri, mm), None when the coil is not visible.
    coil_visible / head_visible: the bodies were seen in the frame this update comes from.
    distance_mm, tilt_deg, twist_deg, depth_mm: live coil vs the active target's plan.
    fre_mm, predicted_tre_mm: registration quality (always shown).
    pose_age_ms: now minus the capture time of the frame the pose came from.
    stale: the pose is older than the loop's limit; it is drawn as STALE, never as current.
    on_target: the loop's verdict for the active target within tolerance.
    """

    T_mri_from_coil: Optional[np.ndarray] = None
    coil_visible: bool = False
    head_visible: bool = False
    distance_mm: float = math.nan
    tilt_deg: float = math.nan
    twist_deg: float = math.nan
    depth_mm: float = math.nan
    fre_mm: float = math.nan
    predicted_tre_mm: float = math.nan
    pose_age_ms: float = math.nan
    stale: bool = False
    on_target: bool = False
    active_target: Optional[str] = None
    pulses_delivered: int = 0
    status: str = ""

    @property
    def pose_is_current(self) -> bool:
        """True only when a pose may be drawn as the live coil: visible, has a pose, head seen, not stale."""
        return bool(self.coil_visible and self.head_visible and not self.stale and self.has_pose)

    @property
    def has_pose(self) -> bool:
        """A finite 4x4 live pose is present (it may still be stale or lack the head)."""
        T = self.T_mri_from_coil
        return bool(self.coil_visible and T is not None and np.shape(T) == (4, 4)
                    and np.all(np.isfinite(np.asarray(T, dtype=float))))

    def with_(self, **changes) -> "ViewState":
        """A copy with some fields changed."""
        return replace(self, **changes)


class LatestState:
    """Thread-safe latest-value slot: the loop `put`s, the viewer's timer `get`s.

    get() returns (version, state); the version grows by one per put, so the viewer renders
    only when something new arrived and old values are simply overwritten (never queued).
    """

    def __init__(self, state: Optional[ViewState] = None):
        self._lock = threading.Lock()
        self._state = state
        self._version = 0 if state is None else 1

    def put(self, state: ViewState) -> None:
        with self._lock:
            self._state = state
            self._version += 1

    def get(self) -> tuple[int, Optional[ViewState]]:
        with self._lock:
            return self._version, self._state
