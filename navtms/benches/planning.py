"""`navtms bench planning`: planning figures - surface times on a 1 mm head, surface cache,
MNI registration time on the sample head, known-affine registration accuracy.

The 1 mm head is pydeface's `mean_reg2mean.nii.gz` (installed with `pip install navtms[data]`;
skipped when absent). Known-affine accuracy: the MNI template resampled under random affines
(rotation <= 10 deg, translation <= 10 mm, scales 1 +- 5 %) on an oblique 2 mm grid, registered
back at 3 mm; error = distance at 8 cortical landmarks. Figures only; nothing is asserted.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

NAME = "planning"
HELP = "planning figures: scalp/brain surface time (1 mm head), MNI registration time and accuracy"


def _t(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _one_mm_head() -> Path | None:
    try:
        import pydeface
    except ImportError:
        return None
    p = Path(pydeface.__file__).resolve().parent / "data" / "mean_reg2mean.nii.gz"
    return p if p.is_file() else None


def _sample_fiducials() -> dict | None:
    p = Path(__file__).resolve().parents[2] / "data" / "sample_head" / "fiducials.csv"
    if not p.is_file():
        return None
    from navcore.points import read_points

    pts = read_points(p, "mri")
    return {n: pts[n] for n in pts.names}


def run(json_out: bool = False, quick: bool = False) -> dict:
    from navcore.mri import load_mri
    from targets import mni
    from targets.brain import brain_surface, scalp_surface_on_grid
    from targets.surface_cache import cached_scalp
    from targets.surfaces import scalp_surface

    res: dict = {}
    head = _one_mm_head()
    if head is not None:
        mri = load_mri(head)
        res["head_1mm"] = {"file": str(head), "shape": list(mri.shape)}
        s, dt = _t(lambda: scalp_surface_on_grid(mri, 2.0))
        res["scalp_1mm_fast_s"], res["scalp_1mm_fast_triangles"] = dt, s.n_triangles
        if not quick:
            s, dt = _t(lambda: scalp_surface(mri))
            res["scalp_1mm_full_res_decimated_s"], res["scalp_1mm_full_res_triangles"] = dt, s.n_triangles
        b, dt = _t(lambda: brain_surface(mri))
        res["brain_1mm_s"], res["brain_1mm_triangles"] = dt, b.n_triangles
        with tempfile.TemporaryDirectory() as d:
            cached_scalp(mri, cache_dir=d)
            (_, hit), dt = _t(lambda: cached_scalp(mri, cache_dir=d))
            res["scalp_cache_hit_s"] = dt
    sample = Path(__file__).resolve().parents[2] / "data" / "sample_head" / "head_t1.nii.gz"
    mri = load_mri(sample)
    mni.template_images(3.0)  # template load, once per process (not part of a registration)
    c0 = time.process_time()
    reg, dt = _t(lambda: mni.register_mri_to_mni(mri, resolution_mm=3.0))
    res["mni_registration_sample_head_s"] = dt
    res["mni_registration_sample_head_cpu_s"] = time.process_time() - c0  # all threads
    fid = _sample_fiducials()
    if fid:
        reg, dt = _t(lambda: mni.register_mri_to_mni(mri, fiducials=fid, resolution_mm=3.0))
        res["mni_registration_sample_head_fiducials_s"] = dt
    rng = np.random.default_rng(7)
    errs, times = [], []
    for _ in range(1 if quick else 5):
        T = mni.random_test_affine(rng)
        vol = mni.template_under_affine(T)
        r, dt = _t(lambda: mni.register_mri_to_mni(vol, T_init_mri_from_mni=np.eye(4), resolution_mm=3.0))
        e = np.linalg.norm(mni.mni_to_mri(r.T_mri_from_mni, mni.CORTICAL_LANDMARKS_MNI)
                           - mni.mni_to_mri(T, mni.CORTICAL_LANDMARKS_MNI), axis=1)
        errs.append(e)
        times.append(dt)
    e = np.concatenate(errs)
    res["known_affine_runs"] = len(errs)
    res["known_affine_landmark_error_mm_max"] = float(e.max())
    res["known_affine_landmark_error_mm_mean"] = float(e.mean())
    res["known_affine_registration_s_median"] = float(np.median(times))
    if not json_out:
        if head is not None:
            print(f"1 mm head {res['head_1mm']['shape']}:")
            print(f"  scalp (2 mm contour grid)     {res['scalp_1mm_fast_s']:.2f} s, {res['scalp_1mm_fast_triangles']} triangles")
            if "scalp_1mm_full_res_decimated_s" in res:
                print(f"  scalp (1 mm, decimated)       {res['scalp_1mm_full_res_decimated_s']:.2f} s, "
                      f"{res['scalp_1mm_full_res_triangles']} triangles")
            print(f"  brain (skull strip + surface) {res['brain_1mm_s']:.2f} s, {res['brain_1mm_triangles']} triangles")
            print(f"  scalp from the cache          {res['scalp_cache_hit_s'] * 1e3:.1f} ms")
        else:
            print("1 mm head: pydeface not installed (pip install navtms[data]); surface figures skipped")
        print(f"MNI registration, sample head (3 mm), no fiducials (multi-start): "
              f"{res['mni_registration_sample_head_s']:.2f} s wall, {res['mni_registration_sample_head_cpu_s']:.2f} s CPU")
        if "mni_registration_sample_head_fiducials_s" in res:
            print(f"MNI registration, sample head (3 mm), fiducial start: {res['mni_registration_sample_head_fiducials_s']:.2f} s")
        print(f"known-affine recovery, {len(errs)} run(s): landmark error max {e.max():.2f} mm, "
              f"mean {e.mean():.2f} mm; {np.median(times):.2f} s each")
    return res
