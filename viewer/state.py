"""Plain data the viewer draws: the static scene (`SceneSpec`) and one live update (`ViewState`).

Frames: `mri` (scanner RAS+, mm), `coil` (origin at the coil centre on its face, +z into the
head, +y along the handle), `voxel` (i, j, k indices). Lengths in mm, times in ms, angles in
degrees only in the `*_deg` fields (these are screen values). No VTK here.

The navigation loop fills a ViewState per update and hands it over with `LatestState` (the
latest value wins; the viewer never queues updates, so rendering never blocks tracking).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

import numpy as np

from navcore.latest import LatestValue


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
class ScreenLimits:
    """The on-target limits as the screen needs them (plain numbers, copied by the sink from
    the navigator's one navigation.navigator.Tolerances; the viewer never imports navigation).

    A number is green when |value| <= its limit: the enter limit, or the leave limit (limit +
    margin) while the loop says on target, exactly the loop's hysteresis, so a green row and
    the loop's verdict never disagree; amber up to near_factor x the enter limit; red beyond.
    twist_deg None: twist is not checked and is shown in white. Bullseye rings at rings_mm."""

    distance_mm: float = 3.0
    tilt_deg: float = 3.0
    twist_deg: Optional[float] = None
    leave_margin_mm: float = 1.0
    leave_margin_deg: float = 1.0
    near_factor: float = 2.0

    def band(self, metric: str, on_target: bool) -> Optional[tuple[float, float]]:
        """(green limit, amber limit) of 'distance', 'tilt' or 'twist' (mm or deg); None when
        the metric is not checked."""
        base = {"distance": self.distance_mm, "tilt": self.tilt_deg, "twist": self.twist_deg}[metric]
        if base is None:
            return None
        margin = (self.leave_margin_mm if metric == "distance" else self.leave_margin_deg) if on_target else 0.0
        green = base + margin
        return green, max(green, self.near_factor * base)

    @property
    def rings_mm(self) -> tuple[float, ...]:
        """Bullseye ring radii (mm): the distance limit, the amber limit, and an outer ring."""
        d = self.distance_mm
        return (d, self.near_factor * d, self.near_factor * d * 5.0 / 3.0)


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
    limits: the loop's tolerances (colour bands, bullseye rings); off_target_reasons: the
    loop's words for why it is not on target (e.g. "TILT 4.2 deg > 3.0 deg"), drawn as given.
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
    limits: ScreenLimits = ScreenLimits()
    off_target_reasons: tuple[str, ...] = ()

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


LatestState = LatestValue
"""The loop -> viewer hand-off of ViewStates: the one latest-value slot (navcore.latest.LatestValue);
the loop's sink puts, the viewer's timer get()s (version, state) and renders only new versions."""
