"""Planning: surfaces, target library (MNI), MNI->subject, scalp rules, coil placement, alignment
errors, plans, interop formats. No GUI.

Modules:
    surfaces, brain, surface_cache   scalp and brain surfaces from the MRI (cached)
    skin_edge      where the skin is: the half-maximum of the local outer intensity edge
    masks          voxel mask operations (largest connected component)
    library        the MNI target library (e.g. DLPFC variants)
    mni, mni_io    MRI <-> MNI registration and its transform files
    scalp_rules    10-20 positions, Beam F3, the 5 cm rule
    placement      coil placement (scalp entry, normal, handle direction)
    alignment      distance / tilt / twist of a coil to its planned pose
    planner, plan  building and saving a plan folder; plan_edit: edits Plan -> new Plan
    hotspot        motor hotspot grids
    interop/       SimNIBS, Brainsight, Localite, visor2, EEG caps

The names below are imported lazily, on first use (PEP 562), so `import targets`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "alignment": ("Alignment", "tilt_twist", "within"),
    "surfaces": ("Surface", "scalp_surface"),
    "library": ("LibraryTarget", "load_library", "get_target"),
    "placement": ("CoilPlacement", "place_coil"),
    "plan": ("Plan", "PlannedTarget", "save_plan", "load_plan"),
    "planner": ("build_plan", "PlanOptions", "TargetRequest"),
    "scalp_rules": ("ten_twenty", "beam_f3_on_scalp"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
