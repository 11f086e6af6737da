"""Per-tag consistency check of a body pose: find a tag whose corners disagree with the other tags.

Why: a tag PARTLY covered by another object (a coil's marker plate passing in front of the head
reference body) is often still detected and decoded - the detected quad's edge then follows the
occluder's edge, so one or two of its corners are off by a fraction of a pixel to a few pixels.
Its residual under the joint pose stays small because the joint pose bends towards it (measured
on data/demo/coil_approach: 0.2-0.9 px per tag while the body pose was 1-2.7 mm off), so the
tracker's plain outlier-tag threshold (2.5 px) does not catch it.

Test (bodies with >= 3 tags seen):
  1. trigger (clean frames stop here, ~0.03 ms): some tag's RMS residual under the joint pose
     exceeds `trigger_px` and either `trigger_ratio` times the median tag's or `trigger_abs_px`;
  2. screen: leave-one-out LINEARISED at the joint pose - for every tag k at once, one
     Gauss-Newton step from the joint pose using the projection's Jacobian without tag k's rows
     (the normal equations minus tag k's share); matches the exact solve to a few % for the
     sub-mm pose changes that matter here;
  3. exact leave-one-out for the (at most `max_candidates`) tags the screen flags: the pose is
     refined (Levenberg-Marquardt, from the joint pose) from the OTHER tags only and tag k's
     corners are reprojected under it.
Tag k is inconsistent when its RMS error under the others' pose exceeds all of
  - `min_excess_px` (absolute floor),
  - `rel_size` times the tag's mean edge length in px (a pixel error relative to the tag's size is
    what becomes mm of body error, so large tags may be off by more pixels),
  - `noise_ratio` times the noise level, estimated from the others' own fit (so a camera with a
    poor calibration, whose residuals are 1-1.5 px everywhere, does not lose tags),
AND leaving it out moves some body corner by more than `min_shift_mm` (a tag that disagrees but
does not move the pose is harmless and kept). The most inconsistent tag is returned; the caller
drops it and re-solves (and checks again).

With exactly 2 tags there is no "others' pose" worth the name (one tag fixes the rotation only
to degrees), and the pair's mutual disagreement alone cannot tell an occluded tag from a poor
calibration (real webcam with guessed intrinsics: 0.3-1.4 px between any two tags). A tag of a
pair is returned only when the pair disagrees (joint RMS above `pair_factor` times the floors)
AND its quad fits a perspective square clearly worse than the other's (single-tag IPPE residual
above `pair_shape_min_px` and `pair_shape_ratio` times the other's): an occluder's edge often
makes the quad a non-square. With the tracker's min_tags = 2 the body is then reported not
visible rather than with a biased pose. A covered strip that leaves the quad square is not seen.

Pure functions; poses T_camera_from_body 4x4 mm; pixels are image pixels (distorted, as detected).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np
from scipy.spatial.transform import Rotation


@dataclass(frozen=True)
class ConsistencySettings:
    """Thresholds of the per-tag consistency check (pixels are image pixels)."""

    enabled: bool = True
    trigger_px: float = 0.1         # leave-one-out runs only when some tag's joint-pose RMS exceeds this ...
    trigger_ratio: float = 1.4      # ... and this multiple of the median tag's RMS (or trigger_abs_px)
    trigger_abs_px: float = 0.5     # (a wrong planar-flip pose spreads the residuals over all tags)
    screen_ratio: float = 0.7       # linearised leave-one-out flags a tag for the exact one above this share of the limits
    max_candidates: int = 2         # exact leave-one-out for at most this many flagged tags (cost cap)
    min_excess_px: float = 0.2      # a tag is never inconsistent below this error (px RMS over its corners)
    rel_size: float = 0.004         # ... nor below this fraction of its mean edge length (px)
    noise_ratio: float = 4.5        # ... nor below this multiple of the noise level
    noise_floor_px: float = 0.03    # the noise level is never taken lower than this
    min_shift_mm: float = 0.3       # ... nor when leaving it out moves no body corner by more than this (mm)
    pair_shape_min_px: float = 0.15  # 2 tags: ... and the worse quad fits a square worse than this (px RMS) ...
    pair_shape_ratio: float = 8.0    # ... and this many times worse than the other quad
    pair_factor: float = 1.5        # 2 tags: joint-pose RMS of a tag above this times the floors is inconsistent


def _rms(d: np.ndarray) -> np.ndarray:
    """RMS over corners of (N, 4, 2) residuals -> (N,)."""
    return np.sqrt((d ** 2).sum(-1).mean(-1))


def _edge_px(img: np.ndarray) -> np.ndarray:
    """Mean edge length (px) of each (N, 4, 2) quad -> (N,)."""
    return np.linalg.norm(np.roll(img, -1, axis=1) - img, axis=-1).mean(-1)


def _project(obj: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    uv, _ = cv2.projectPoints(obj, rvec, tvec, K, dist)
    return uv.reshape(-1, 2)


def _floor_px(edge_px: float, s: ConsistencySettings) -> float:
    return max(s.min_excess_px, s.rel_size * edge_px)


def square_fit_rms(obj_tag: np.ndarray, img_tag: np.ndarray, K: np.ndarray, dist: np.ndarray) -> float:
    """How well one detected quad (4, 2 px) fits a perspective view of its square (4, 3 mm, body frame):
    RMS px of the best single-tag IPPE pose (inf when IPPE fails). A quad cut by an occluder is
    often not the image of a square (one edge shortened or skewed)."""
    try:
        n, rvecs, tvecs, errs = cv2.solvePnPGeneric(np.ascontiguousarray(obj_tag, np.float64),
                                                    np.ascontiguousarray(img_tag, np.float64), K, dist,
                                                    flags=cv2.SOLVEPNP_IPPE)
    except cv2.error:
        return math.inf
    if not n or errs is None:
        return math.inf
    e = np.ravel(errs)
    e = e[np.isfinite(e)]
    return float(e.min()) if e.size else math.inf


def tag_scores(obj_tags: Sequence[np.ndarray], img_tags: Sequence[np.ndarray], T_camera_from_body: np.ndarray,
               K: np.ndarray, dist: np.ndarray,
               settings: Optional[ConsistencySettings] = None,
               joint_rms_px: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
    """Per-tag inconsistency score (N,): a tag's error under the others' pose divided by its limit
    (> 1 = inconsistent); all zeros when the trigger did not fire; None when disabled or < 2 tags.
    Arguments as for inconsistent_tag."""
    s = settings or ConsistencySettings()
    n = len(obj_tags)
    if not s.enabled or n < 2:
        return None
    if joint_rms_px is not None:
        # the caller's residuals say clean (or no tag stands out): nothing to compute
        jl = [float(v) for v in joint_rms_px]
        top = max(jl)
        if top <= s.trigger_px or (n > 2 and top <= s.trigger_ratio * statistics.median(jl) and top <= s.trigger_abs_px):
            return np.zeros(n)
    obj = np.ascontiguousarray(np.concatenate(obj_tags, axis=0), dtype=np.float64)
    img = np.ascontiguousarray(np.concatenate(img_tags, axis=0), dtype=np.float64).reshape(n, 4, 2)
    rvec0 = cv2.Rodrigues(T_camera_from_body[:3, :3])[0]
    tvec0 = T_camera_from_body[:3, 3].reshape(3, 1).copy()
    if joint_rms_px is None:
        joint = _rms(_project(obj, rvec0, tvec0, K, dist).reshape(n, 4, 2) - img)
    else:
        joint = np.asarray(joint_rms_px, dtype=np.float64)
    edges = _edge_px(img)
    worst = int(np.argmax(joint))
    if joint[worst] <= s.trigger_px:
        return np.zeros(n)
    if n == 2:          # the joint pose splits a pair's disagreement evenly: no ratio trigger
        return _pair_check(obj_tags, img, joint, edges, K, dist, s)
    if joint[worst] <= s.trigger_ratio * statistics.median(joint.tolist()) and joint[worst] <= s.trigger_abs_px:
        return np.zeros(n)
    # screening: leave-one-out linearised at the joint pose (one Jacobian for all tags); only the
    # tags it flags get a real Levenberg-Marquardt leave-one-out solve
    err, limit, shift = linear_leave_one_out(obj, img, rvec0, tvec0, edges, K, dist, s)
    screen = np.where(shift > s.screen_ratio * s.min_shift_mm, err / limit, 0.0)
    candidates = [int(k) for k in np.argsort(-screen)[:s.max_candidates] if screen[k] > s.screen_ratio]
    if not candidates:
        return np.zeros(n)
    err, limit, shift = leave_one_out(obj, img, rvec0, tvec0, edges, K, dist, s, candidates)
    # a tag that moves no body corner by more than min_shift_mm is harmless and kept
    return np.where(shift > s.min_shift_mm, err / limit, 0.0)


def _limit_px(others: np.ndarray, edge_px: float, s: ConsistencySettings) -> float:
    """Inconsistency limit (px) of a tag from the others' residuals (any shape, px) under their pose."""
    m = others.size                      # residual components of the others' fit, 6 of them absorbed by the pose
    noise = max(float(np.sqrt((others ** 2).sum() / max(m - 6, 1))), s.noise_floor_px)
    return max(_floor_px(edge_px, s), s.noise_ratio * noise)


