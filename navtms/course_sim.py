"""Simulated treatment course, for tests, docs and training: recorded pose logs of a coil
brought onto a planned target day after day, with a known per-day repositioning offset,
replayed through navtms's real navigation loop (navtms.replay.replay_session), plus a
simulated hotspot search (grid, MEPs in an EMG CSV) and a motor threshold measurement.

Model (all mm, deg at the edges; frames as in DESIGN.md):
- Each day the head reference is re-attached (a new random T_mri_from_head) and the operator
  registers from the plan's fiducials touched with `fiducial_noise_mm` error; the registration
  is the one navtms fits. The operator then follows the navigator: the coil pose the navigator
  reports during the hold is T_mri_from_plannedcoil @ T_plannedcoil_from_coil(day), the day's
  repositioning offset (translation offset_mm and rotation rotvec_deg, in the planned coil
  frame), plus per-frame hand jitter of `jitter_mm` / `jitter_deg` (Gaussian, per axis).
- The coil approaches from 25 mm / 15 deg away in approach_s, then holds; pulses are given in
  trains of `train` pulses at frequency_hz with 1 s between trains, during the hold.
- MEP model for the hotspot search: peak-to-peak amplitude (uV) = peak_uv * exp(-d^2 / (2
  sigma^2)) * lognormal(0, 0.15), d = distance (mm, tangent plane) of the site from the true
  hotspot.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.points import NamedPoints
from navcore.transforms import invert, make_transform
from tracking.poselog import PoseLogWriter
from tracking.types import BodyPose

FPS = 30.0
T_COILBODY_FROM_COIL = make_transform(Rotation.from_rotvec([0.3, 0.0, 0.0]).as_matrix(), [5.0, -40.0, 12.0])
DEFAULT_FIDUCIALS = {"nasion": (0.0, 95.0, 10.0), "lpa": (-75.0, 10.0, -20.0), "rpa": (75.0, 10.0, -20.0)}


@dataclass(frozen=True)
class SimDay:
    """One simulated session: date (YYYY-MM-DD), repositioning offset (3,) mm and rotation
    vector (3,) deg in the planned coil frame, pulses delivered."""

    date: str
    offset_mm: tuple[float, float, float]
    rotvec_deg: tuple[float, float, float]
    pulses: int

    @property
    def T_plannedcoil_from_coil(self) -> np.ndarray:
        return make_transform(Rotation.from_rotvec(np.deg2rad(self.rotvec_deg)).as_matrix(), self.offset_mm)


def default_days() -> list[SimDay]:
    """Five days with 1-3 mm offsets and 1-3 deg rotations, different pulse counts."""
    return [SimDay("2026-11-02", (1.0, 0.5, 0.2), (0.0, 0.0, 2.0), 40),
            SimDay("2026-11-03", (-1.5, 1.0, -0.3), (1.0, 0.0, -1.0), 30),
            SimDay("2026-11-04", (0.5, -2.0, 0.0), (0.0, 1.5, 0.0), 40),
            SimDay("2026-11-05", (2.5, 1.5, 0.4), (-1.0, 0.0, 3.0), 20),
            SimDay("2026-11-06", (-1.0, -1.5, -0.2), (0.0, -1.0, -2.0), 30)]


def _fiducials(plan) -> NamedPoints:
    f = plan.fiducials if plan is not None and len(plan.fiducials) >= 3 else None
    return f if f is not None else NamedPoints.from_dict(DEFAULT_FIDUCIALS, "mri")


def _random_head(rng) -> np.ndarray:
    """T_camera_from_head: the head 550-650 mm in front of the camera, any orientation."""
    return make_transform(Rotation.random(random_state=rng).as_matrix(), [rng.uniform(-40, 40), rng.uniform(-40, 40),
                                                                           rng.uniform(550, 650)])


def _jitter(rng, jitter_mm: float, jitter_deg: float) -> np.ndarray:
    return make_transform(Rotation.from_rotvec(np.deg2rad(rng.normal(0, jitter_deg, 3))).as_matrix(),
                          rng.normal(0, jitter_mm, 3))


def new_registered_session(folder: Path, plan_dir: Path, targets, plan, rng, fiducial_noise_mm: float = 0.5):
    """A session for `targets` naming plan_dir, registered from the plan's fiducials as touched
    on a head whose body sits at a random T_mri_from_head. Returns (session, T_camera_from_head,
    T_mri_from_head_fitted)."""
    from navtms.session import create_session
    from navtms.workflow import register_session

    fid = _fiducials(plan)
    T_mri_from_head = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-60, 60, 3))
    touched = fid.positions + rng.normal(0, fiducial_noise_mm, fid.positions.shape)
    fid_head = NamedPoints(fid.names, (invert(T_mri_from_head) @ np.c_[touched, np.ones(len(touched))].T).T[:, :3],
                           "head")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # the plan path relative to the session, so a plan folder moved with its sessions stays whole
    rel = os.path.relpath(Path(plan_dir).resolve(), folder.resolve())
    s = create_session(folder, targets, plan=rel, T_coilbody_from_coil=T_COILBODY_FROM_COIL)
    s = register_session(s, fid, fid_head)
    return s, _random_head(rng), s.registration.T_mri_from_head


def write_pose_log(path: Path, T_camera_from_head: np.ndarray, T_mri_from_head: np.ndarray,
                   coil_poses_mri: Sequence[np.ndarray], t0_ns: int = 10**9, fps: float = FPS) -> list[int]:
    """A pose log whose frames make the navigator (with registration T_mri_from_head) see the
    given coil poses (4x4 mri). The head drifts slowly. Returns the capture times (ns)."""
    times = []
    T_head_from_mri = invert(T_mri_from_head)
    with PoseLogWriter(path) as w:
        for i, T in enumerate(coil_poses_mri):
            t = t0_ns + int(round(i * 1e9 / fps))
            drift = make_transform(Rotation.from_rotvec([0, 0.0005 * i, 0]).as_matrix(), [0.05 * i, 0, 0])
            T_cam_head = drift @ T_camera_from_head
            T_cam_coilbody = T_cam_head @ T_head_from_mri @ T @ invert(T_COILBODY_FROM_COIL)
            w.write_frame([BodyPose("coil", i, t, True, T_cam_coilbody, 8, 8, 0.2),
                           BodyPose("head", i, t, True, T_cam_head, 8, 8, 0.2)])
            times.append(t)
    return times


def pulse_train_times(start_ns: int, n: int, frequency_hz: float = 10.0, train: int = 10, gap_s: float = 1.0) -> list[int]:
    out, t = [], start_ns
    for k in range(n):
        if k and k % train == 0:
            t += int(round(gap_s * 1e9))
        out.append(t)
        t += int(round(1e9 / frequency_hz))
    return out


def simulate_day(folder: Path, plan_dir: Path, plan, target, day: SimDay, rng, frequency_hz: float = 10.0,
                 jitter_mm: float = 0.15, jitter_deg: float = 0.15, approach_s: float = 1.0,
                 threshold_pct_mso: Optional[float] = None, intensity_pct_mt: float = 120.0,
                 patient: str = "", snapshots: bool = False, plots: bool = False) -> dict:
    """One session folder: registered session, pose log (recording/poses.csv), replay into
    folder/replay, protocol.json. Returns the replay summary."""
    from navtms.session_protocol import Protocol, write_protocol
    from navtms.replay import replay_session

    s, T_cam_head, T_reg = new_registered_session(folder, plan_dir, [target], plan, rng)
    T_plan = target.T_mri_from_coil
    T_hold = T_plan @ day.T_plannedcoil_from_coil
    n_app = int(approach_s * FPS)
    poses = []
    for i in range(n_app):
        a = 1.0 - i / n_app
        off = make_transform(Rotation.from_rotvec(np.deg2rad([15 * a, 5 * a, 0])).as_matrix(), [25 * a, -10 * a, -8 * a])
        poses.append(T_hold @ off)
    times_hold_s = (day.pulses / frequency_hz) + (day.pulses // 10) * 1.0 + 1.0
    for _ in range(int(times_hold_s * FPS) + 2):
        poses.append(T_hold @ _jitter(rng, jitter_mm, jitter_deg))
    rec = folder / "recording"
    rec.mkdir()
    times = write_pose_log(rec / "poses.csv", T_cam_head, T_reg, poses)
    start = times[n_app] + int(0.3e9) + 1_234_567
    pulses = pulse_train_times(start, day.pulses, frequency_hz)
    summary = replay_session(rec / "poses.csv", folder, folder / "replay", pulse_times_ns=pulses,
                             lock_to_target=False, snapshots=snapshots, plots=plots)
    write_protocol(folder, Protocol(day.date, frequency_hz, day.pulses, intensity_pct_mt, threshold_pct_mso,
                                    target=target.name, patient=patient, notes="simulated session"))
    return summary


def simulate_course_sessions(plan_dir: str | Path, target_name: str, days: Sequence[SimDay] = (), seed: int = 0,
                             threshold_pct_mso: Optional[float] = None, patient: str = "SIM-001",
                             sessions_dir: Optional[str | Path] = None, **kw) -> list[Path]:
    """Simulate the course's daily sessions under PLAN_DIR/sessions/day<k>_<date> (or
    sessions_dir). Returns the session folders."""
    import warnings

    from targets.plan import load_plan

    plan_dir = Path(plan_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = load_plan(plan_dir, checksum="skip", load_surfaces=False)
    target = plan.target(target_name)
    base = Path(sessions_dir) if sessions_dir else plan_dir / "sessions"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for k, day in enumerate(days or default_days()):
        folder = base / f"day{k + 1}_{day.date}"
        simulate_day(folder, plan_dir, plan, target, day, rng, threshold_pct_mso=threshold_pct_mso,
                     patient=patient, **kw)
        out.append(folder)
    return out


def expected_repositioning(days: Sequence[SimDay]) -> dict:
    """The simulated spread: rms_mm (RMS distance of the days' offsets from their mean),
    max_pairwise_mm, rms_deg (RMS angle of the days' rotations from their chordal mean) and
    max_pairwise_deg."""
    o = np.array([d.offset_mm for d in days], dtype=np.float64)
    d = np.linalg.norm(o - o.mean(axis=0), axis=1)
    pair = np.linalg.norm(o[:, None] - o[None, :], axis=2)
    R = Rotation.from_rotvec(np.deg2rad([d.rotvec_deg for d in days]))
    ang = np.rad2deg((R.mean().inv() * R).magnitude())
    pa = max(np.rad2deg((R[i].inv() * R[j]).magnitude()) for i in range(len(days)) for j in range(len(days)))
    return {"rms_mm": float(np.sqrt(np.mean(d ** 2))), "max_pairwise_mm": float(pair.max()),
            "rms_deg": float(np.sqrt(np.mean(ang ** 2))), "max_pairwise_deg": float(pa)}


# ----------------------------------------------------------------------------- hotspot search
def mep_model(site_uv: np.ndarray, true_uv: np.ndarray, peak_uv: float = 1500.0, sigma_mm: float = 12.0) -> np.ndarray:
    """Expected MEP (uV) at tangent-plane positions (N, 2) for a hotspot at true_uv (2,) mm."""
    d2 = np.sum((np.asarray(site_uv, float) - np.asarray(true_uv, float)) ** 2, axis=1)
    return peak_uv * np.exp(-d2 / (2 * sigma_mm ** 2))


def simulate_hotspot_search(folder: Path, plan_dir: Path, plan, grid, rng, true_uv=(8.0, -7.0), pulses_per_site: int = 3,
                            emg_delay_ms: float = 1.5) -> dict:
    """A hotspot-search session: the coil visits every grid site (hold 1 s, pulses_per_site
    pulses), replayed; EMG peak-to-peak amplitudes written to folder/emg.csv (times = pulse
    time + emg_delay_ms). Returns {'session', 'emg', 'site_means_uv' (per site, as simulated)}."""
    from navtms.replay import replay_session

    from navcore.fileio import write_json
    from navtms.motor import GRID_FILE

    _s, T_cam_head, T_reg = new_registered_session(folder, plan_dir, list(grid.sites), plan, rng)
    write_json(folder / GRID_FILE, grid.to_json())
    poses, pulse_times, site_of_pulse = [], [], []
    t0 = 10**9
    for k, site in enumerate(grid.sites):
        prev = poses[-1] if poses else site.T_mri_from_coil @ make_transform(np.eye(3), [0, 0, -30])
        for i in range(6):   # move over 0.2 s (straight-line blend of the centres, same orientation)
            T = site.T_mri_from_coil.copy()
            T[:3, 3] = prev[:3, 3] + (site.T_mri_from_coil[:3, 3] - prev[:3, 3]) * (i + 1) / 6
            poses.append(T)
        first_hold = len(poses)
        for _ in range(int(FPS)):
            poses.append(site.T_mri_from_coil @ _jitter(rng, 0.3, 0.3))
        for j in range(pulses_per_site):
            pulse_times.append(t0 + int(round((first_hold + 5 + 8 * j) * 1e9 / FPS)) + 777_000)
            site_of_pulse.append(k)
    rec = folder / "recording"
    rec.mkdir()
    write_pose_log(rec / "poses.csv", T_cam_head, T_reg, poses, t0_ns=t0)
    replay_session(rec / "poses.csv", folder, folder / "replay", pulse_times_ns=pulse_times, lock_to_target=False,
                   snapshots=False, plots=False)
    uv = np.array([[s.u_mm, s.v_mm] for s in grid.sites])
    expect = mep_model(uv, np.asarray(true_uv))
    amps = expect[site_of_pulse] * np.exp(rng.normal(0, 0.15, len(site_of_pulse)))
    lines = ["# simulated EMG: peak-to-peak MEP amplitude per pulse", "time_s,p2p_uv"]
    for t, a in zip(pulse_times, amps):
        te = t + int(emg_delay_ms * 1e6)
        lines.append(f"{te // 10**9}.{te % 10**9:09d},{a:.1f}")
    (folder / "emg.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sp = np.array(site_of_pulse)
    means = np.array([amps[sp == k].mean() for k in range(len(grid.sites))])
    return {"session": folder, "emg": folder / "emg.csv", "site_means_uv": means, "expected_uv": expect}


def simulate_threshold_trials(rng, true_mt_pct: float = 52.0, intensities: Sequence[float] = range(44, 62, 2),
                              slope_pct: float = 1.5, n: int = 10):
    """Threshold trials (navtms.threshold.Trial with MEP uV) from a logistic response curve:
    P(MEP >= 50 uV) = 1 / (1 + exp(-(I - true_mt) / slope))."""
    from navtms.threshold import Trial

    out = []
    for i in intensities:
        p = 1.0 / (1.0 + math.exp(-(i - true_mt_pct) / slope_pct))
        resp = rng.random(n) < p
        mep = np.where(resp, rng.uniform(60, 400, n), rng.uniform(5, 45, n))
        out.append(Trial.from_mep(float(i), [float(round(v, 1)) for v in mep]))
    return out
