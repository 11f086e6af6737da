"""Voxel mask operations shared by the surface builders (scalp, skin edge, brain).

Masks are boolean (I, J, K) voxel arrays of an MRIVolume; connectivity is face (6-) connectivity,
scipy.ndimage.label's default."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def largest_component(mask: np.ndarray) -> np.ndarray | None:
    """The largest face-connected component of a boolean voxel mask (None when it is empty)."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))
