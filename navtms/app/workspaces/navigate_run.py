"""One navigation run of the Navigate workspace: the loop on its threads, logs in the session
folder, the latest ViewState for the display, a key trigger for pulses. No Qt here.

plan_scene(session): the viewer SceneSpec of the session's plan (surfaces, MRI, targets) and its
fiducials (mri mm), for the navigation view.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass
class NavRun:
    """A running navigation. latest: viewer.state.LatestState the loop's viewer sink fills;
    last_output: the newest NavOutput (for the latency figure); key(): a pulse request now."""

    session: Any
    loop: Any
    navigator: Any
    pulses: Any
    latest: Any
    key: Any
    closers: list = field(default_factory=list)
    last_output: Optional[Any] = None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the loop, wait for it, close the logs and the source (idempotent)."""
        self.loop.stop()
        self.loop.join(timeout_s)
        for c in reversed(self.closers):
            try:
                c()
            except Exception:  # noqa: BLE001 - closing must go on for the others
                pass
        self.closers = []


def start_run(session, spec: str) -> NavRun:
    """Open source `spec` and start navigating the registered `session`, logging into the
    session folder as `navtms navigate` does. Raises the library's typed errors on bad input."""
    from navigation.csvlog import CsvLog
    from navigation.loop import NavigationLoop
    from navigation.pulses import PULSE_COLUMNS, KeyTrigger, PulseLog
    from navigation.sinks import CallbackSink, FrameLogSink
    from navtms.replay import build_estimator
    from navtms.session import FRAMES_FILE, PULSES_FILE, TIMING_FILE, make_navigator
    from tracking.filters import PoseFilter
    from tracking.sources import open_source
    from viewer.state import LatestState
    try:
        from viewer.sink import ViewSink
    except ImportError:   # before the one-Tolerances change
        from navigation.sinks import ViewSink

    nav = make_navigator(session)
    live = spec.split(":", 1)[0] in ("camera", "igtl")
    source = open_source(spec) if live else open_source(spec, realtime=True)
    closers = [source.close]
    try:
        estimator = build_estimator(session, source)
        plog = CsvLog(session.path(PULSES_FILE), "pulse", PULSE_COLUMNS)
        closers.append(plog.close)
        pulses = PulseLog(nav, plog, lock_to_target=session.lock_to_target)
        flog = FrameLogSink(session.path(FRAMES_FILE), session.path(TIMING_FILE))
        closers.append(flog.close)
        latest = LatestState()
        run = NavRun(session, None, nav, pulses, latest, None, closers)
        keep = CallbackSink(lambda out: setattr(run, "last_output", out))
        sinks = [flog, keep, ViewSink(latest, session.registration.fre_mm, pulses)]
        loop = NavigationLoop(source, nav, estimator=estimator, pose_filter=PoseFilter() if session.filter else None,
                              sinks=sinks, pulses=pulses, mode="latest", live=live)
        flog.loop = loop
        run.loop = loop
        run.key = KeyTrigger(pulses, clock=loop.clock)
    except Exception:
        for c in reversed(closers):
            c()
        raise
    loop.start()
    return run


def plan_scene(session):
    """(viewer.state.SceneSpec, {fiducial name: (3,) mri mm}) of the session's plan."""
    import warnings

    from navcore.errors import SessionError
    from navcore.mri import load_mri
    from targets.plan import load_plan
    from viewer.state import SceneSpec, TargetSpec

    if not session.plan:
        raise SessionError(f"{session.folder}: the session names no plan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = load_plan(session.resolve(session.plan), checksum="skip")
    if plan.scalp is None:
        raise SessionError(f"{session.plan}: the plan has no scalp surface")
    mri = None
    try:
        mri = load_mri(plan.mri_path)
    except Exception:  # noqa: BLE001 - no slices without the MRI; the rest still works
        mri = None
    ts = [TargetSpec(t.name, t.target_mri_mm, t.entry_mri_mm, t.T_mri_from_coil) for t in plan.targets]
    active = session.targets[session.target_index()].name
    spec = SceneSpec(scalp=plan.scalp, brain=plan.brain, targets=ts, active_target=active,
                     mri_data=None if mri is None else mri.data,
                     T_mri_from_voxel=None if mri is None else mri.T_mri_from_voxel)
    fids = {n: np.asarray(p, float) for n, p in zip(plan.fiducials.names, plan.fiducials.positions)}
    return spec, fids
