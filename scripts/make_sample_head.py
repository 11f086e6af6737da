"""Regenerate data/sample_head/head_t1.nii.gz from pydeface's average full-head T1.

Source: `pydeface/data/mean_reg2mean.nii.gz` inside the PyPI package pydeface (MIT licence):
an average T1 of many heads, with scalp, face and ears, 176x256x256 at about 1 mm with an
oblique affine. We resample it to 1.5 mm isotropic on a grid with the SAME oblique
orientation (the affine's direction columns are kept, only the step changes), crop the empty
border, and store it as uint8 (intensities scaled to 0-255), gzip-compressed.

Usage:  pip install -e .[data] && python scripts/make_sample_head.py [--voxel-mm 1.5]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

OUT = Path(__file__).resolve().parents[1] / "data" / "sample_head" / "head_t1.nii.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voxel-mm", type=float, default=1.5)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    import pydeface

    src = Path(os.path.dirname(pydeface.__file__)) / "data" / "mean_reg2mean.nii.gz"
    img = nib.load(str(src))
    data = np.asarray(img.dataobj, dtype=np.float32)
    A = img.affine.astype(np.float64)

    # New grid: same direction cosines, isotropic step, covering the same field of view.
    dirs = A[:3, :3] / np.linalg.norm(A[:3, :3], axis=0)
    old_step = np.linalg.norm(A[:3, :3], axis=0)
    extent = (np.array(data.shape) - 1) * old_step
    new_shape = np.floor(extent / args.voxel_mm).astype(int) + 1
    B = np.eye(4)
    B[:3, :3] = dirs * args.voxel_mm
    B[:3, 3] = A[:3, 3]
    # voxel_old = inv(A) @ B @ voxel_new
    M = np.linalg.inv(A) @ B
    out = ndimage.affine_transform(data, M[:3, :3], offset=M[:3, 3], output_shape=tuple(new_shape),
                                   order=1, mode="constant", cval=0.0)

    # Crop empty border (keep a 3-voxel margin), shifting the affine's origin accordingly.
    thr = 0.05 * np.percentile(out, 99.5)
    idx = np.argwhere(out > thr)
    lo = np.maximum(idx.min(0) - 3, 0)
    hi = np.minimum(idx.max(0) + 4, np.array(out.shape))
    out = out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    B[:3, 3] = B[:3, :3] @ lo + B[:3, 3]

    top = np.percentile(out, 99.9)
    u8 = np.clip(out / top * 255.0, 0, 255).round().astype(np.uint8)
    nimg = nib.Nifti1Image(u8, B)
    nimg.set_qform(B, code=1)
    nimg.set_sform(B, code=1)
    nimg.header["descrip"] = b"navtms sample head from pydeface mean_reg2mean (MIT)"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(".tmp_" + args.out.name)
    nib.save(nimg, str(tmp))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: shape {u8.shape}, voxel {args.voxel_mm} mm, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