def linear_leave_one_out(obj: np.ndarray, img: np.ndarray, rvec0: np.ndarray, tvec0: np.ndarray,
                         edges_px: np.ndarray, K: np.ndarray, dist: np.ndarray,
                         s: ConsistencySettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """leave_one_out for every tag, with the others' pose taken one Gauss-Newton step from the joint
    pose (the projection's Jacobian there, as Levenberg-Marquardt used it): a cheap screen, exact
    for small pose changes. Same arguments and results as leave_one_out."""
    n = len(img)
    uv, jac = cv2.projectPoints(obj, rvec0, tvec0, K, dist)
    r = (uv.reshape(-1, 2) - img.reshape(-1, 2)).ravel()             # (8n,) px
    J = jac[:, :6]                                                    # d(u, v)/d(rvec, tvec)
    Jt = J.reshape(n, 8, 6)
    rt = r.reshape(n, 8)
    # all n leave-one-out Gauss-Newton steps at once: normal equations minus tag k's share
    A = (J.T @ J)[None] - np.einsum("kai,kaj->kij", Jt, Jt)          # (n, 6, 6)
    g = (J.T @ r)[None] - np.einsum("kai,ka->ki", Jt, rt)             # (n, 6)
    err, limit, shift = np.zeros(n), np.full(n, np.inf), np.zeros(n)
    ok = np.linalg.cond(A) < 1e12
    if not np.any(ok):
        return err, limit, shift
    d = np.zeros((n, 6))
    d[ok] = -np.linalg.solve(A[ok], g[ok][..., None])[..., 0]
    res = (r[None] + d @ J.T).reshape(n, n, 8)                        # [k]: all residuals, tag k left out
    sq = (res ** 2).sum(-1)                                           # (n, n) per tag sums of squares
    own = sq[np.arange(n), np.arange(n)]
    err_all = np.sqrt(own / 4.0)
    m = 8 * (n - 1)
    noise = np.maximum(np.sqrt((sq.sum(1) - own) / max(m - 6, 1)), s.noise_floor_px)
    lim_all = np.maximum(np.maximum(s.min_excess_px, s.rel_size * edges_px), s.noise_ratio * noise)
    R0 = Rotation.from_rotvec(rvec0.ravel()).as_matrix()
    Rk = Rotation.from_rotvec(rvec0.ravel()[None] + d[:, :3]).as_matrix()   # (n, 3, 3)
    disp = np.einsum("kij,pj->kpi", Rk - R0[None], obj) + d[:, None, 3:]
    shift_all = np.linalg.norm(disp, axis=-1).max(1)
    err[ok], limit[ok], shift[ok] = err_all[ok], lim_all[ok], shift_all[ok]
    return err, limit, shift


def leave_one_out(obj: np.ndarray, img: np.ndarray, rvec0: np.ndarray, tvec0: np.ndarray, edges_px: np.ndarray,
                  K: np.ndarray, dist: np.ndarray, s: ConsistencySettings,
                  candidates: Optional[Sequence[int]] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of n tags k (only those in `candidates` when given; the others get err 0, limit
    inf, shift 0): (err px, limit px, shift mm), each (n,).

    obj (4n, 3) body corners mm; img (n, 4, 2) detected corners px; rvec0/tvec0 the joint pose
    (Rodrigues, mm); edges_px (n,) mean tag edge lengths. err: RMS of tag k's corners under the
    pose refined from the other tags; limit: the largest of the floors (module docstring); shift:
    largest displacement (mm) of a body corner between the joint pose and the others' pose."""
    n = len(img)
    R0 = cv2.Rodrigues(rvec0)[0]
    err, limit, shift = np.zeros(n), np.full(n, np.inf), np.zeros(n)
    for k in (range(n) if candidates is None else candidates):
        k = int(k)
        keep = [j for j in range(n) if j != k]
        o = np.ascontiguousarray(obj.reshape(n, 4, 3)[keep].reshape(-1, 3))
        i = np.ascontiguousarray(img[keep].reshape(-1, 2))
        rvec, tvec = cv2.solvePnPRefineLM(o, i, K, dist, rvec0.copy(), tvec0.copy())
        if not (np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec))):
            continue
        res = _project(obj, rvec, tvec, K, dist).reshape(n, 4, 2) - img
        err[k] = float(_rms(res[k:k + 1])[0])
        limit[k] = _limit_px(res[keep], float(edges_px[k]), s)
        R = cv2.Rodrigues(rvec)[0]
        shift[k] = float(np.linalg.norm(obj @ (R - R0).T + (tvec - tvec0).ravel(), axis=1).max())
    return err, limit, shift


