"""Rigid marker bodies: sets of square fiducial tags (ArUco/AprilTag) fixed on one rigid part.

Body frame convention (the same as the tag files in ../shared/data/real): for a flat body
lying face-up in front of the camera, x points right, y points down (as the printed sheet is
read) and z points INTO the plate, away from the viewer; lengths in mm. Each tag's 4 corners
are ordered TL, TR, BR, BL as the tag is read, which is the order OpenCV reports detected
corners in. A camera looking straight at the printed sheet with T_camera_from_body = identity
rotation sees the sheet upright.

Files:
- JSON (written by save_body): {"format_version": 1, "name": str, "dictionary": "DICT_4X4_50",
  "tags": [{"id": int, "corners_mm": [[x, y, z] x 4]}, ...]} with corners in the body frame (mm).
- Tag files (read only): one tag per line, 16 tab- or space-separated numbers: tag id, tag
  centre x y z, then the 4 corners x y z (TL, TR, BR, BL), mm. They carry no dictionary, so
  load_body needs `dictionary=` for them (default DICT_ARUCO_ORIGINAL, the SciKit-Surgery one).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from navcore.errors import InputFileError, TrackingError
from navcore.fileio import read_json, write_json

DEFAULT_TAGFILE_DICTIONARY = "DICT_ARUCO_ORIGINAL"


@functools.lru_cache(maxsize=1)
def _dictionary_names() -> tuple[str, ...]:
    return tuple(sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_") and isinstance(getattr(cv2.aruco, n), int)))


def dictionary_names() -> list[str]:
    """Names of the predefined OpenCV tag dictionaries (e.g. DICT_4X4_50, DICT_APRILTAG_36h11)."""
    return list(_dictionary_names())


def dictionary_size(name: str) -> int:
    """Number of tags (valid ids are 0 .. size-1) in the named dictionary."""
    return int(dictionary_by_name(name).bytesList.shape[0])


_DICT_CACHE: dict[str, "cv2.aruco.Dictionary"] = {}


def dictionary_by_name(name: str) -> "cv2.aruco.Dictionary":
    """The predefined OpenCV dictionary called `name` (e.g. "DICT_4X4_50"); TrackingError if unknown."""
    cached = _DICT_CACHE.get(name) if isinstance(name, str) else None
    if cached is not None:
        return cached
    if not isinstance(name, str) or name not in _dictionary_names():
        raise TrackingError(
            f"unknown tag dictionary {name!r}; use one of OpenCV's predefined names such as "
            "DICT_4X4_50, DICT_ARUCO_ORIGINAL or DICT_APRILTAG_36h11")
    if name not in _DICT_CACHE:
        _DICT_CACHE[name] = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
    return _DICT_CACHE[name]


@dataclass(frozen=True)
class MarkerBody:
    """A rigid body of square tags.

    name: body name ("coil", "head", "pointer", ...).
    dictionary: OpenCV predefined dictionary name, e.g. "DICT_4X4_50".
    tags: tag id -> (4, 3) float64 corners in the BODY frame, mm, ordered TL, TR, BR, BL.
    """

    name: str
    dictionary: str
    tags: dict = field(hash=False)

    def __post_init__(self) -> None:
        clean = {}
        for tid, c in self.tags.items():
            arr = np.array(c, dtype=np.float64).reshape(4, 3)
            arr.setflags(write=False)
            clean[int(tid)] = arr
        object.__setattr__(self, "tags", dict(sorted(clean.items())))

    @property
    def ids(self) -> list[int]:
        """Tag ids in ascending order."""
        return list(self.tags)

    def corners(self, ids: Iterable[int] | None = None) -> np.ndarray:
        """Body-frame corners (mm) of the given tag ids (all tags when None), stacked (4*len(ids), 3)."""
        ids = self.ids if ids is None else list(ids)
        if not ids:
            return np.zeros((0, 3))
        return np.concatenate([self.tags[int(i)] for i in ids], axis=0)

    def centres(self) -> np.ndarray:
        """(N, 3) tag centres in the body frame (mm), in the order of `ids`."""
        return np.array([c.mean(axis=0) for c in self.tags.values()])

    def tag_size_mm(self, tag_id: int) -> float:
        """Mean edge length (mm) of one tag."""
        c = self.tags[int(tag_id)]
        return float(np.mean(np.linalg.norm(np.roll(c, -1, axis=0) - c, axis=1)))

    def extent_mm(self) -> float:
        """Largest distance (mm) between any two tag corners: the lever arm for rotation accuracy."""
        c = self.corners()
        d = c[:, None, :] - c[None, :, :]
        return float(np.sqrt((d ** 2).sum(-1)).max())

    def to_dict(self) -> dict:
        return {"name": self.name, "dictionary": self.dictionary,
                "tags": [{"id": tid, "corners_mm": c} for tid, c in self.tags.items()]}


def _check_body(path: Path, body: MarkerBody) -> MarkerBody:
    """Validate a body's geometry; raise InputFileError naming the file."""
    if not body.tags:
        raise InputFileError(path, "the body file has no tags")
    size = dictionary_size(body.dictionary)
    for tid, c in body.tags.items():
        if not 0 <= tid < size:
            raise InputFileError(path, f"tag id {tid} is outside dictionary {body.dictionary} (ids 0..{size - 1})")
        if not np.all(np.isfinite(c)):
            raise InputFileError(path, f"tag {tid} has NaN or infinite corners")
        edges = np.linalg.norm(np.roll(c, -1, axis=0) - c, axis=1)
        if edges.min() <= 1e-6:
            raise InputFileError(path, f"tag {tid} has coincident corners")
        if edges.max() / edges.min() > 1.5:
            raise InputFileError(path, f"tag {tid} is not square (edges {edges.min():.2f} to {edges.max():.2f} mm)")
    return body


