"""A surface prepared for registration: closest points, local tangent planes and signed
distances of points (frame `a`, usually `mri`; mm) to a triangle mesh's vertices and normals.

Used by the surface fit (registration.icp) and by anything that measures how far points lie from
the scalp (benches, tests, the workbench's head-point check).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from navcore.errors import RegistrationError

#: Vertices blended into each local tangent plane.
NEIGHBOURS = 4


@dataclass(frozen=True)
class SurfaceIndex:
    """A surface prepared for closest-point queries: vertices (N, 3) mm and unit normals (N, 3)
    in frame `a`, and a cKDTree on the vertices. Build once per surface (about 20 ms)."""

    vertices: np.ndarray
    normals: np.ndarray
    tree: cKDTree = field(repr=False)

    @classmethod
    def build(cls, surface) -> "SurfaceIndex":
        """From any object with `vertices` and `normals` (e.g. targets.surfaces.Surface)."""
        v = np.asarray(surface.vertices, dtype=np.float64)
        n = np.asarray(surface.normals, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 3 or n.shape != v.shape:
            raise RegistrationError("the surface needs (N, 3) vertices and matching (N, 3) normals")
        return cls(v, n, cKDTree(v))

    def signed_distance(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(signed distance (M,) mm from the local tangent plane, positive outside; its unit
        normal (M, 3)) for points (M, 3) mm in frame a."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        d, _, n = self.local_planes(p)
        return d, n

    def local_planes(self, points: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For points (M, 3) mm: (signed distance (M,) mm, foot point (M, 3), unit normal (M, 3))
        of the local tangent plane, blended from the k nearest vertices with weights
        (1 - d_i / d_{k+1})^2 that fade to zero as a vertex leaves the neighbourhood, so the
        distance is continuous as the point moves (no jumps when the nearest vertex changes)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        dist, ii = self.tree.query(p, k=k + 1)
        w = np.clip(1.0 - dist[:, :k] / np.maximum(dist[:, k:k + 1], 1e-12), 0.0, None) ** 2
        w += 1e-12
        w /= w.sum(axis=1, keepdims=True)
        foot = np.einsum("mk,mkj->mj", w, self.vertices[ii[:, :k]])
        nrm = np.einsum("mk,mkj->mj", w, self.normals[ii[:, :k]])
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        d = np.sum((p - foot) * nrm, axis=1)
        return d, foot, nrm
