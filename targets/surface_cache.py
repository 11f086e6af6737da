"""On-disk cache of scalp and brain surfaces, so a second run on the same MRI is instant.

A cache entry is one `.npz` file (vertices (N, 3) float64 mm in `mri`, faces (M, 3) int64,
normals (N, 3) float64, plus `format_version` and the key) named by a SHA-256 key made of the
MRI file's content hash, the surface kind and its parameters. Writes are atomic (temp + rename);
a damaged entry is ignored and rebuilt. Cache folder: $NAVTMS_CACHE_DIR, else
~/.cache/navtms/surfaces.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_bytes
from navcore.mri import MRIVolume
from targets.surfaces import Surface

FORMAT_VERSION = 1
#: The scalp algorithm: 'skin-edge-3' is the half-maximum of the local skin/air edge measured on profiles
#: (targets.skin_edge.skin_edge_field); entries of the earlier scalps (global threshold, region average) are rebuilt.
SCALP_METHOD = "skin-edge-3"


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks). A folder (a DICOM series): the hash
    of every file's relative path and bytes, in sorted order."""
    h = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    try:
        for file in files:
            if path.is_dir():
                h.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
            with open(file, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    except OSError as e:
        raise InputFileError(path, f"cannot be read to compute its checksum ({e.__class__.__name__})") from e
    return h.hexdigest()


def default_cache_dir() -> Path:
    env = os.environ.get("NAVTMS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "navtms" / "surfaces"


def cache_key(content_sha256: str, kind: str, params: dict) -> str:
    """Key of a cached surface: hash of the input's content hash, kind and sorted parameters."""
    blob = json.dumps({"sha256": content_sha256, "kind": kind, "params": params, "v": FORMAT_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def save_surface(path: str | Path, surface: Surface, meta: dict | None = None) -> Path:
    """Write a surface as .npz atomically (meta: small JSON-able dict kept in the file)."""
    buf = io.BytesIO()
    np.savez(buf, format_version=np.int64(FORMAT_VERSION),
             vertices=np.asarray(surface.vertices, dtype=np.float64),
             faces=np.asarray(surface.faces, dtype=np.int64),
             normals=np.asarray(surface.normals, dtype=np.float64),
             meta=np.frombuffer(json.dumps(meta or {}, default=str).encode(), dtype=np.uint8))
    return atomic_write_bytes(path, buf.getvalue())


def load_surface(path: str | Path) -> Surface:
    """Read a surface .npz written by save_surface; InputFileError when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the surface file does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            ver = int(z["format_version"])
            v, f, n = z["vertices"], z["faces"], z["normals"]
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError, zlib.error,
            RuntimeError, NotImplementedError) as e:  # zip flags: "encrypted", unknown compression
        raise InputFileError(path, f"the surface file is damaged or not a navtms surface ({e.__class__.__name__})") from e
    if ver != FORMAT_VERSION:
        raise InputFileError(path, f"the surface file has format_version {ver}; this navtms reads {FORMAT_VERSION}")
    real = lambda a: np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)  # noqa: E731
    if not (np.issubdtype(f.dtype, np.integer) and real(v) and real(n)):
        raise InputFileError(path, "the surface file holds arrays of the wrong type (faces must be integers, "
                                   "vertices and normals real numbers)")
    if (v.ndim != 2 or v.shape[1] != 3 or n.shape != v.shape or f.ndim != 2 or f.shape[1] != 3
            or len(f) == 0 or f.min() < 0 or f.max() >= len(v) or not np.all(np.isfinite(v))):
        raise InputFileError(path, "the surface file holds inconsistent vertex, face or normal arrays")
    return Surface(vertices=v.astype(np.float64), faces=f.astype(np.int64), normals=n.astype(np.float64))


def cached_surface(mri: MRIVolume, kind: str, params: dict, build: Callable[[], Surface],
                   cache_dir: str | Path | None = None, content_sha256: str | None = None) -> tuple[Surface, bool]:
    """The surface of `kind` for `mri` with `params`, from the cache or built with `build()` and stored.

    Returns (surface, hit). cache_dir=None uses default_cache_dir(); the folder is created."""
    sha = content_sha256 or file_sha256(mri.path)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{kind}-{cache_key(sha, kind, params)}.npz"
    if path.is_file():
        try:
            return load_surface(path), True
        except InputFileError:
            pass  # damaged entry: rebuild it
    surf = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        save_surface(path, surf, {"kind": kind, "params": params, "mri_sha256": sha})
    except OSError:
        pass  # a read-only cache must not stop planning
    return surf, False


def cached_scalp(mri: MRIVolume, threshold: float | None = None, target_triangles: int = 100_000,
                 cache_dir: str | Path | None = None, content_sha256: str | None = None,
                 contour_mm: float | None = 2.0) -> tuple[Surface, bool]:
    """The scalp through the cache. Returns (surface, hit).

    contour_mm: None -> targets.surfaces.scalp_surface at the MRI's resolution (decimated);
    a number -> targets.brain.scalp_surface_on_grid at about that grid (fast, default 2 mm)."""
    from targets.brain import scalp_surface_on_grid
    from targets.surfaces import scalp_surface

    # "method" names the surface algorithm, so entries made by an older one are not reused
    params = {"threshold": threshold, "target_triangles": int(target_triangles), "contour_mm": contour_mm,
              "method": SCALP_METHOD}
    if contour_mm is None:
        build = lambda: scalp_surface(mri, threshold, target_triangles)  # noqa: E731
    else:
        build = lambda: scalp_surface_on_grid(mri, contour_mm, threshold, target_triangles)  # noqa: E731
    return cached_surface(mri, "scalp", params, build, cache_dir, content_sha256)


def cached_brain(mri: MRIVolume, brain_mask_path: str | Path | None = None, target_triangles: int = 60_000,
                 cache_dir: str | Path | None = None, content_sha256: str | None = None,
                 contour_mm: float = 2.0) -> tuple[Surface, bool]:
    """targets.brain.brain_surface through the cache (the mask file's hash is part of the key)."""
    from targets.brain import brain_surface

    params = {"target_triangles": int(target_triangles), "contour_mm": contour_mm,
              "mask_sha256": file_sha256(brain_mask_path) if brain_mask_path else None, "method": 2}
    return cached_surface(mri, "brain", params,
                          lambda: brain_surface(mri, brain_mask_path=brain_mask_path, target_triangles=target_triangles,
                                                contour_mm=contour_mm),
                          cache_dir, content_sha256)
