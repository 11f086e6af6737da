"""Subject T1 <-> MNI152 affine registration (SimpleITK) and applying it.

The result is `T_mri_from_mni`: a 4x4 AFFINE (12 dof: rotation, translation, scales, shears -
NOT rigid, do not invert it with navcore.transforms.invert; use numpy.linalg.inv) mapping MNI152
mm (frame `mni`) to the subject's scanner RAS+ mm (frame `mri`).

Method: the MNI152 2009a symmetric template shipped inside the nilearn wheel (skull-stripped T1,
with a brain mask from its grey + white matter maps) is the fixed image, masked; the subject T1
is the moving image. Both are smoothed and resampled to `resolution_mm` (default 3 mm). Mattes
mutual information, random sampling, a similarity stage then an affine stage, each over two
resolution levels (regular-step gradient descent, physical-shift scales). Initialised from
fiducials (similarity fit of the subject's nasion/LPA/RPA to approximate MNI positions) when
given, otherwise from the head's top and centre followed by a coarse multi-start over head
rotations (best_start), so a head tilted in the scanner is still found.

ITK works in LPS; everything is converted back to RAS here, so callers only see `mri`/`mni` RAS mm.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

from navcore.errors import GeometryError, InputFileError, RegistrationError
from navcore.mri import MRIVolume

F_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS (its own inverse)

# Approximate MNI positions (mm) of the anatomical fiducials, for initialisation only
# (the fsaverage fiducials distributed with MNE-Python, fsaverage ~ MNI305 space).
MNI_FIDUCIALS_APPROX = {"nasion": (1.5, 85.1, -34.8), "lpa": (-80.6, -29.1, -41.3), "rpa": (84.4, -28.5, -41.3)}
MNI_BRAIN_TOP_Z = 78.0  # approximate top of the brain in MNI152 (mm)


def template_dir() -> Path:
    import nilearn

    return Path(nilearn.__file__).resolve().parent / "datasets" / "data"


TEMPLATE_T1 = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
TEMPLATE_GM = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
TEMPLATE_WM = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"


@dataclass(frozen=True)
class MNIRegistration:
    """T_mri_from_mni: 4x4 affine (not rigid), MNI mm -> subject mri mm.
    metric: final Mattes MI value (more negative is better). seconds: wall time.
    init: "fiducials", "head-top" or "given"."""

    T_mri_from_mni: np.ndarray
    metric: float
    seconds: float
    init: str
    resolution_mm: float


# ----------------------------------------------------------------------------- numpy <-> sitk
def to_sitk(data: np.ndarray, T_ras_from_voxel: np.ndarray):
    """SimpleITK image (LPS physical space) of a (I, J, K) array with a RAS voxel affine."""
    import SimpleITK as sitk

    A = F_LPS @ np.asarray(T_ras_from_voxel, dtype=np.float64)
    sp = np.linalg.norm(A[:3, :3], axis=0)
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data, dtype=np.float32).transpose(2, 1, 0)))
    img.SetSpacing(tuple(float(s) for s in sp))
    img.SetOrigin(tuple(float(v) for v in A[:3, 3]))
    img.SetDirection(tuple(float(v) for v in (A[:3, :3] / sp).ravel()))
    return img


def _resample_iso(img, spacing_mm: float, interp=None):
    """Smooth (for spacing larger than the input's) and resample onto an isotropic grid with the
    same direction and extent."""
    import SimpleITK as sitk

    sp = np.array(img.GetSpacing())
    if spacing_mm > sp.min() * 1.01:
        sig = np.sqrt(np.maximum((spacing_mm ** 2 - sp ** 2), 0.0)) / 2.355
        img = sitk.SmoothingRecursiveGaussian(img, [float(s) for s in np.maximum(sig, 1e-3)])
    size = np.array(img.GetSize())
    new_size = [int(max(2, np.ceil(n * s / spacing_mm))) for n, s in zip(size, sp)]
    return sitk.Resample(img, new_size, sitk.Transform(), interp or sitk.sitkLinear, img.GetOrigin(),
                         (spacing_mm,) * 3, img.GetDirection(), 0.0, sitk.sitkFloat32)


@lru_cache(maxsize=4)
def template_images(resolution_mm: float = 3.0):
    """(T1, brain mask) of the MNI152 2009a template as SimpleITK images at `resolution_mm`."""
    import nibabel as nib
    import SimpleITK as sitk

    d = template_dir()
    try:
        t1 = nib.load(str(d / TEMPLATE_T1))
        gm = np.asarray(nib.load(str(d / TEMPLATE_GM)).dataobj, dtype=np.float32)
        wm = np.asarray(nib.load(str(d / TEMPLATE_WM)).dataobj, dtype=np.float32)
    except (OSError, FileNotFoundError) as e:
        raise InputFileError(d / TEMPLATE_T1, "the MNI152 template shipped with nilearn cannot be read") from e
    data = np.asarray(t1.dataobj, dtype=np.float32)
    prob = (gm + wm) / max(float(gm.max()), 1.0)
    mask = ndimage.binary_erosion(prob > 0.5, iterations=2)  # inside the brain: no template background
    fixed = _resample_iso(to_sitk(data, t1.affine), resolution_mm)
    m = _resample_iso(to_sitk(mask.astype(np.float32), t1.affine), resolution_mm)
    mask_img = sitk.Cast(m > 0.5, sitk.sitkUInt8)
    return fixed, mask_img


# ----------------------------------------------------------------------------- initialisation
def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """4x4 similarity (rotation, isotropic scale, translation) best mapping src (N, 3) -> dst (N, 3)
    in the least-squares sense (Umeyama). Raises GeometryError when degenerate."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or len(src) < 3:
        raise GeometryError("a similarity fit needs at least 3 matched points")
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    var = (a ** 2).sum() / len(src)
    if var < 1e-6:
        raise GeometryError("the points of a similarity fit coincide")
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2, 2] = -1
    R = U @ D @ Vt
    s = np.trace(np.diag(S) @ D) / var
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = md - s * R @ ms
    return T


