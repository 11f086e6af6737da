"""Targets and samples in and out of other TMS tools, one module per format:

  simnibs     SimNIBS matsimnibs (.txt, .npy, .mat)              in and out
  brainsight  Brainsight text export (targets, samples)          in and out
  localite    Localite InstrumentMarkerList / TriggerMarkerList  in and out
  visor2      ANT Neuro visor2 .mrk (JSON)                       in and out
  eegcap      EEG electrode positions (.elc, .sfp, .bvct, CSV)   in and out (points, not coil poses)

Every reader returns an `Imported` that says which space and coil axes convention it assumed;
every pose is turned into navtms's T_mri_from_coil (scanner RAS+ mm; +z into the head, +y along
the handle). The conventions in full: docs/interop.md.
"""
from __future__ import annotations

import json
from pathlib import Path

from navcore.errors import InputFileError
from targets.interop.common import AxesConvention, CoilPose, Imported, check_against_mri  # noqa: F401

#: export format names (navtms export --format)
FORMATS = ("simnibs", "brainsight", "localite", "visor2")


def detect_format(path: str | Path) -> str:
    """The format of a coil pose file, from its extension and first bytes."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the file to import does not exist")
    ext = path.suffix.lower()
    if ext in (".npy", ".mat"):
        return "simnibs"
    if ext == ".xml":
        return "localite"
    try:
        head = path.read_bytes()[:4096].decode("utf-8", errors="replace")
    except OSError as e:
        raise InputFileError(path, f"cannot be read ({e.strerror})") from e
    if head.lstrip().startswith("{") and "TargetMarkers" in head:
        return "visor2"
    if ext == ".mrk":
        return "visor2"
    if ext == ".txt":
        return "brainsight" if "# Version:" in head or "# Target Name" in head else "simnibs"
    raise InputFileError(path, "is not a coil position file navtms imports (SimNIBS .txt/.npy/.mat, Brainsight .txt, "
                               "Localite .xml, visor2 .mrk)")


def read_coil_poses(path: str | Path, fmt: str | None = None) -> Imported:
    """Read coil targets/samples from another tool's file (format detected when fmt is None)."""
    fmt = fmt or detect_format(path)
    if fmt == "simnibs":
        from targets.interop import simnibs as mod
    elif fmt == "brainsight":
        from targets.interop import brainsight as mod
    elif fmt == "localite":
        from targets.interop import localite as mod
    elif fmt == "visor2":
        from targets.interop import visor2 as mod
    else:
        raise ValueError(f"unknown format {fmt!r}")
    try:
        return mod.read(path)
    except json.JSONDecodeError as e:  # pragma: no cover - readers turn these into InputFileError
        raise InputFileError(path, f"is not valid JSON ({e})") from e
