"""RegisterScene: the Register workspace's 3D view: the scalp, the planned fiducials (blue), the
head points (yellow while collected; after ICP the residual map: blue inside, white on, red
outside the scalp, outliers magenta) and the live pointer tip (green). Points are given in the
head frame with T_mri_from_head (the provisional or final fit); everything drawn in mri mm."""
from __future__ import annotations

from typing import Optional

import numpy as np

from navcore.transforms import apply
from navtms.app.views.point_cloud import PointCloud, residual_colours
from navtms.app.views.scene_view import SceneView
from viewer.plan_scene import Marker

COLLECTED_RGB = (1.0, 0.85, 0.2)
TIP_RGB = (0.1, 1.0, 0.3)


class RegisterScene(SceneView):
    def __init__(self, plan, parent=None) -> None:
        super().__init__(parent)
        self.scene.set_surfaces(plan.scalp, None)
        self.scene.set_markers([Marker(f"fid:{n}", p, (0.3, 0.6, 1.0), n, 3.0)
                                for n, p in zip(plan.fiducials.names, plan.fiducials.positions)])
        self.scene.reset_camera()
        self.points = PointCloud(self.scene.renderer)
        self.tip = PointCloud(self.scene.renderer, point_px=16.0)
        self._key = None

    def set_head_points(self, T_mri_from_head: np.ndarray, points_head_mm: np.ndarray, result=None) -> np.ndarray:
        """Draw the head points (coloured by the fit's residuals when `result` has ICP figures);
        returns them in mri mm. Redraws only when the points, the fit or the transform changed."""
        pts = apply(T_mri_from_head, np.asarray(points_head_mm, float).reshape(-1, 3))
        key = (len(pts), id(result), np.asarray(T_mri_from_head).tobytes())
        if key != self._key:
            self._key = key
            if result is not None and result.icp is not None and len(result.icp.residuals_mm) == len(pts):
                res = np.array(list(result.icp.residuals_mm.values()), float)
                out = np.array([n in set(result.icp.outliers) for n in result.icp.residuals_mm], bool)
                self.points.set_points(pts, residual_colours(res, out))
            else:
                self.points.set_points(pts, COLLECTED_RGB)
        return pts

    def set_tip(self, T_mri_from_head: Optional[np.ndarray], tip_head_mm: Optional[np.ndarray]) -> None:
        """The live pointer tip (head frame), or nothing when it is not seen now."""
        if T_mri_from_head is None or tip_head_mm is None:
            self.tip.set_points(np.zeros((0, 3)), TIP_RGB)
        else:
            self.tip.set_points(apply(T_mri_from_head, np.asarray(tip_head_mm, float)), TIP_RGB)
