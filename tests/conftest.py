"""Shared fixtures. Tests run headless; VTK renders offscreen (EGL)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Shared, noisy 2-core machines: no per-example deadlines (time is never asserted), and in CI
# the examples are derandomized so a run is reproducible.
settings.register_profile(
    "navtms", deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("navtms")

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SHARED_REAL = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def shared_real() -> Path:
    """../shared/data/real (real webcam footage and photos); skips when it is not beside the checkout."""
    if not (SHARED_REAL / "README.md").exists():
        pytest.skip(f"real recordings not found at {SHARED_REAL} (../shared must sit beside the checkout)")
    return SHARED_REAL
