"""Shared helpers of the marker-tracking tests: poses and pose errors, and the default bodies.

Frames and units: T_camera_from_body 4x4, mm; rotation vectors in rad."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from navcore.transforms import rotation_between
from tracking.bodies import load_body


def pose(rotvec, t_mm) -> np.ndarray:
    """T_camera_from_body from a rotation vector (rad) and a translation (mm)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t_mm
    return T


def errors(T_est, T_true):
    """(translation mm, rotation deg) between two T_camera_from_body."""
    return float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3])), float(np.degrees(rotation_between(T_est, T_true)))


@pytest.fixture(scope="session")
def coil(data_dir):
    return load_body(data_dir / "bodies" / "coil.json")


@pytest.fixture(scope="session")
def head(data_dir):
    return load_body(data_dir / "bodies" / "head.json")
