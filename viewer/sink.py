"""The navigation loop's viewer sink: NavOutput -> ViewState -> LatestState (the window polls it).

Lives in viewer/ because it builds viewer data; it reads a navigation.navigator.NavOutput by
its fields only (duck typing), so the viewer never imports navigation and navigation never
imports the viewer. The navigator's Tolerances reach the screen here, as ScreenLimits, with
the loop's reasons for being off target in words.
"""
from __future__ import annotations

import math

from viewer.state import ScreenLimits, ViewState


def screen_limits(tolerances) -> ScreenLimits:
    """ScreenLimits (mm, deg) of a navigation.navigator.Tolerances (or anything with its fields)."""
    return ScreenLimits(distance_mm=float(tolerances.distance_mm), tilt_deg=float(tolerances.angle_deg),
                        twist_deg=None if tolerances.twist_deg is None else float(tolerances.twist_deg),
                        leave_margin_mm=float(tolerances.leave_margin_mm),
                        leave_margin_deg=float(tolerances.leave_margin_deg))


def view_state(out, fre_mm: float = math.nan, pulses_delivered: int = 0, status: str = "") -> ViewState:
    """ViewState (screen values: mm, deg, ms) of a NavOutput, with the tolerances and off-target
    reasons the loop's verdict used."""
    a = out.errors
    return ViewState(
        T_mri_from_coil=out.T_mri_from_coil, coil_visible=out.coil_visible, head_visible=out.head_visible,
        distance_mm=a.distance_mm if a is not None else math.nan,
        tilt_deg=a.tilt_deg if a is not None else math.nan,
        twist_deg=a.twist_deg if a is not None else math.nan,
        depth_mm=a.depth_mm if a is not None else math.nan,
        fre_mm=float(fre_mm), predicted_tre_mm=out.predicted_tre_mm,
        pose_age_ms=out.pose_age_ns / 1e6, stale=out.stale, on_target=out.on_target,
        active_target=out.target_name, pulses_delivered=int(pulses_delivered), status=status,
        limits=screen_limits(out.tolerances), off_target_reasons=tuple(r.text for r in out.reasons))


class ViewSink:
    """A loop sink storing the latest ViewState in a viewer.state.LatestState.

    pulses: anything with `fired_count` (navigation.pulses.PulseLog) or None."""

    def __init__(self, latest, fre_mm: float = math.nan, pulses=None):
        self.latest, self.fre_mm, self.pulses = latest, float(fre_mm), pulses
        self.last = None
        self.status_text = ""
        self.link_text = ""

    def _count(self) -> int:
        return 0 if self.pulses is None else self.pulses.fired_count

    def __call__(self, out) -> None:
        self.last = view_state(out, self.fre_mm, self._count(), self.link_text or self.status_text)
        if self.link_text:   # the tracker is gone: its own state, shown stale, never on target
            self.last = self.last.with_(stale=True, on_target=False)
        self.latest.put(self.last)

    def link(self, state: str, message: str) -> None:
        """The source's link changed (igtl.source.IGTLSource): "tracker silent" or
        "disconnected" is shown, stale, until the link is "ok" again."""
        self.link_text = "" if state == "ok" else (f"{state}: {message}" if message else str(state))
        if self.last is not None:
            self.last = self.last.with_(stale=self.last.stale or bool(self.link_text), on_target=False,
                                        status=self.link_text or self.status_text)
            self.latest.put(self.last)

    def stale(self, age_ns: int) -> None:
        """No fresh frame: the last pose is shown as STALE, never as current, with its age on the
        loop's clock (age_ns, above the stale limit)."""
        if self.last is not None:
            self.last = self.last.with_(stale=True, on_target=False, status=self.link_text or "no fresh frame",
                                        pose_age_ms=age_ns / 1e6)
            self.latest.put(self.last)

    def status(self, state, message: str) -> None:
        """Loop state change (source lost, ended, ...): the pose is no longer current."""
        state = str(state)   # a navigation.loop.LoopState (a StrEnum) or its words
        self.status_text = state if not message else f"{state}: {message}"
        base = self.last if self.last is not None else ViewState()
        # the loop has left RUNNING: the pose's age is no longer measured (shown as unknown,
        # never as the 0 ms of a replayed frame)
        self.last = base.with_(stale=True, on_target=False, status=self.status_text, pose_age_ms=math.nan)
        self.latest.put(self.last)