def load_body(path: str | Path, dictionary: str | None = None, name: str | None = None) -> MarkerBody:
    """Read a body from a navtms JSON body file or a 16-column tag file (see module docstring).

    `dictionary` overrides the file's dictionary (tag files have none: default DICT_ARUCO_ORIGINAL);
    `name` overrides the body name (tag files: default the file stem)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "the body file does not exist")
    if path.is_dir():
        raise InputFileError(path, "the body file is a folder, not a file")
    try:
        head = path.read_text(encoding="utf-8").lstrip()[:1]
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, "the body file cannot be read as UTF-8 text") from e
    if head == "{":
        body = _load_json(path)
        if dictionary is not None or name is not None:
            body = MarkerBody(name or body.name, dictionary or body.dictionary, body.tags)
    else:
        body = _load_tagfile(path, dictionary or DEFAULT_TAGFILE_DICTIONARY, name or path.stem)
    if body.dictionary not in dictionary_names():
        raise InputFileError(path, f"the body file names an unknown tag dictionary {body.dictionary!r}")
    return _check_body(path, body)


def _load_json(path: Path) -> MarkerBody:
    obj = read_json(path, "body file")
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputFileError(path, "the body file needs a non-empty 'name'")
    dic = obj.get("dictionary")
    if not isinstance(dic, str):
        raise InputFileError(path, "the body file needs a 'dictionary' name such as DICT_4X4_50")
    tags_raw = obj.get("tags")
    if not isinstance(tags_raw, list):
        raise InputFileError(path, "'tags' in the body file must be a list of {id, corners_mm}")
    tags: dict[int, np.ndarray] = {}
    for i, t in enumerate(tags_raw):
        if not isinstance(t, dict) or "id" not in t or "corners_mm" not in t:
            raise InputFileError(path, f"tag entry {i} in the body file needs 'id' and 'corners_mm'")
        tid = t["id"]
        if not isinstance(tid, int) or isinstance(tid, bool):
            raise InputFileError(path, f"tag entry {i} in the body file has a non-integer id {tid!r}")
        try:
            c = np.asarray(t["corners_mm"], dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as e:
            raise InputFileError(path, f"tag {tid} 'corners_mm' is not numeric") from e
        if c.shape != (4, 3):
            raise InputFileError(path, f"tag {tid} 'corners_mm' has shape {c.shape}, expected 4 corners of [x, y, z]")
        if tid in tags:
            raise InputFileError(path, f"tag id {tid} appears twice in the body file")
        tags[tid] = c
    return MarkerBody(name.strip(), dic, tags)


def _load_tagfile(path: Path, dictionary: str, name: str) -> MarkerBody:
    tags: dict[int, np.ndarray] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split()
        if len(parts) != 16:
            raise InputFileError(path, f"line {lineno} of the tag file has {len(parts)} columns, expected 16 (id, centre xyz, 4 corners xyz)")
        try:
            vals = [float(p) for p in parts]
        except ValueError as e:
            raise InputFileError(path, f"line {lineno} of the tag file holds a non-number") from e
        if not np.isfinite(vals[0]) or vals[0] != int(vals[0]):
            raise InputFileError(path, f"line {lineno} of the tag file has a non-integer tag id {parts[0]}")
        tid = int(vals[0])
        if tid in tags:
            raise InputFileError(path, f"tag id {tid} appears twice in the tag file (line {lineno})")
        corners = np.array(vals[4:], dtype=np.float64).reshape(4, 3)
        centre = np.array(vals[1:4])
        if np.linalg.norm(corners.mean(axis=0) - centre) > 0.05 * max(np.ptp(corners, axis=0).max(), 1e-9) + 1e-6:
            raise InputFileError(path, f"line {lineno} of the tag file: the centre is not the mean of the 4 corners")
        tags[tid] = corners
    if not tags:
        raise InputFileError(path, "the tag file has no tags")
    return MarkerBody(name, dictionary, tags)


def save_body(body: MarkerBody, path: str | Path) -> Path:
    """Write a body as navtms JSON (format_version 1), atomically."""
    return write_json(path, body.to_dict(), format_version=1)


def planar_body(name: str, dictionary: str, ids: Sequence[int], tag_size_mm: float,
                layout: str | Sequence[Sequence[float]] = "2x2", gap_mm: float | None = None) -> MarkerBody:
    """A flat body of square tags in the z = 0 plane, origin at the centre of the tag pattern.

    layout: "RxC" (rows x columns grid filled row by row, left to right, top to bottom, with
    `gap_mm` between tags, default tag_size/3), or a list of (x, y) tag centres in mm.
    Body frame: x right, y down (as printed), z into the plate."""
    dictionary_by_name(dictionary)
    ids = [int(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise TrackingError(f"body {name!r}: tag ids must be distinct, got {ids}")
    s = float(tag_size_mm)
    if not s > 0:
        raise TrackingError(f"body {name!r}: tag size must be positive, got {tag_size_mm}")
    if isinstance(layout, str):
        try:
            rows, cols = (int(v) for v in layout.lower().split("x"))
        except ValueError as e:
            raise TrackingError(f"body {name!r}: layout must look like '2x2', got {layout!r}") from e
        if rows * cols != len(ids):
            raise TrackingError(f"body {name!r}: layout {layout} holds {rows * cols} tags but {len(ids)} ids were given")
        g = s / 3.0 if gap_mm is None else float(gap_mm)
        pitch = s + g
        centres = [((c - (cols - 1) / 2.0) * pitch, (r - (rows - 1) / 2.0) * pitch)
                   for r in range(rows) for c in range(cols)]
    else:
        centres = [(float(p[0]), float(p[1])) for p in layout]
        if len(centres) != len(ids):
            raise TrackingError(f"body {name!r}: {len(centres)} tag centres but {len(ids)} ids")
    h = s / 2.0
    local = np.array([[-h, -h, 0], [h, -h, 0], [h, h, 0], [-h, h, 0]], dtype=np.float64)
    tags = {tid: local + np.array([cx, cy, 0.0]) for tid, (cx, cy) in zip(ids, centres)}
    return MarkerBody(name, dictionary, tags)
