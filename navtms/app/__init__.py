"""The navtms workbench: one desktop window (PySide6 + embedded VTK views).

Workspaces in workflow order: Plan, Calibrate, Register, Navigate, Review. Widgets call library
functions (targets/, registration/, tracking/, navigation/, viewer/) and hold no science.
Only this package (and viewer/) may import Qt.
"""
