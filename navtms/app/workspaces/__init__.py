"""Workspaces of the workbench, in workflow order (the shell lists WORKSPACE_CLASSES).

WORKFLOW names every step in order; the shell shows a step whose class is not in
WORKSPACE_CLASSES as "not built".
"""
from navtms.app.workspaces.calibrate import CalibrateWorkspace
from navtms.app.workspaces.navigate import NavigateWorkspace
from navtms.app.workspaces.plan import PlanWorkspace
from navtms.app.workspaces.register import RegisterWorkspace
from navtms.app.workspaces.review import ReviewWorkspace

WORKFLOW = (("plan", "Plan"), ("calibrate", "Calibrate"), ("register", "Register"), ("navigate", "Navigate"),
            ("review", "Review"))

WORKSPACE_CLASSES = [PlanWorkspace, CalibrateWorkspace, RegisterWorkspace, NavigateWorkspace, ReviewWorkspace]
