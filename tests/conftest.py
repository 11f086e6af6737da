"""Shared fixtures. Tests run headless; VTK renders offscreen (EGL)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

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