def initial_from_fiducials(fiducials) -> np.ndarray:
    """T_mri_from_mni (similarity) from the subject's nasion, lpa, rpa (a mapping name -> (3,) mm;
    names are matched case-insensitively)."""
    fid = {str(k).lower(): np.asarray(v, dtype=np.float64) for k, v in dict(fiducials).items()}
    names = [n for n in ("nasion", "lpa", "rpa") if n in fid]
    if len(names) < 3:
        raise GeometryError("fiducials need nasion, lpa and rpa to initialise the MNI registration")
    src = np.array([MNI_FIDUCIALS_APPROX[n] for n in names])
    dst = np.array([fid[n] for n in names])
    return similarity_fit(src, dst)


def initial_from_head(mri: MRIVolume) -> np.ndarray:
    """T_mri_from_mni (translation only, MRI axes) putting the MNI brain top ~12 mm under the
    subject's head top, centred left-right and front-back on the upper head."""
    from targets.brain import downsample
    from targets.surfaces import head_mask

    small = downsample(mri, max(1, int(round(3.0 / float(np.min(mri.voxel_size_mm))))))
    ijk = np.argwhere(head_mask(small))
    if len(ijk) < 100:
        raise GeometryError(f"{mri.path}: no head found in the MRI")
    xyz = small.voxel_to_mri(ijk)
    top = np.percentile(xyz[:, 2], 99.9)
    upper = xyz[xyz[:, 2] > top - 60.0]
    c = upper.mean(0)
    T = np.eye(4)
    T[:3, 3] = [c[0], c[1] + 10.0, top - 12.0 - MNI_BRAIN_TOP_Z]
    return T


# ----------------------------------------------------------------------------- registration
def _affine_from_sitk(tx) -> np.ndarray:
    """4x4 (LPS) of a SimpleITK matrix-offset transform (maps fixed -> moving points)."""
    import SimpleITK as sitk

    A = sitk.AffineTransform(3)
    A.SetMatrix(tx.GetMatrix())
    A.SetTranslation(tx.GetTranslation())
    A.SetCenter(tx.GetCenter())
    M = np.array(A.GetMatrix()).reshape(3, 3)
    c = np.array(A.GetCenter())
    t = np.array(A.GetTranslation())
    T = np.eye(4)
    T[:3, :3] = M
    T[:3, 3] = t + c - M @ c
    return T


