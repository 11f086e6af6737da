"""VTK scenes: head/brain surfaces, coil, targets, bullseye, slices; a real window and offscreen
snapshots. Knows plain data types only (ViewState, SceneSpec); never imports navigation or navtms.

Modules:
    state         ViewState, SceneSpec, ScreenLimits, LatestState (what the screen shows)
    sink          ViewSink: the loop's sink, NavOutput -> ViewState (duck typed)
    scene         NavigationScene: the 3D view (colour bands, banner, texts)
    plan_scene    the planner's 3D scene (workbench)
    bullseye      the bullseye panel; slices: the MRI slice panels
    window        NavigationWindow (on screen), OffscreenViewer, snapshots
    coil_library, coil_model   coil shapes and meshes
    actors, convert            VTK helpers
    display       has_display

The names below are imported lazily, on first use (PEP 562), so `import viewer`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "state": ("ViewState", "SceneSpec", "ScreenLimits", "TargetSpec", "LatestState"),
    "sink": ("ViewSink", "view_state", "screen_limits"),
    "scene": ("NavigationScene", "banner_text"),
    "window": ("NavigationWindow", "OffscreenViewer", "render_offscreen", "save_snapshot"),
    "display": ("has_display",),
    "coil_library": ("coil_mesh",),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
