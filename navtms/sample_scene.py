"""The viewer scene of the embedded sample head, for the viewer benchmark and the documentation
snapshots: scalp and brain surfaces of data/sample_head/head_t1.nii.gz and one left
DLPFC-like target with the coil placed by the planner (targets.placement.place_coil: entry
nearest the target, coil +z along the local scalp normal into the head, handle 45 deg
posterior-lateral in the head axes of data/sample_head/fiducials.csv).

Frames and units: `mri` (scanner RAS+ of the sample head), mm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_HEAD = Path(__file__).resolve().parents[1] / "data" / "sample_head"
# a left DLPFC-like spot of the average head (roughly in MNI space), mm in `mri`
SAMPLE_TARGET_MRI_MM = np.array([-38.0, 44.0, 26.0])


def sample_head_scene(target_triangles: int = 60_000, with_brain: bool = True, target_name: str = "L-DLPFC"):
    """(viewer.state.SceneSpec, T_mri_from_plannedcoil (4, 4) mm) of the sample head with its
    one planned target active. Surfaces decimated to about `target_triangles` triangles."""
    from navcore.mri import load_mri
    from navcore.points import read_points
    from targets.placement import HeadAxes, place_coil
    from targets.surfaces import scalp_surface
    from viewer.state import SceneSpec, TargetSpec

    mri = load_mri(SAMPLE_HEAD / "head_t1.nii.gz")
    scalp = scalp_surface(mri, target_triangles=target_triangles)
    brain = None
    if with_brain:
        from targets.brain import brain_surface
        brain = brain_surface(mri, target_triangles=target_triangles)
    fid = read_points(SAMPLE_HEAD / "fiducials.csv", "mri")
    axes = HeadAxes.from_fiducials(fid["nasion"], fid["lpa"], fid["rpa"])
    placed = place_coil(SAMPLE_TARGET_MRI_MM, scalp, axes)
    spec = SceneSpec(scalp=scalp, brain=brain, mri_data=mri.data, T_mri_from_voxel=mri.T_mri_from_voxel,
                     targets=[TargetSpec(target_name, placed.target_mri_mm, placed.entry_mri_mm,
                                         placed.T_mri_from_coil)],
                     active_target=target_name)
    return spec, placed.T_mri_from_coil
