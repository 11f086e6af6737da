"""Digitise an EEG cap with the tracked pointer in a session, and the labels the viewer shows.

digitise_cap: the operator touches each electrode (and the cap's nasion/LPA/RPA when asked) with
the pointer; points are collected in the head reference frame (navtms.workflow.collect_point:
median of N samples, refused while a body is hidden or the pointer moves), then mapped into the
MRI with the session's registration (T_mri_from_head). Written into the session folder:
electrodes_head.csv (frame head) and, when registered, electrodes_mri.csv (frame mri).
scalp_labels: the labels drawn on the scalp: the session's digitised cap when there is one,
else the plan's computed 10-20 positions (targets.scalp_rules.ten_twenty) when it has fiducials.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from navcore.errors import SessionError
from navcore.points import NamedPoints, write_points
from navtms.session import Session

ELECTRODES_HEAD = "electrodes_head.csv"
ELECTRODES_MRI = "electrodes_mri.csv"


def digitise_cap(session: Session, read_poses, labels: Sequence[str], input_fn: Optional[Callable[[str], str]] = None,
                 print_fn: Callable[[str], None] = print, n: int = 20) -> tuple[NamedPoints, Optional[NamedPoints]]:
    """Collect `labels` with the pointer; write them into the session; return (head, mri or None).
    'q' (or Ctrl-D) at a prompt keeps the electrodes touched so far (none: "stopped by the operator")."""
    from navtms.workflow import OperatorStopped, collect_fiducials_interactive

    if session.pointer_tip_mm is None:
        raise SessionError(f"{session.folder}: the pointer tip is not calibrated; run navtms session calibrate --pivot")
    if not labels:
        raise SessionError("no electrode labels to digitise")
    try:
        head = collect_fiducials_interactive(read_poses, session.pointer_tip_mm, list(labels), input_fn, print_fn, n=n)
    except OperatorStopped as e:
        if e.points is None:
            raise SessionError("electrode digitising stopped by the operator before any electrode was touched") from None
        head = e.points
    if not len(head):
        raise SessionError("no electrode was digitised")
    write_points(session.path(ELECTRODES_HEAD), head)
    mri = None
    if session.registration is not None:
        mri = head.transformed(session.registration.T_mri_from_head, "mri")
        write_points(session.path(ELECTRODES_MRI), mri)
    return head, mri


def scalp_labels(session: Session, plan) -> list[tuple[str, np.ndarray]]:
    """(label, mri mm) pairs to draw on the scalp (see the module docstring); [] when none."""
    from navcore.points import read_points

    f = session.path(ELECTRODES_MRI)
    if f.is_file():
        pts = read_points(f, frame="mri")
        return [(n, pts[n]) for n in pts.names]
    if plan is None or plan.scalp is None or len(plan.fiducials) < 3:
        return []
    from targets.planner import fiducial_lookup
    from targets.scalp_rules import ten_twenty

    look = fiducial_lookup(plan.fiducials)
    if not {"nasion", "lpa", "rpa"} <= set(look):
        return []
    try:
        tt = ten_twenty(plan.scalp, look["nasion"], look["lpa"], look["rpa"], look.get("inion"))
    except Exception:  # noqa: BLE001 - labels are an aid; a scalp the rule cannot walk shows none
        return []
    return [(n, np.asarray(p, float)) for n, p in tt.positions.items()]
