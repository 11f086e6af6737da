"""`navtms demo`: a whole navigated session on the embedded data, end to end, nothing faked.

1. Plan: the sample head MRI (data/sample_head) -> scalp and brain surfaces, MNI152
   registration, the left-DLPFC target dlpfc-fox2012 and its coil placement (targets/).
2. Session: camera, marker bodies, coil calibration from three touched points (registration/).
3. Register: the recorded fiducials and head points (data/demo, head-body frame) -> paired
   points + ICP on the scalp; FRE and predicted TRE at the target.
4. Replay: the recorded coil approach video (data/demo/coil_approach) through the real loop
   (ArUco tracking -> navigator -> pulses at the recorded pulse times) -> report folder.
5. Check against the truth the recording was rendered from (data/demo/truth.json): the true
   target registration error, and how far the reported errors are from the true ones.

The report folder holds plan/, session/ and report/ (frames.csv, pulses.csv, summary.json,
errors.png, bullseye.png, viewer snapshots) and demo.json with the headline figures.
"""
from __future__ import annotations

import csv
import datetime as _dt
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import read_json, write_json
from navcore.points import read_points
from navcore.transforms import apply, invert, rotation_between

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
DEMO = DATA / "demo"
TARGET = "dlpfc-fox2012"


def default_out_dir() -> Path:
    """A new folder in the working directory, named by the time, so nothing is overwritten."""
    return Path.cwd() / ("navtms-demo-" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S"))


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputFileError(out, "exists and is not an empty folder; choose a new --out so nothing is overwritten")
    if not out.parent.is_dir():
        raise InputFileError(out, "its parent folder does not exist")


def _check_data() -> None:
    needed = [DATA / "sample_head" / "head_t1.nii.gz", DATA / "sample_head" / "fiducials.csv",
              DEMO / "fiducials_head.csv", DEMO / "head_points.csv", DEMO / "coil_points.csv",
              DEMO / "pulse_times.csv", DEMO / "truth.json", DEMO / "coil_approach" / "camera.json",
              DATA / "bodies" / "coil.json", DATA / "bodies" / "head.json"]
    for p in needed:
        if not p.exists():
            raise InputFileError(p, "the embedded demo data is missing; reinstall navtms from a full checkout")


def read_pulse_times(path: Path) -> list[int]:
    """Pulse times (ns on the recording's clock) from a CSV with a `time_s` column."""
    try:
        with open(path, newline="") as f:
            return [int(round(float(r["time_s"]) * 1e9)) for r in csv.DictReader(f)]
    except (KeyError, ValueError, TypeError) as e:
        raise InputFileError(path, "is not a pulse-time CSV with a numeric 'time_s' column") from e


def truth_check(session, plan_target, truth: dict, frames_csv: Path, truth_poses: Path) -> dict:
    """Compare what navtms reported with the truth the recording was rendered from.

    true_tre_at_target_mm: the planned target mapped through the estimated vs the true
    T_mri_from_head (registration error at the target). Per frame with a reported coil pose,
    the true T_mri_from_coil is T_mri_from_head(true) @ inv(T_camera_from_head) @
    T_camera_from_coilbody @ T_coilbody_from_coil(true) from the true camera poses; the
    reported pose differs from it by registration + coil calibration + tracking error
    (`total_*`), and, once the registration error is taken out (mapping the report through
    T_true @ inv(T_est)), by coil calibration + tracking error alone (`tracking_*`)."""
    from navigation.csvlog import read_log
    from navcore.transforms import transform_from_pose

    T_est = np.asarray(session.registration.T_mri_from_head)
    T_true = np.asarray(truth["T_mri_from_head"], float)
    T_coilbody_from_coil_true = invert(np.asarray(truth["T_coil_from_coilbody"], float))
    T_fix = T_true @ invert(T_est)  # maps a reported mri point to where it truly is in mri
    tgt = np.asarray(plan_target.target_mri_mm, float)
    poses = np.load(truth_poses)
    total_mm, total_deg, track_mm, track_deg, hold_rep, hold_true = [], [], [], [], [], []
    T_plan = np.asarray(plan_target.T_mri_from_coil, float)
    t0, t1 = truth["hold_s"]
    for r in read_log(frames_csv, "frame"):
        if r.get("visible") != "1" or not r.get("tx_mm"):
            continue
        i = int(r["frame"])
        T_rep = transform_from_pose([float(r[k]) for k in ("tx_mm", "ty_mm", "tz_mm")],
                                    [float(r[k]) for k in ("qw", "qx", "qy", "qz")])
        T_tru = T_true @ invert(poses["head"][i]) @ poses["coil"][i] @ T_coilbody_from_coil_true
        total_mm.append(np.linalg.norm(T_rep[:3, 3] - T_tru[:3, 3]))
        total_deg.append(np.degrees(rotation_between(T_rep, T_tru)))
        T_trk = T_fix @ T_rep
        track_mm.append(np.linalg.norm(T_trk[:3, 3] - T_tru[:3, 3]))
        track_deg.append(np.degrees(rotation_between(T_trk, T_tru)))
        if t0 + 0.3 <= float(r["time_s"]) <= t1 - 0.3:
            hold_rep.append(float(r["distance_mm"]))
            hold_true.append(np.linalg.norm(T_tru[:3, 3] - T_plan[:3, 3]))

    def stats(a):
        a = np.asarray(a, float)
        return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)), "n": int(a.size)} if a.size else None

    return {"true_tre_at_target_mm": float(np.linalg.norm(apply(T_est @ invert(T_true), tgt) - tgt)),
            "true_registration_rotation_deg": float(np.degrees(rotation_between(T_est, T_true))),
            "coil_pose_error_total_mm": stats(total_mm), "coil_pose_error_total_deg": stats(total_deg),
            "coil_pose_error_tracking_mm": stats(track_mm), "coil_pose_error_tracking_deg": stats(track_deg),
            "hold_reported_distance_mm": stats(hold_rep), "hold_true_distance_mm": stats(hold_true)}


