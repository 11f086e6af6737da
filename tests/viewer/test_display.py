"""viewer.display.has_display: the one check (navigate, demo, the window module use it)."""
from __future__ import annotations

from viewer.display import has_display


def test_has_display_follows_x11_and_wayland(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not has_display()
    monkeypatch.setenv("DISPLAY", ":99")
    assert has_display()
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert has_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "")
    assert not has_display()


def test_no_other_module_reads_the_display_variables(repo_root):
    hits = [p for pkg in ("navigation", "navtms", "viewer", "tracking", "igtl")
            for p in (repo_root / pkg).rglob("*.py")
            if "WAYLAND_DISPLAY" in p.read_text() and p.name != "display.py"]
    assert not hits, hits
