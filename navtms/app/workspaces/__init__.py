"""Workspaces of the workbench, in workflow order (the shell lists WORKSPACE_CLASSES).

WORKFLOW names every step in order; the shell shows a step whose class is not in
WORKSPACE_CLASSES as "not built" (at the merge the integrator appends CalibrateWorkspace,
RegisterWorkspace, NavigateWorkspace and ReviewWorkspace from calibrate.py, register.py,
navigate.py and review.py to WORKSPACE_CLASSES).
"""
from navtms.app.workspaces.plan import PlanWorkspace

WORKFLOW = (("plan", "Plan"), ("calibrate", "Calibrate"), ("register", "Register"), ("navigate", "Navigate"),
            ("review", "Review"))

WORKSPACE_CLASSES = [
    PlanWorkspace,
    # CalibrateWorkspace, RegisterWorkspace, NavigateWorkspace, ReviewWorkspace: added at the merge
]