def register_images(fixed, moving, T_moving_from_fixed_lps: np.ndarray, fixed_mask=None, seed: int = 1,
                    iterations: int = 100, affine: bool = True, levels=(2, 1)):
    """Similarity then (if `affine`) affine Mattes-MI registration over the shrink `levels`;
    returns (4x4 LPS moving<-fixed, final metric)."""
    import SimpleITK as sitk

    def run(tx, levels):
        R = sitk.ImageRegistrationMethod()
        R.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        R.SetMetricSamplingStrategy(R.RANDOM)
        R.SetMetricSamplingPercentage(0.25, seed)
        if fixed_mask is not None:
            R.SetMetricFixedMask(fixed_mask)
        R.SetInterpolator(sitk.sitkLinear)
        R.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=iterations,
                                                   relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6)
        R.SetOptimizerScalesFromPhysicalShift()
        R.SetShrinkFactorsPerLevel(levels)
        R.SetSmoothingSigmasPerLevel([max(0.0, (s - 1) * 1.0) for s in levels])
        R.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        R.SetInitialTransform(tx, inPlace=True)
        R.Execute(fixed, moving)
        return tx, R.GetMetricValue()

    T0 = np.asarray(T_moving_from_fixed_lps, dtype=np.float64)
    M0 = T0[:3, :3]
    # similarity stage: start from the closest similarity to the initial matrix
    U, S, Vt = np.linalg.svd(M0)
    R0 = U @ Vt
    s0 = float(np.cbrt(abs(np.linalg.det(M0))))
    centre = np.array(fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in fixed.GetSize()]))
    sim = sitk.Similarity3DTransform()
    sim.SetCenter(centre.tolist())
    sim.SetMatrix(R0.ravel().tolist())
    sim.SetScale(s0)
    sim.SetTranslation((T0[:3, :3] @ centre + T0[:3, 3] - centre).tolist())
    sim, metric = run(sim, list(levels))
    if not affine:
        return _affine_from_sitk(sim), float(metric)
    aff = sitk.AffineTransform(3)
    aff.SetCenter(centre.tolist())
    aff.SetMatrix(sim.GetMatrix())
    aff.SetTranslation(sim.GetTranslation())
    aff, metric = run(aff, list(levels))
    return _affine_from_sitk(aff), float(metric)


def register_mri_to_mni(mri: MRIVolume, fiducials=None, T_init_mri_from_mni: np.ndarray | None = None,
                        resolution_mm: float = 3.0, seed: int = 1) -> MNIRegistration:
    """Affine registration of the subject T1 to MNI152; see the module docstring.

    fiducials: mapping name -> (3,) mri mm with nasion/lpa/rpa (initialisation), or None.
    T_init_mri_from_mni: an explicit initial affine (overrides fiducials).
    Raises RegistrationError when the result is implausible (scales outside 0.7-1.5)."""
    t0 = time.perf_counter()
    if T_init_mri_from_mni is not None:
        T_init, init = np.asarray(T_init_mri_from_mni, dtype=np.float64), "given"
    elif fiducials is not None:
        T_init, init = initial_from_fiducials(fiducials), "fiducials"
    else:
        T_init, init = initial_from_head(mri), "head-top"
    fixed, mask = template_images(float(resolution_mm))
    moving = _resample_iso(to_sitk(mri.data, mri.T_mri_from_voxel), float(resolution_mm))
    if init == "head-top":  # no anatomical orientation known: coarse multi-start over head rotations
        T_init = best_start(mri, T_init, seed)
    T_lps, metric = register_images(fixed, moving, F_LPS @ T_init @ F_LPS, mask, seed=seed)
    T = F_LPS @ T_lps @ F_LPS
    check_plausible(T, mri.path)
    return MNIRegistration(T_mri_from_mni=T, metric=metric, seconds=time.perf_counter() - t0, init=init,
                           resolution_mm=float(resolution_mm))


MULTI_START_DEG = (-40.0, -20.0, 20.0, 40.0)
COARSE_MM = 6.0


def best_start(mri: MRIVolume, T_init_mri_from_mni: np.ndarray, seed: int = 1) -> np.ndarray:
    """The best of several initial T_mri_from_mni: the given one and rotations of it by
    MULTI_START_DEG about each axis through the brain centre, each refined by a quick similarity
    registration at COARSE_MM and ranked by Mattes MI. Makes the registration without fiducials
    work for heads tilted up to ~40 degrees in the scanner."""
    from scipy.spatial.transform import Rotation

    fixed, mask = template_images(COARSE_MM)
    moving = _resample_iso(to_sitk(mri.data, mri.T_mri_from_voxel), COARSE_MM)
    c = mni_to_mri(T_init_mri_from_mni, [0.0, -18.0, 18.0])  # brain centre
    starts = [np.asarray(T_init_mri_from_mni, dtype=np.float64)]
    for axis in np.eye(3):
        for deg in MULTI_START_DEG:
            R = np.eye(4)
            R[:3, :3] = Rotation.from_rotvec(axis * np.deg2rad(deg)).as_matrix()
            R[:3, 3] = c - R[:3, :3] @ c
            starts.append(R @ starts[0])
    best, best_metric = starts[0], np.inf
    for T in starts:
        try:
            T_lps, metric = register_images(fixed, moving, F_LPS @ T @ F_LPS, mask, seed=seed, iterations=40,
                                            affine=False, levels=(1,))
        except RuntimeError:  # SimpleITK: too few samples overlap for this start
            continue
        if metric < best_metric:
            best, best_metric = F_LPS @ T_lps @ F_LPS, metric
    return best