def run_demo(out: Optional[Path] = None, headless: bool = True, say: Callable[[str], None] = print) -> dict:
    """Run the demo into `out` (a new folder); returns the headline figures (also demo.json)."""
    from navtms.replay import replay_session
    from navtms.session import create_session
    from navtms.workflow import register_session, registration_report
    from registration.coil_calibration import coil_frame_from_points
    from targets.plan import save_plan
    from targets.planner import PlanOptions, TargetRequest, build_plan

    _check_data()
    out = Path(out) if out is not None else default_out_dir()
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    timings: dict = {}

    say(f"navtms demo -> {out}")
    say(f"[1/4] planning {TARGET} on {DATA / 'sample_head' / 'head_t1.nii.gz'}")
    t = time.perf_counter()
    plan = build_plan(DATA / "sample_head" / "head_t1.nii.gz", [TargetRequest("library", TARGET)],
                      DATA / "sample_head" / "fiducials.csv",
                      opts=PlanOptions(log=lambda m: say("      " + m)))
    save_plan(plan, out / "plan")
    target = plan.target(TARGET)
    timings["plan_s"] = time.perf_counter() - t
    say(f"      target {np.round(target.target_mri_mm, 1).tolist()} mm, entry {np.round(target.entry_mri_mm, 1).tolist()} mm"
        f" ({timings['plan_s']:.1f} s)")

    say("[2/4] session: camera, bodies, coil calibration from touched points")
    coil_pts = read_points(DEMO / "coil_points.csv", frame="coilbody")
    T_coilbody_from_coil = coil_frame_from_points(coil_pts["centre"], coil_pts["handle"], coil_pts["side"])
    session = create_session(out / "session", plan.targets, plan=out / "plan",
                             camera=DEMO / "coil_approach" / "camera.json",
                             bodies={"coil": str(DATA / "bodies" / "coil.json"), "head": str(DATA / "bodies" / "head.json"),
                                     "pointer": str(DATA / "bodies" / "pointer.json")},
                             T_coilbody_from_coil=T_coilbody_from_coil)

    say("[3/4] registering the recorded fiducials and head points")
    t = time.perf_counter()
    fid_head = read_points(DEMO / "fiducials_head.csv", frame="head")
    head_pts = read_points(DEMO / "head_points.csv", frame="head").positions
    session = register_session(session, plan.fiducials, fid_head, head_points=head_pts, scalp=plan.scalp, fle_mm=1.5)
    timings["register_s"] = time.perf_counter() - t
    for line in registration_report(session.registration).splitlines():
        say("      " + line)

    say("[4/4] replaying the recorded coil approach through tracking and navigation")
    t = time.perf_counter()
    summary = replay_session(DEMO / "coil_approach" / "video.mp4", out / "session", out / "report",
                             headless=headless, pulse_times_ns=read_pulse_times(DEMO / "pulse_times.csv"))
    timings["replay_s"] = time.perf_counter() - t

    truth = read_json(DEMO / "truth.json", "demo truth file")
    check = truth_check(session, target, truth, out / "report" / "frames.csv",
                        DEMO / "coil_approach" / "truth_poses.npz")
    rec = session.registration
    result = {
        "out": str(out), "target": TARGET,
        "fre_mm": rec.fre_mm, "predicted_tre_mm": rec.predicted_tre_mm.get(TARGET),
        "registration_method": rec.method, "truth": check, "replay": summary,
        "timings_s": {**timings, "total_s": time.perf_counter() - t_start},
    }
    write_json(out / "demo.json", result)
    p = summary.get("pulses", {})
    say("")
    say(f"FRE {rec.fre_mm:.2f} mm | predicted TRE at target {result['predicted_tre_mm']:.2f} mm | "
        f"true TRE at target {check['true_tre_at_target_mm']:.2f} mm")
    if check["coil_pose_error_total_mm"]:
        tot, trk = check["coil_pose_error_total_mm"], check["coil_pose_error_tracking_mm"]
        say(f"coil pose vs truth: {tot['median']:.2f} mm median ({tot['p95']:.2f} p95) all told; "
            f"{trk['median']:.2f} mm ({trk['p95']:.2f} p95) from tracking and coil calibration alone, "
            f"{check['coil_pose_error_tracking_deg']['median']:.2f} deg")
    if check["hold_reported_distance_mm"]:
        say(f"holding on target: reported distance {check['hold_reported_distance_mm']['median']:.2f} mm, "
            f"true {check['hold_true_distance_mm']['median']:.2f} mm")
    say(f"frames {summary.get('frames')} ({summary.get('frames_visible')} with the coil pose) | pulses fired "
        f"{p.get('fired')}, on target {p.get('on_target')}, coil not visible at {p.get('fired', 0) - p.get('visible', 0)}")
    if summary.get("latency_us"):
        lat = summary["latency_us"]
        say(f"capture->errors latency p50 {lat['p50'] / 1000:.2f} ms, p99 {lat['p99'] / 1000:.2f} ms")
    say(f"report: {out / 'report'}  (summary.json, frames.csv, pulses.csv, *.png)")
    say(f"done in {result['timings_s']['total_s']:.1f} s")
    return result