def inconsistent_tag(obj_tags: Sequence[np.ndarray], img_tags: Sequence[np.ndarray], T_camera_from_body: np.ndarray,
                     K: np.ndarray, dist: np.ndarray,
                     settings: Optional[ConsistencySettings] = None,
                     joint_rms_px: Optional[np.ndarray] = None) -> Optional[int]:
    """Index of the tag that disagrees with the others (see module docstring), or None.

    obj_tags: per tag (4, 3) body-frame corners, mm; img_tags: per tag (4, 2) detected corners, px;
    T_camera_from_body: 4x4 mm, the pose solved from all of them; K (3, 3) px and dist: the camera;
    joint_rms_px: optional (N,) RMS px of each tag's corners under T_camera_from_body, when the
    caller has them (saves the check's own projection on clean frames)."""
    scores = tag_scores(obj_tags, img_tags, T_camera_from_body, K, dist, settings, joint_rms_px)
    if scores is None or not scores.size:
        return None
    k = int(np.argmax(scores))
    return k if scores[k] > 1.0 else None


def _pair_check(obj_tags: Sequence[np.ndarray], img: np.ndarray, joint: np.ndarray, edges: np.ndarray,
                K: np.ndarray, dist: np.ndarray, s: ConsistencySettings) -> Optional[int]:
    """2 tags: inconsistent when a tag's joint-pose RMS exceeds pair_factor times its floor; the tag
    whose quad fits a square worse is returned."""
    limits = np.array([s.pair_factor * _floor_px(float(e), s) for e in edges])
    excess = joint / limits
    scores = np.zeros(2)
    if not np.any(excess > 1.0):
        return scores
    shape = np.array([square_fit_rms(obj_tags[k], img[k], K, dist) for k in range(2)])
    bad = int(np.argmax(shape))
    if shape[bad] > s.pair_shape_min_px and shape[bad] > s.pair_shape_ratio * max(shape[1 - bad], s.noise_floor_px):
        scores[bad] = float(excess.max())
    return scores


