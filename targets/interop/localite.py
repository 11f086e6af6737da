"""Localite TMS Navigator XML: InstrumentMarkerList (planned coil positions) in and out,
TriggerMarkerList (one marker per pulse) in and out.

InstrumentMarkerList: root <InstrumentMarkerList coordinateSpace="RAS"|"LPS">, children
<InstrumentMarker index=..> holding <Marker description="NAME" ...> holding <Matrix4D data00=..
data33=..> (row r, column c = attribute dataRC; columns = Localite coil axes and centre, mm).
TriggerMarkerList: root <TriggerMarkerList coordinateSpace=..>, children <TriggerMarker
recordingTime="MS" description=..> holding <Matrix4D ..> and <ResponseValues> with
<Value key="..." response="..."/> (e.g. amplitudeA in %MSO, valueA di/dt in A/us).
Localite's coil axes: x is the coil normal (SimNIBS z, into the head), y is -SimNIBS y, z is
SimNIBS x: T_mri_from_coil = M @ [[0,0,1,0],[0,-1,0,0],[1,0,0,0],[0,0,0,1]]. coordinateSpace
LPS: M is first turned into RAS by diag(-1, -1, 1, 1) @ M (and back on export); the import says so.
An untracked trigger (Localite writes the axis-swap matrix itself, no translation) is skipped.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_text
from targets.interop.common import (T_RAS_FROM_LPS, AxesConvention, CoilPose, Imported, checked_pose, from_navtms,
                                    to_navtms)

FORMAT_IM = "Localite InstrumentMarkerList"
FORMAT_TM = "Localite TriggerMarkerList"
SPACES = ("RAS", "LPS")


def _matrix(path: Path, el, what: str) -> np.ndarray:
    if el is None:
        raise InputFileError(path, f"{what} has no Matrix4D")
    M = np.empty((4, 4))
    for r in range(4):
        for c in range(4):
            v = el.get(f"data{r}{c}")
            try:
                M[r, c] = float(v)
            except (TypeError, ValueError):
                raise InputFileError(path, f"{what}: Matrix4D data{r}{c} is missing or not a number") from None
    return M


def read(path: str | Path) -> Imported:
    path = Path(path)
    try:
        root = ET.parse(str(path)).getroot()
    except (ET.ParseError, OSError) as e:
        raise InputFileError(path, f"is not readable XML ({e.__class__.__name__}: {e})") from e
    if root.tag not in ("InstrumentMarkerList", "TriggerMarkerList"):
        raise InputFileError(path, f"is a <{root.tag}> file, not a Localite InstrumentMarkerList or TriggerMarkerList")
    space = (root.get("coordinateSpace") or "").upper()
    if space not in SPACES:
        raise InputFileError(path, f"the coordinateSpace '{root.get('coordinateSpace')}' is not RAS or LPS")
    flip = T_RAS_FROM_LPS if space == "LPS" else np.eye(4)
    untracked = AxesConvention.LOCALITE.C
    poses = []
    if root.tag == "InstrumentMarkerList":
        for i, im in enumerate(root.iter("InstrumentMarker")):
            mk = im.find("Marker")
            if mk is None:
                raise InputFileError(path, f"InstrumentMarker {i} has no Marker")
            name = mk.get("description") or f"localite-{i + 1}"
            M = checked_pose(path, _matrix(path, mk.find("Matrix4D"), f"marker '{name}'"), f"marker '{name}'")
            poses.append(CoilPose(name, to_navtms(flip @ M, AxesConvention.LOCALITE), "target",
                                  {"index": im.get("index", str(i))}))
    else:
        for i, tm in enumerate(root.iter("TriggerMarker")):
            what = f"trigger {i + 1}"
            M = _matrix(path, tm.find("Matrix4D"), what)
            if np.allclose(M, untracked):
                continue
            M = checked_pose(path, M, what)
            fields = {"recordingTime": tm.get("recordingTime", ""), "description": tm.get("description", "")}
            rv = tm.find("ResponseValues")
            for v in (rv.findall("Value") if rv is not None else []):
                fields[v.get("key", "")] = v.get("response", "")
            poses.append(CoilPose(tm.get("description") or f"pulse-{i + 1}", to_navtms(flip @ M, AxesConvention.LOCALITE),
                                  "sample", fields))
    if not poses:
        raise InputFileError(path, "the Localite file holds no (tracked) markers")
    fmt = FORMAT_IM if root.tag == "InstrumentMarkerList" else FORMAT_TM
    return Imported(path, fmt, tuple(poses), space + (" (turned into RAS by diag(-1,-1,1))" if space == "LPS" else ""),
                    AxesConvention.LOCALITE)


def _matrix_el(parent, T: np.ndarray, space: str) -> None:
    M = from_navtms(T, AxesConvention.LOCALITE)
    if space == "LPS":
        M = T_RAS_FROM_LPS @ M
    ET.SubElement(parent, "Matrix4D", {f"data{r}{c}": f"{M[r, c]:+.17f}" for r in range(4) for c in range(4)})


def _write(path, root) -> Path:
    ET.indent(root, space="    ")
    return atomic_write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")


def write_instrument_markers(path: str | Path, poses, space: str = "RAS") -> Path:
    """Planned coil positions as an InstrumentMarkerList (RAS, or LPS for a DICOM-based project)."""
    if space not in SPACES:
        raise ValueError("space must be RAS or LPS")
    root = ET.Element("InstrumentMarkerList", {"coordinateSpace": space})
    root.append(ET.Comment("This InstrumentMarkerList was written by navtms"))
    for i, p in enumerate(poses):
        im = ET.SubElement(root, "InstrumentMarker", {"alwaysVisible": "false", "index": str(i), "selected": "false"})
        mk = ET.SubElement(im, "Marker", {"additionalInformation": "", "color": "#ff0000", "description": p.name,
                                          "set": "true"})
        _matrix_el(mk, p.T_mri_from_coil, space)
    return _write(path, root)


def write_trigger_markers(path: str | Path, samples, space: str = "RAS") -> Path:
    """One TriggerMarker per sample: recordingTime (ms) from fields['recordingTime'], Matrix4D,
    ResponseValues from the other fields named as Localite keys (e.g. amplitudeA). A sample
    whose T_mri_from_coil is None (coil not seen) gets Localite's untracked matrix."""
    if space not in SPACES:
        raise ValueError("space must be RAS or LPS")
    root = ET.Element("TriggerMarkerList", {"coordinateSpace": space})
    root.append(ET.Comment("This TriggerMarkerList was written by navtms"))
    for p in samples:
        f = dict(p.fields)
        tm = ET.SubElement(root, "TriggerMarker", {"description": p.name,
                                                   "recordingTime": str(f.pop("recordingTime", "0"))})
        if p.T_mri_from_coil is None:
            ET.SubElement(tm, "Matrix4D", {f"data{r}{c}": f"{AxesConvention.LOCALITE.C[r, c]:+.17f}"
                                           for r in range(4) for c in range(4)})
        else:
            _matrix_el(tm, p.T_mri_from_coil, space)
        f.pop("description", None)
        rv = ET.SubElement(tm, "ResponseValues")
        for k, v in f.items():
            ET.SubElement(rv, "Value", {"key": str(k), "response": str(v)})
    return _write(path, root)