def check_plausible(T_mri_from_mni: np.ndarray, path=None) -> np.ndarray:
    """Raise RegistrationError when an MNI affine has scales outside 0.7-1.5 or is not finite."""
    T = np.asarray(T_mri_from_mni, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise RegistrationError("the MNI transform is not a finite 4x4 matrix")
    sv = np.linalg.svd(T[:3, :3], compute_uv=False)
    if sv.min() < 0.7 or sv.max() > 1.5 or np.linalg.det(T[:3, :3]) <= 0:
        where = f"{path}: " if path else ""
        raise RegistrationError(f"{where}the MRI-to-MNI registration failed (implausible scales "
                                f"{np.round(sv, 2).tolist()}); give fiducials or an MNI transform file")
    return T


def mni_to_mri(T_mri_from_mni: np.ndarray, points_mni) -> np.ndarray:
    """MNI mm (N, 3) or (3,) -> subject mri mm with the affine."""
    T = np.asarray(T_mri_from_mni, dtype=np.float64)
    return np.asarray(points_mni, dtype=np.float64) @ T[:3, :3].T + T[:3, 3]


def mri_to_mni(T_mri_from_mni: np.ndarray, points_mri) -> np.ndarray:
    """Subject mri mm (N, 3) or (3,) -> MNI mm (inverse affine)."""
    return mni_to_mri(np.linalg.inv(np.asarray(T_mri_from_mni, dtype=np.float64)), points_mri)


def template_under_affine(T_mri_from_mni: np.ndarray, shape=(100, 118, 98), voxel_mm: float = 2.0,
                          grid_rotation_deg=(5.0, -4.0, 7.0)) -> MRIVolume:
    """The MNI template resampled as a 'subject' whose true transform is `T_mri_from_mni`, on an
    oblique grid (for accuracy tests and benchmarks: the registration should recover it)."""
    import nibabel as nib
    from scipy.spatial.transform import Rotation

    t1 = nib.load(str(template_dir() / TEMPLATE_T1))
    data = np.asarray(t1.dataobj, dtype=np.float32)
    A = np.eye(4)
    A[:3, :3] = Rotation.from_euler("xyz", grid_rotation_deg, degrees=True).as_matrix() * voxel_mm
    A[:3, 3] = -(A[:3, :3] @ (np.array(shape) / 2.0)) + [0, -18, 8]
    M = np.linalg.inv(t1.affine) @ np.linalg.inv(np.asarray(T_mri_from_mni, float)) @ A  # subject voxel -> template voxel
    sub = ndimage.affine_transform(data, M[:3, :3], M[:3, 3], output_shape=tuple(shape), order=1)
    return MRIVolume(sub.astype(np.float32), A, Path("synthetic-mni-subject.nii.gz"))


def random_test_affine(rng: np.random.Generator, max_rotation_deg: float = 10.0, max_translation_mm: float = 10.0,
                       max_scale: float = 0.05) -> np.ndarray:
    """A random T_mri_from_mni: rotation up to `max_rotation_deg` about a random axis, translation
    up to `max_translation_mm` per axis, per-axis scales within 1 +- `max_scale`."""
    from scipy.spatial.transform import Rotation

    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    R = Rotation.from_rotvec(axis * np.deg2rad(rng.uniform(0, max_rotation_deg))).as_matrix()
    T = np.eye(4)
    T[:3, :3] = R @ np.diag(1.0 + rng.uniform(-max_scale, max_scale, 3))
    T[:3, 3] = rng.uniform(-max_translation_mm, max_translation_mm, 3)
    return T


CORTICAL_LANDMARKS_MNI = np.array([[-38, 44, 26], [38, 44, 26], [-37, -21, 58], [37, -21, 58],
                                   [0, -80, 20], [-55, -20, 10], [55, -20, 10], [0, 50, 20]], dtype=float)
