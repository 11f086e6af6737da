"""Render the documentation snapshot of the navigation viewer from the sample head.

    python scripts/viewer_snapshot.py [--out docs/img/viewer.png] [--size 1280x720]
                                      [--lost-out docs/img/viewer_lost.png]

Scene: navtms.sample_scene (scalp and brain of data/sample_head/head_t1.nii.gz, a left
DLPFC-like target at mri (-38, 44, 26) mm with the coil placed by the planner, handle 45 deg
posterior-lateral); the live coil 2.5 mm / 4 deg / 7 deg off the plan.
The numbers on screen come from targets.alignment, as the navigation loop does.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from navcore.transforms import make_transform  # noqa: E402
from navtms.sample_scene import sample_head_scene  # noqa: E402
from targets.alignment import alignment  # noqa: E402
from viewer.state import ViewState  # noqa: E402
from viewer.window import save_snapshot  # noqa: E402


def build(size_px=(1280, 720)):
    spec, T_plan = sample_head_scene(target_name="L-DLPFC (F3-like)")
    target_mri_mm = spec.targets[0].target_mri_mm
    R_rel = Rotation.from_rotvec(math.radians(4.0) * np.array([0.6, 0.8, 0.0])).as_matrix() \
        @ Rotation.from_rotvec([0, 0, math.radians(7.0)]).as_matrix()
    T_live = T_plan @ make_transform(R_rel, [2.0, -1.5, -0.5])
    a = alignment(T_plan, T_live, target_mri_mm)
    state = ViewState(T_mri_from_coil=T_live, coil_visible=True, head_visible=True,
                      distance_mm=a.distance_mm, tilt_deg=math.degrees(a.tilt_rad),
                      twist_deg=math.degrees(a.twist_rad), depth_mm=a.depth_mm,
                      fre_mm=1.4, predicted_tre_mm=2.6, pose_age_ms=38.0, stale=False,
                      on_target=False, active_target=spec.active_target, pulses_delivered=12,
                      status="tracking 30 fps")
    return spec, state


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "viewer.png"))
    p.add_argument("--lost-out", default=None, help="also render the same scene with the coil not visible")
    p.add_argument("--size", default="1280x720")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    spec, state = build((w, h))
    print(save_snapshot(args.out, spec, state, (w, h)))
    if args.lost_out:
        lost = state.with_(T_mri_from_coil=None, coil_visible=False, pose_age_ms=float("nan"))
        print(save_snapshot(args.lost_out, spec, lost, (w, h)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
