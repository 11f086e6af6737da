"""The one has-display check (no VTK or Qt import here, so anything may ask cheaply)."""
from __future__ import annotations

import os


def has_display() -> bool:
    """True when a window can be opened: an X11 ($DISPLAY) or Wayland ($WAYLAND_DISPLAY) display."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
