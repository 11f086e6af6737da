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



def pytest_unconfigure(config):
    """Keep pytest-xvfb's X server until this process has exited, then stop it.

    VTK's X render window (the workbench's embedded views) opens one X connection of its own
    for the life of the process and closes it in a C++ static destructor, after Python's atexit
    handlers, where pytest-xvfb stops Xvfb. The close then fails and Xlib ends the run with
    exit code 1 after every test passed. A small watcher stops Xvfb once we are gone."""
    import subprocess
    import sys

    xv = sys.modules.get("pytest_xvfb")
    inst = getattr(xv, "xvfb_instance", None)
    vd = getattr(inst, "_virtual_display", None)
    if vd is None or getattr(inst, "xauth", False) or not sys.platform.startswith("linux"):
        return
    try:
        pid = int(vd.pid)
    except Exception:  # noqa: BLE001 - an unknown pytest-xvfb: leave it to stop Xvfb itself
        return
    subprocess.Popen(["/bin/sh", "-c", f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 0.1; done; kill {pid}"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    xv.xvfb_instance = None        # its atexit handler now leaves Xvfb alone
