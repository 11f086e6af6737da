"""viewer.state: the safety rule for drawing a pose, and the latest-value slot."""
from __future__ import annotations

import numpy as np

from viewer.state import LatestState, SceneSpec, TargetSpec, ViewState


def test_pose_is_current_only_when_seen_fresh_and_with_a_pose():
    ok = ViewState(T_mri_from_coil=np.eye(4), coil_visible=True, head_visible=True)
    assert ok.pose_is_current
    assert not ok.with_(stale=True).pose_is_current
    assert not ok.with_(coil_visible=False).pose_is_current
    assert not ok.with_(head_visible=False).pose_is_current
    assert not ok.with_(T_mri_from_coil=None).pose_is_current
    assert not ViewState().pose_is_current


def test_latest_state_overwrites_and_counts():
    slot = LatestState()
    assert slot.get() == (0, None)
    a, b = ViewState(pulses_delivered=1), ViewState(pulses_delivered=2)
    slot.put(a)
    slot.put(b)
    assert slot.get() == (2, b)


def test_scene_spec_finds_targets_by_name():
    t = TargetSpec("A", np.zeros(3), np.ones(3), np.eye(4))
    spec = SceneSpec(scalp=None, targets=[t])
    assert spec.target("A") is t and spec.target("B") is None and spec.target(None) is None


def test_nan_or_malformed_pose_is_not_a_pose():
    T = np.eye(4)
    T[0, 3] = np.nan
    s = ViewState(T_mri_from_coil=T, coil_visible=True, head_visible=True)
    assert not s.has_pose and not s.pose_is_current
    assert not ViewState(T_mri_from_coil=np.eye(3), coil_visible=True, head_visible=True).has_pose
    assert ViewState(T_mri_from_coil=np.eye(4), coil_visible=True, head_visible=False).has_pose
