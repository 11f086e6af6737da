"""viewer.sink: the navigator's one Tolerances reach the screen; the screen never disagrees
with the loop's on-target verdict, and says in words why it is off target.

The loop side is the real Navigator (navigation.navigator) fed with body poses of a known
error (a planned coil pose tilted, twisted and moved by chosen amounts), so the verdict and
the reasons are the loop's own; the screen side is what the 3D view draws (actor texts and
colours, and pixels of an offscreen render)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from navigation.navigator import Navigator, Tolerances
from navloop_helpers import rot
from tracking.types import BodyPose
from viewer.scene import GREEN, metric_grades
from viewer.sink import ViewSink, screen_limits, view_state
from viewer.state import LatestState
from viewer.window import OffscreenViewer
from viewer_synth import synthetic_spec

SIZE = (640, 400)


def _coil_pose(T_plan: np.ndarray, dx_mm: float, tilt_deg: float, twist_deg: float) -> np.ndarray:
    """The planned pose moved dx_mm along its x axis, twisted about its z axis, then tilted
    about its x axis (so the live +z leans by exactly tilt_deg from the planned +z)."""
    R = T_plan[:3, :3] @ rot([1, 0, 0], math.radians(tilt_deg)) @ rot([0, 0, 1], math.radians(twist_deg))
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = T_plan[:3, 3] + dx_mm * T_plan[:3, 0]
    return T


def _poses(T_mri_from_coil: np.ndarray, frame: int = 0) -> dict:
    """Body poses with the head reference at the mri origin (registration = identity)."""
    return {"head": BodyPose("head", frame, frame, True, np.eye(4)),
            "coil": BodyPose("coil", frame, frame, True, T_mri_from_coil)}


@pytest.fixture(scope="module")
def viewer():
    v = OffscreenViewer(synthetic_spec(with_mri=False), SIZE)
    yield v
    v.close()


def _text_box(v, actor, img):
    """Pixels of a text actor of the 3D view (display bounding box, row 0 at the top)."""
    bb = [0.0] * 4
    ren = v.layout.scene.renderer
    actor.GetBoundingBox(ren, bb)
    px, py = actor.GetPositionCoordinate().GetComputedDisplayValue(ren)
    x0, x1, y0, y1 = int(px + bb[0]), int(px + bb[1]), int(py + bb[2]), int(py + bb[3])
    h = img.shape[0]
    return img[max(0, h - 1 - y1):h - max(0, y0), max(0, x0):x1 + 1]


def _green(px):
    return (px[..., 1].astype(int) > 180) & (px[..., 0] < 120) & (px[..., 2] < 150)


def _warm(px):   # amber or red text
    return (px[..., 0].astype(int) > 200) & (px[..., 2] < 90)


def test_tilt_beyond_the_session_tolerance_is_not_green_and_the_reason_is_on_screen(viewer):
    spec = viewer.layout.spec
    target = spec.target("L-DLPFC")
    nav = Navigator([target], np.eye(4), tolerances=Tolerances(distance_mm=3.0, angle_deg=3.0), clock=lambda: 0)
    out = nav.update(_poses(_coil_pose(target.T_mri_from_coil, 1.5, 4.2, 0.0)), 0, 0)
    assert not out.on_target and abs(out.errors.tilt_deg - 4.2) < 1e-9 and abs(out.errors.distance_mm - 1.5) < 1e-9
    latest = LatestState()
    ViewSink(latest, fre_mm=0.9)(out)
    _, state = latest.get()
    assert state.limits.tilt_deg == 3.0 and state.off_target_reasons == ("TILT 4.2 deg > 3.0 deg",)

    img = viewer.render(state)
    scene = viewer.layout.scene
    tilt = scene.metric_texts["tilt"]
    assert "4.2" in tilt.GetInput()
    assert tuple(tilt.GetTextProperty().GetColor()) != GREEN
    tilt_px = _text_box(viewer, tilt, img)
    assert tilt_px.size and _green(tilt_px).sum() == 0 and _warm(tilt_px).sum() > 20
    dist_px = _text_box(viewer, scene.metric_texts["distance"], img)
    assert _green(dist_px).sum() > 20                 # 1.5 mm is inside 3 mm: green
    assert not scene.on_target_text.GetVisibility()
    assert scene.reason_text.GetVisibility() and "TILT 4.2 deg > 3.0 deg" in scene.reason_text.GetInput()
    reason_px = _text_box(viewer, scene.reason_text, img)
    assert reason_px.size and _warm(reason_px).sum() > 50

    # the same pose under a 5 deg session tolerance: green, ON TARGET, no reason
    nav5 = Navigator([target], np.eye(4), tolerances=Tolerances(distance_mm=3.0, angle_deg=5.0), clock=lambda: 0)
    state5 = view_state(nav5.update(_poses(_coil_pose(target.T_mri_from_coil, 1.5, 4.2, 0.0)), 0, 0))
    img5 = viewer.render(state5)
    assert state5.on_target and scene.on_target_text.GetVisibility() and not scene.reason_text.GetVisibility()
    assert _green(_text_box(viewer, tilt, img5)).sum() > 20


def test_bullseye_rings_follow_the_session_tolerance(viewer):
    spec = viewer.layout.spec
    target = spec.target("L-DLPFC")
    for d in (2.0, 5.0):
        nav = Navigator([target], np.eye(4), tolerances=Tolerances(distance_mm=d, angle_deg=3.0))
        viewer.update(view_state(nav.update(_poses(target.T_mri_from_coil), 0, 0)))
        rings = viewer.layout.bullseye.ring_actors
        radii = [a.GetBounds()[1] for a in rings]        # a ring's max x is its radius (mm)
        assert radii[0] == pytest.approx(d, rel=1e-3) and radii[1] == pytest.approx(2 * d, rel=1e-3)
        assert "rings " + f"{d:.3g}" in viewer.layout.bullseye.legend.GetInput()


_tol = st.builds(Tolerances, distance_mm=st.floats(0.5, 8.0), angle_deg=st.floats(0.5, 8.0),
                 twist_deg=st.one_of(st.none(), st.floats(1.0, 20.0)),
                 leave_margin_mm=st.floats(0.0, 2.0), leave_margin_deg=st.floats(0.0, 2.0))
_err = st.tuples(st.floats(0.0, 12.0), st.floats(0.0, 12.0), st.floats(-25.0, 25.0))


@settings(max_examples=60, deadline=None)
@given(tol=_tol, errors=st.lists(_err, min_size=1, max_size=12))
@example(tol=Tolerances(1.0, 1.0, None, 0.0, 1.0), errors=[(0.0, 0.0, 0.0), (2.0, 2.0, 0.0)])   # leaving: tilt
# inside its leave limit but beyond its enter limit is named too
def test_loop_on_target_and_screen_colours_never_disagree(tol, errors):
    spec = synthetic_spec(with_mri=False)
    target = spec.target("L-DLPFC")
    nav = Navigator([target], np.eye(4), tolerances=tol)
    checked = {"distance", "tilt"} | ({"twist"} if tol.twist_deg is not None else set())
    assert screen_limits(tol).band("tilt", False)[0] == tol.angle_deg
    for i, (dx, tilt, twist) in enumerate(errors):
        out = nav.update(_poses(_coil_pose(target.T_mri_from_coil, dx, tilt, twist), i), i, i)
        state = view_state(out)
        grades = metric_grades(state)
        green = {k for k, g in grades.items() if g == "on"}
        assert state.on_target == out.on_target
        if out.on_target:
            assert green == checked and not state.off_target_reasons
        else:
            not_green = checked - green
            assert not_green, f"off target but every checked row is green: {grades}"
            # the rows drawn not green are exactly the ones the loop names, in words
            assert {r.metric.value for r in out.reasons} == not_green
            assert len(state.off_target_reasons) == len(not_green)
        assert grades["twist"] == ("info" if tol.twist_deg is None else grades["twist"])
