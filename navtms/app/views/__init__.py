"""Reusable Qt views with embedded VTK (for every workspace).

- `VtkView` (vtk_widget.py): a QWidget holding one VTK render window (X11 GLX window created
  explicitly, so the process-wide VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow used for
  offscreen snapshots does not break it), multisampling off; `render()`, `snapshot_rgb()`.
- `SliceView` (slice_view.py): one MRI slice (axial, coronal or sagittal in `mri`) with a
  crosshair, markers, click-to-place, drag-to-move, wheel to scroll, window/level and zoom/pan
  that never rotate the slice. `link_crosshairs(views)` links several. Its geometry (plane axes,
  the field a volume fills, the slice frame through the cursor) is slice_geometry.py, no Qt.
- `SceneView` (scene_view.py): the 3D head (translucent scalp, brain), markers, ghost coils,
  pick on the brain/scalp surface.
"""
