"""One navigation run of the Navigate workspace: the loop on its threads, logs in the session
folder, the latest ViewState for the display, a key trigger for pulses. No Qt here.

plan_scene(session): the viewer SceneSpec of the session's plan (surfaces, MRI, targets) and its
fiducials (mri mm), for the navigation view.
"""
from __future__ import annotations

import numpy as np


class NavRun:
    """A running navigation (navigation.wiring.NavigationRun) plus what the screen reads: latest,
    the viewer.state.LatestState its viewer sink fills; last_output, the newest NavOutput (for
    the latency figure); key(), a pulse request now (a refusal comes back with its reason)."""

    def __init__(self, session, run, latest) -> None:
        self.session, self.wired, self.latest = session, run, latest
        self.loop, self.navigator, self.pulses = run.loop, run.navigator, run.pulses
        self.last_output = None

    def key(self):
        return self.wired.pulse()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the loop, wait for it, close the logs and the source (idempotent)."""
        self.wired.stop()
        self.wired.join(timeout_s)
        self.wired.close()


def start_run(session, spec: str) -> NavRun:
    """Start navigating the registered `session` from source `spec` through the one wiring
    (navigation.wiring.build_run, as `navtms navigate`): logs appended in the session folder
    (frames.csv, timing.csv, pulses.csv), the viewer's sink added for the screen. Raises the
    library's typed errors on bad input (nothing is opened then)."""
    from navigation.sinks import CallbackSink
    from navigation.wiring import RunOptions, build_run
    from navtms.session import FRAMES_FILE, PULSES_FILE, TIMING_FILE, navigation_setup
    from viewer.sink import ViewSink
    from viewer.state import LatestState

    setup = navigation_setup(session)
    run = build_run(setup, spec, RunOptions(frames_path=session.path(FRAMES_FILE), pulses_path=session.path(PULSES_FILE),
                                            timing_path=session.path(TIMING_FILE)))
    latest = LatestState()
    nav = NavRun(session, run, latest)
    try:
        run.add_sink(CallbackSink(lambda out: setattr(nav, "last_output", out)))
        run.add_sink(ViewSink(latest, run.fre_mm, run.pulses))
        run.start()
    except BaseException:
        run.close()
        raise
    return nav


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
