"""Regenerate data/demo/: the recorded session that `navtms demo` replays.

What a real session on the sample head would have recorded, rendered with known truth:
- `fiducials_head.csv`: nasion, LPA, RPA touched with a tracked pointer, in the head-reference
  body frame (`head`), with localisation noise (FLE 1 mm RMS, seeded);
- `head_points.csv`: 80 points swept over the scalp (face excluded), 0.7 mm noise, plus 4
  outliers lifted 8-15 mm off the scalp (hair, a slipped pointer), frame `head`;
- `coil_approach/`: a 1280x720 webcam-like video (tracking.synthetic.renderer, H.264) of the head
  reference body and the coil body while the operator brings the coil from the side onto the
  planned left-DLPFC placement (dlpfc-fox2012), holds it there (hand tremor, head drifting a
  few mm) through two 10 Hz trains, a hand briefly covering the coil between them, then lifts
  the coil out of view; with camera.json and the true poses (truth.csv);
- `coil_points.csv`: the coil calibration touches (centre, handle, side) in the coil-body frame;
- `pulse_times.csv`: when the stimulator fired (recorded clock);
- `truth.json`: the true T_mri_from_head and the true coil offsets from the plan during the
  hold, so tests can check that the demo's reported errors are the truth.

The plan is made exactly as `navtms demo` makes it (targets.planner.build_plan on
data/sample_head with its fiducials), so the recording lands on what the demo plans.

Usage:  pip install -e .[data] && python scripts/make_demo_data.py [--out data/demo] [--force]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.fileio import atomic_write_text, write_json
from navcore.points import NamedPoints, read_points, write_points_csv
from navcore.transforms import apply, invert, make_transform
from targets.planner import PlanOptions, TargetRequest, build_plan
from tracking.bodies import load_body
from tracking.synthetic.renderer import Occlusion, RenderEffects
from tracking.synthetic.files import webcam_camera, write_sequence
from tracking.synthetic.motion import Scenario, spline_trajectory

REPO = Path(__file__).resolve().parents[1]
SEED = 20261124
FPS = 30.0
SECONDS = 10.0
TARGET = "dlpfc-fox2012"
# Coil body plate: mounted on the back of the coil, 40 mm towards the handle, 55 mm behind the face.
T_COIL_FROM_COILBODY = make_transform(np.eye(3), [0.0, 40.0, -55.0])
# While held on target, the coil sits this far off the plan (coil frame: x, y in mm; tilt, twist in deg).
HOLD_OFFSET_MM = (1.2, -0.8)
HOLD_TILT_DEG = 1.5
HOLD_TWIST_DEG = 3.0
PULSE_TRAINS_S = ((5.6, 10), (7.6, 10))  # (start, pulses) at 10 Hz
OCCLUSION_S = (6.75, 7.35)


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def look_at(eye, target, down):
    """T_mri_from_camera for an OpenCV camera at `eye` looking at `target`, image y along `down`."""
    z = unit(np.asarray(target) - eye)
    y = unit(np.asarray(down) - np.dot(down, z) * z)
    x = np.cross(y, z)
    return make_transform(np.column_stack([x, y, z]), eye)


def coil_offset(dx, dy, dz, tilt_deg, twist_deg, tilt_axis_deg=30.0):
    """T_plannedcoil_from_coil: a shift (mm, planned-coil frame), a tilt of +z about an in-plane
    axis, and a twist about +z."""
    a = np.deg2rad(tilt_axis_deg)
    tilt = Rotation.from_rotvec(np.deg2rad(tilt_deg) * np.array([np.cos(a), np.sin(a), 0.0]))
    twist = Rotation.from_rotvec([0.0, 0.0, np.deg2rad(twist_deg)])
    return make_transform((tilt * twist).as_matrix(), [dx, dy, dz])


def head_motion(t, rng_phase):
    """M(t) = T_mri_from_mri(t): the head drifting about its centre (a few mm, ~1.5 deg), as the
    world sees it; the MRI frame is attached to the head."""
    s = np.sin(2 * np.pi * (t / 9.0) + rng_phase)
    c = np.cos(2 * np.pi * (t / 7.0) + rng_phase)
    R = Rotation.from_euler("xyz", [1.2 * s, 0.8 * c, 1.0 * s * c], degrees=True).as_matrix()
    return make_transform(R, [2.5 * s, 1.5 * c, 1.0 * s])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "data" / "demo")
    ap.add_argument("--force", action="store_true", help="replace an existing folder")
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()) and not args.force:
        raise SystemExit(f"{args.out} exists; pass --force to replace it")
    rng = np.random.default_rng(SEED)

    head_mri = REPO / "data" / "sample_head" / "head_t1.nii.gz"
    fid_path = REPO / "data" / "sample_head" / "fiducials.csv"
    with tempfile.TemporaryDirectory() as cache:
        plan = build_plan(head_mri, [TargetRequest("library", TARGET)], fid_path,
                          opts=PlanOptions(cache_dir=Path(cache)))
    scalp = plan.scalp
    target = plan.targets[0]
    T_mri_from_plannedcoil = np.asarray(target.T_mri_from_coil, float)
    entry = np.asarray(target.entry_mri_mm, float)
    n_in = T_mri_from_plannedcoil[:3, 2]
    fid = read_points(fid_path, frame="mri")
    names = {n.lower(): n for n in fid.names}
    nasion, lpa, rpa = (fid[names[k]] for k in ("nasion", "lpa", "rpa"))
    centre = 0.5 * (lpa + rpa)
    up = unit(np.cross(rpa - lpa, nasion - centre))  # superior
    right = unit(rpa - lpa)
    anterior = unit(np.cross(up, right))

    # Head reference body: on a headband over the right forehead, 25 mm off the skin, tilted
    # 20 deg from facing the camera (as a real mount would be).
    fore = nasion + 55 * up + 35 * right - 5 * anterior
    d_out = unit(fore - (centre + 20 * up))
    head_pos = fore + 25 * d_out

    # Camera: 560 mm out from the entry, 25 deg off the coil axis, looking between coil and head body.
    off_axis = Rotation.from_rotvec(np.deg2rad(25) * unit(np.cross(n_in, up))).as_matrix()
    eye = entry - 560 * (off_axis @ n_in)
    look = 0.6 * entry + 0.4 * head_pos
    T_mri_from_camera = look_at(eye, look, down=-up)
    T_camera_from_mri = invert(T_mri_from_camera)

    z_head = unit(head_pos - eye)  # facing the camera: body +z points away from it
    z_head = Rotation.from_rotvec(np.deg2rad(20) * unit(np.cross(z_head, up))).as_matrix() @ z_head
    y_head = unit(-up - np.dot(-up, z_head) * z_head)
    R_head = np.column_stack([np.cross(y_head, z_head), y_head, z_head])
    T_mri_from_head = make_transform(R_head, head_pos)

    # Coil path relative to the head (frame mri): keyframes of T_plannedcoil_from_coil.
    keys = [
        (0.0, coil_offset(-70, 60, -160, 35, -40)),
        (1.6, coil_offset(-40, 35, -90, 22, -25)),
        (3.0, coil_offset(-12, 10, -30, 10, -12)),
        (4.2, coil_offset(-3, 2, -6, 4, 6)),
        (5.2, coil_offset(HOLD_OFFSET_MM[0], HOLD_OFFSET_MM[1], 0.0, HOLD_TILT_DEG, HOLD_TWIST_DEG)),
    ]
    t = 5.7
    while t < 8.9:  # holding: hand tremor around the hold offset (<= 0.4 mm, 0.4 deg)
        j = rng.normal(0, 0.2, 5)
        keys.append((t, coil_offset(HOLD_OFFSET_MM[0] + j[0], HOLD_OFFSET_MM[1] + j[1], j[2],
                                    HOLD_TILT_DEG + j[3], HOLD_TWIST_DEG + j[4])))
        t += 0.5
    keys.append((9.3, coil_offset(20, -10, -60, 15, 10)))
    keys.append((10.0, coil_offset(250, -60, -220, 40, 30)))  # lifted out of view
    n = int(round(SECONDS * FPS))
    kt = np.array([k[0] for k in keys])
    kp = np.stack([T_mri_from_plannedcoil @ k[1] for k in keys])
    T_mri_from_coil_t = spline_trajectory(kt, kp, FPS, n)

    phase = float(rng.uniform(0, 2 * np.pi))
    times = np.arange(n) / FPS
    M = np.stack([head_motion(tt, phase) for tt in times])  # world drift of the head
    T_camera_from_head_t = np.einsum("ij,njk,kl->nil", T_camera_from_mri, M, T_mri_from_head)
    T_camera_from_coilbody_t = np.einsum("ij,njk,nkl,lm->nim", T_camera_from_mri, M, T_mri_from_coil_t,
                                         T_COIL_FROM_COILBODY)

    camera = webcam_camera(1280, 720)
    bodies = [load_body(REPO / "data" / "bodies" / "coil.json"), load_body(REPO / "data" / "bodies" / "head.json")]
    scenario = Scenario({"coil": T_camera_from_coilbody_t, "head": T_camera_from_head_t}, FPS,
                        (Occlusion("coil", OCCLUSION_S[0], OCCLUSION_S[1], ramp_s=0.15),), {},
                        "navtms demo: coil brought onto the planned left DLPFC placement, held through two "
                        "10 Hz trains (a hand covers the coil between them), then lifted out of view")

    out = args.out
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_sequence(tmp / "coil_approach", camera, bodies, scenario, SEED,
                   RenderEffects(occlusions=scenario.occlusions))

    # Registration input, recorded in the head-body frame.
    T_head_from_mri = invert(T_mri_from_head)
    fle = 1.0 / np.sqrt(3)  # 1 mm RMS per fiducial: careful pointer work
    fid_head = NamedPoints.from_dict({k: apply(T_head_from_mri, fid[k] + rng.normal(0, fle, 3)) for k in fid.names},
                                     frame="head")
    write_points_csv(tmp / "fiducials_head.csv", fid_head)
    v, nv = scalp.vertices, scalp.normals
    ok = np.where((v - centre) @ up > 15.0)[0]  # above the ears and brows: no face
    pick = rng.choice(ok, 84, replace=False)
    pts = v[pick] + nv[pick] * rng.normal(0, 0.7, (84, 1)) + rng.normal(0, 0.3, (84, 3))
    pts[-4:] = v[pick[-4:]] + nv[pick[-4:]] * rng.uniform(8, 15, (4, 1))
    hp = NamedPoints.from_dict({f"hp{i:03d}": apply(T_head_from_mri, p) for i, p in enumerate(pts)}, frame="head")
    write_points_csv(tmp / "head_points.csv", hp)

    # Coil calibration: centre, a point along the handle, a point on the +x side, touched with the
    # pointer and recorded in the coil-body frame (0.3 mm noise).
    T_coilbody_from_coil = invert(T_COIL_FROM_COILBODY)
    touched = {"centre": [0.0, 0.0, 0.0], "handle": [0.0, 60.0, 0.0], "side": [50.0, 0.0, 0.0]}
    write_points_csv(tmp / "coil_points.csv", NamedPoints.from_dict(
        {k: apply(T_coilbody_from_coil, np.array(p)) + rng.normal(0, 0.3, 3) for k, p in touched.items()},
        frame="coilbody"))

    pulse_s = [s + k / 10.0 for s, cnt in PULSE_TRAINS_S for k in range(cnt)]
    atomic_write_text(tmp / "pulse_times.csv", "pulse,time_s\n" + "".join(
        f"{i + 1},{s:.3f}\n" for i, s in enumerate(pulse_s)))
    write_json(tmp / "truth.json", {
        "description": "ground truth of the demo recording (see scripts/make_demo_data.py)",
        "seed": SEED, "target": TARGET, "fps": FPS,
        "T_mri_from_head": T_mri_from_head, "T_coil_from_coilbody": T_COIL_FROM_COILBODY,
        "hold_s": [5.2, 8.9], "hold_offset_mm": list(HOLD_OFFSET_MM), "hold_tilt_deg": HOLD_TILT_DEG,
        "hold_twist_deg": HOLD_TWIST_DEG, "hold_jitter_sigma": 0.2, "occlusion_s": list(OCCLUSION_S),
        "coil_out_of_view_after_s": 9.6, "pulse_times_s": pulse_s,
        "T_mri_from_plannedcoil": T_mri_from_plannedcoil,
    })
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
