"""Workspaces of the workbench, in workflow order (the shell lists WORKSPACE_CLASSES)."""
