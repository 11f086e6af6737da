"""The viewer on the real sample head (data/sample_head/head_t1.nii.gz) with the scalp from
targets.surfaces: the coil is drawn where it projects, and the slices show the brain."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from navcore.mri import load_mri
from navcore.transforms import make_transform
from viewer.state import SceneSpec, TargetSpec, ViewState
from viewer.window import OffscreenViewer
from viewer_synth import coil_blue_mask

SIZE = (400, 300)
TARGET = np.array([-38.0, 44.0, 26.0])   # left DLPFC-like spot of the average head


@pytest.fixture(scope="module")
def scene(data_dir):
    if importlib.util.find_spec("targets.surfaces") is None:
        pytest.skip("targets.surfaces is not available yet")
    from targets.surfaces import scalp_surface

    mri = load_mri(data_dir / "sample_head" / "head_t1.nii.gz")
    scalp = scalp_surface(mri, target_triangles=20_000)
    entry = scalp.vertices[np.argmin(np.linalg.norm(scalp.vertices - TARGET, axis=1))]
    z = (TARGET - entry) / np.linalg.norm(TARGET - entry)
    y = np.array([-1.0, -1.0, 0.0]) - np.dot([-1.0, -1.0, 0.0], z) * z
    y /= np.linalg.norm(y)
    T_plan = make_transform(np.column_stack([np.cross(y, z), y, z]), entry)
    spec = SceneSpec(scalp=scalp, mri_data=mri.data, T_mri_from_voxel=mri.T_mri_from_voxel,
                     targets=[TargetSpec("L-DLPFC", TARGET, entry, T_plan)], active_target="L-DLPFC")
    v = OffscreenViewer(spec, SIZE)
    yield v, spec, mri
    v.close()


def test_sample_head_coil_and_slices(scene):
    v, spec, mri = scene
    T = spec.target("L-DLPFC").T_mri_from_coil
    state = ViewState(T_mri_from_coil=T, coil_visible=True, head_visible=True, distance_mm=0.0,
                      tilt_deg=0.0, twist_deg=0.0, depth_mm=float(np.linalg.norm(TARGET - T[:3, 3])),
                      fre_mm=1.0, predicted_tre_mm=2.0, pose_age_ms=20.0, active_target="L-DLPFC")
    img = v.render(state)
    col, row = v.world_to_pixel(T[:3, 3])
    box = img[int(row) - 10:int(row) + 11, int(col) - 10:int(col) + 11]
    assert coil_blue_mask(box).mean() > 0.3
    # the focus is the target (coil aimed straight at it) and lies in the brain: bright, varied slices
    assert np.allclose(v.layout.slices.focus_mri_mm, TARGET, atol=1e-6)
    for sl in v.layout.slices.slice_arrays():
        c = sl.shape[0] // 2
        assert sl[c, c] > 20 and sl.std() > 10
    img2 = v.render(state.with_(coil_visible=False, T_mri_from_coil=None))
    assert coil_blue_mask(img2[:, : int(0.66 * SIZE[0])]).sum() == 0
    assert math.isfinite(state.depth_mm) and state.depth_mm > 5
