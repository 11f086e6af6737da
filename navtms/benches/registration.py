"""`navtms bench registration`: registration accuracy and speed on the sample head.

Simulated sessions: the sample head's planned fiducials (data/sample_head/fiducials.csv) are
"touched" in a random tracker pose with an isotropic fiducial localisation error of RMS FLE
(3D; per axis FLE/sqrt(3)); head points are drawn on the scalp (forehead, nose bridge and
scalp above the ears) with 1 mm noise per axis plus a few outliers 10-30 mm off the skin.
Figures:
- scalp surface time (sample 1.5 mm head, and the 1 mm original when pydeface is installed);
- FRE (simulated vs expected) and TRE at the target (simulated vs Fitzpatrick prediction);
- ICP time for 200 head points on the ~100k-triangle scalp;
- TRE at a DLPFC-like target (20 mm under the left frontal scalp) with the 3 fiducials alone
  and with 3 fiducials + 50 head points (surface fit with the fiducials as anchors).
Figures only; nothing is asserted (shared, noisy machines).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

NAME = "registration"
HELP = "registration figures: FRE/TRE on simulated sessions, ICP and scalp-surface time"

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample_head"


def dlpfc_like_target(scalp, depth_mm: float = 20.0) -> np.ndarray:
    """A point `depth_mm` under the left frontal scalp (mri mm): the scalp vertex farthest along
    left-anterior-superior from the head centre, moved inwards along its normal."""
    v, n = scalp.vertices, scalp.normals
    top = v[:, 2].max()
    c = v[v[:, 2] > top - 100].mean(axis=0)
    d = np.array([-0.55, 0.55, 0.63])
    d /= np.linalg.norm(d)
    u = (v - c) / np.linalg.norm(v - c, axis=1, keepdims=True)
    i = int(np.argmax(u @ d))
    return v[i] - depth_mm * n[i]


def head_point_pool(scalp) -> tuple[np.ndarray, np.ndarray]:
    """Indices of scalp vertices an operator would digitise: scalp above the ears and the face
    above the nose tip (brow, nose bridge)."""
    v = scalp.vertices
    dome = np.nonzero(v[:, 2] > v[:, 2].max() - 100)[0]
    face = np.nonzero((v[:, 1] > v[:, 1].max() - 40) & (v[:, 2] > -90))[0]
    return dome, face


def simulate(scalp, index, fid_mri, target, fle_mm, n_head, rng, head_noise_mm=1.0, n_out=0):
    """One simulated session. Returns (fre_mm, tre_fiducials_mm, tre_icp_mm or nan, icp_seconds,
    predicted_tre_icp_mm or nan)."""
    from navcore.transforms import apply, random_rigid
    from registration.icp import icp_register
    from registration.paired_point import rigid_fit

    T_tracker_from_mri = random_rigid(rng, 500)
    sigma = fle_mm / np.sqrt(3.0)
    fid_trk = apply(T_tracker_from_mri, fid_mri + rng.normal(0, sigma, fid_mri.shape))
    T_fid = rigid_fit(fid_mri, fid_trk)
    fre = float(np.sqrt(np.mean(np.sum((apply(T_fid, fid_trk) - fid_mri) ** 2, axis=1))))
    truth = apply(T_tracker_from_mri, target)
    tre_fid = float(np.linalg.norm(apply(T_fid, truth) - target))
    if n_head == 0:
        return fre, tre_fid, float("nan"), 0.0, float("nan")
    dome, face = head_point_pool(scalp)
    n_face = max(n_head // 4, 3)
    sel = np.concatenate([rng.choice(dome, n_head - n_face, replace=False), rng.choice(face, n_face, replace=False)])
    pts = scalp.vertices[sel] + rng.normal(0, head_noise_mm, (len(sel), 3))
    if n_out:
        k = rng.choice(len(sel), n_out, replace=False)
        pts[k] += scalp.normals[sel[k]] * rng.uniform(10, 30, (n_out, 1))
    t0 = time.perf_counter()
    res = icp_register(index, apply(T_tracker_from_mri, pts), T_fid, fiducials_a=fid_mri, fiducials_b=fid_trk,
                       point_sigma_mm=head_noise_mm, fiducial_sigma_mm=sigma)
    dt = time.perf_counter() - t0
    tre_icp = float(np.linalg.norm(apply(res.T_a_from_b, truth) - target))
    return fre, tre_fid, tre_icp, dt, float(res.predicted_tre(target)[0])


def _time_surface(path, repeats):
    from navcore.mri import load_mri
    from targets.surfaces import scalp_surface

    mri = load_mri(path)
    times, cpu = [], []
    surf = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        surf = scalp_surface(mri)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return surf, min(times), float(np.median(times)), min(cpu)


def run(json_out: bool = False, quick: bool = False) -> dict:
    from navcore.points import read_points
    from registration.icp import SurfaceIndex
    from registration.tre import expected_fre, predicted_tre

    rep = 1 if quick else 3
    trials = 30 if quick else 200
    fle = 2.0
    out: dict = {"fle_mm": fle, "trials": trials}

    scalp, t_min, t_med, c_min = _time_surface(SAMPLE / "head_t1.nii.gz", rep)
    out["scalp_surface_sample_1p5mm_s"] = {"min": t_min, "median": t_med, "cpu_min": c_min,
                                           "triangles": scalp.n_triangles}
    try:
        import pydeface

        orig = Path(pydeface.__file__).parent / "data" / "mean_reg2mean.nii.gz"
        if orig.exists():
            s1, t1_min, t1_med, c1_min = _time_surface(orig, rep)
            out["scalp_surface_original_1mm_s"] = {"min": t1_min, "median": t1_med, "cpu_min": c1_min,
                                                   "triangles": s1.n_triangles}
    except ImportError:
        pass

    index = SurfaceIndex.build(scalp)
    fid = read_points(SAMPLE / "fiducials.csv", frame="mri").positions
    target = dlpfc_like_target(scalp)
    out["target_mri_mm"] = target.round(2).tolist()
    rng = np.random.default_rng(2024)

    fre, tre_fid, tre_icp, t_icp, pred_icp = [], [], [], [], []
    for _ in range(trials):
        f, a, b, dt, pr = simulate(scalp, index, fid, target, fle, 50, rng, n_out=3)
        fre.append(f)
        tre_fid.append(a)
        tre_icp.append(b)
        pred_icp.append(pr)
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    out["fre_mm"] = {"simulated_rms": rms(fre), "expected": expected_fre(len(fid), fle)}
    out["tre_at_target_3_fiducials_mm"] = {"simulated_rms": rms(tre_fid),
                                           "predicted_fitzpatrick": float(predicted_tre(fid, target, fle)[0]),
                                           "p95": float(np.percentile(tre_fid, 95))}
    out["tre_at_target_3_fiducials_plus_50_head_points_mm"] = {"simulated_rms": rms(tre_icp),
                                                               "p95": float(np.percentile(tre_icp, 95)),
                                                               "predicted_rms": rms(pred_icp)}

    for _ in range(3 if quick else 20):
        _, _, _, dt, _ = simulate(scalp, index, fid, target, fle, 200, rng, n_out=5)
        t_icp.append(dt)
    out["icp_200_points_s"] = {"median": float(np.median(t_icp)), "max": float(np.max(t_icp))}

    if not json_out:
        s = out["scalp_surface_sample_1p5mm_s"]
        print(f"scalp surface, sample head 1.5 mm: {s['min']:.2f} s wall, {s['cpu_min']:.2f} s CPU "
              f"(min of {rep}), {s['triangles']} triangles")
        if "scalp_surface_original_1mm_s" in out:
            s = out["scalp_surface_original_1mm_s"]
            print(f"scalp surface, original 1 mm head:  {s['min']:.2f} s wall, {s['cpu_min']:.2f} s CPU "
                  f"(min of {rep}), {s['triangles']} triangles")
        print(f"simulated sessions: {trials}, FLE {fle} mm RMS; target 20 mm under the left frontal scalp at "
              f"({target[0]:.1f}, {target[1]:.1f}, {target[2]:.1f}) mri mm")
        print(f"FRE (3 fiducials): simulated {out['fre_mm']['simulated_rms']:.2f} mm RMS, "
              f"expected {out['fre_mm']['expected']:.2f} mm")
        t3 = out["tre_at_target_3_fiducials_mm"]
        print(f"TRE at target, 3 fiducials: simulated {t3['simulated_rms']:.2f} mm RMS (p95 {t3['p95']:.2f}), "
              f"Fitzpatrick prediction {t3['predicted_fitzpatrick']:.2f} mm")
        t4 = out["tre_at_target_3_fiducials_plus_50_head_points_mm"]
        print(f"TRE at target, 3 fiducials + 50 head points (1 mm noise, 3 outliers): "
              f"{t4['simulated_rms']:.2f} mm RMS (p95 {t4['p95']:.2f}), first-order prediction {t4['predicted_rms']:.2f} mm")
        print(f"ICP, 200 head points on {scalp.n_triangles} triangles: median {out['icp_200_points_s']['median'] * 1000:.0f} ms, "
              f"max {out['icp_200_points_s']['max'] * 1000:.0f} ms")
    return out
