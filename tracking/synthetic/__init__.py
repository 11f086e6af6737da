"""Synthetic footage with ground truth: marker bodies rendered into camera images along known
trajectories, written as sequences (video + truth) for tests and benches. No GUI.

Modules:
    renderer  SequenceRenderer: bodies -> images (exact geometry, occlusion, motion blur)
    effects   RenderEffects, Occlusion; the lens and the frame finishing (distortion, light, noise)
    scenes    backgrounds, hands, tag helpers for the scenes
    motion    trajectories (coil approach, spline) and scenarios
    files     write_sequence / load_sequence (video, truth, camera)

The names below are imported lazily, on first use (PEP 562), so `import tracking.synthetic`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "renderer": ("SequenceRenderer", "render_sequence", "BodyTruth"),
    "effects": ("RenderEffects", "Occlusion"),
    "motion": ("Scenario", "coil_approach", "spline_trajectory"),
    "files": ("SyntheticSequence", "write_sequence", "load_sequence"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