def outlier_tag(obj_tags: Sequence[np.ndarray], img_tags: Sequence[np.ndarray], T_camera_from_body: np.ndarray,
                K: np.ndarray, dist: np.ndarray, joint_rms_px: np.ndarray, ratio: float = 3.0, floor_px: float = 1.0,
                pair_limit_px: float = 2.5, settings: Optional[ConsistencySettings] = None) -> Optional[int]:
    """A GROSS outlier tag, relative to the others (the tracker's first check, before inconsistent_tag).

    >= 3 tags: the worst tag (joint_rms_px, (N,) px under T_camera_from_body) when its RMS exceeds
    both floor_px and ratio x the median of the other tags' RMS, AND the pose refined from the other
    tags still disagrees with it (leave_one_out: its error above the noise-relative limit and
    floor_px). No fixed pixel limit: with a poorly fitting camera every tag fits at 1.5-2.5 px (real
    webcam, guessed focal length) and dropping one moved the pose 5.6 mm. 2 tags: the worse one
    above pair_limit_px (a pair has no "others"). Arguments otherwise as for inconsistent_tag."""
    s = settings or ConsistencySettings()
    per_tag = np.asarray(joint_rms_px, np.float64)
    n = len(per_tag)
    if n < 2:
        return None
    worst = int(np.argmax(per_tag))
    if n == 2:
        return worst if per_tag[worst] > pair_limit_px else None
    others = per_tag.tolist()
    del others[worst]
    if per_tag[worst] <= max(floor_px, ratio * statistics.median(others)):
        return None
    img = np.ascontiguousarray(np.stack(img_tags), np.float64).reshape(n, 4, 2)
    obj = np.ascontiguousarray(np.concatenate(obj_tags, axis=0), np.float64)
    rvec = cv2.Rodrigues(T_camera_from_body[:3, :3])[0]
    err, limit, _ = leave_one_out(obj, img, rvec, T_camera_from_body[:3, 3].reshape(3, 1).copy(), _edge_px(img),
                                  K, dist, s, [worst])
    return worst if err[worst] > max(limit[worst], floor_px) else None
