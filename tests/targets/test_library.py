"""Target library: shipped entries carry sources, mirrors, user files, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from navcore.errors import InputFileError, PlanError
from targets.library import (BUILTIN_PATH, LibraryTarget, get_target, load_library, read_library_file,
                             write_user_library)


@pytest.fixture(scope="module")
def lib():
    return load_library(include_default_user=False)


def test_required_entries_and_coordinates(lib):
    expect = {"dlpfc-fox2012": (-38, 44, 26), "dlpfc-ba46": (-44, 40, 29), "dlpfc-ba9": (-36, 39, 43),
              "dlpfc-fitzgerald2009": (-46, 45, 38), "dlpfc-f3-group": (-37, 26, 49),
              "dlpfc-5cm-group": (-41, 16, 54), "m1-hand": (-37, -21, 58)}
    for name, xyz in expect.items():
        assert np.allclose(lib[name].position_mm, xyz), name
        assert lib[name].space == "mni"


def test_every_entry_names_its_paper_and_verification(lib):
    for t in lib.values():
        assert t.source.get("authors") and t.source.get("year") and t.source.get("journal"), t.name
        assert t.verified in ("yes", "partly", "no"), t.name
        assert t.verification, t.name
        assert "no source given" not in t.citation()


def test_right_mirrors(lib):
    for name, t in lib.items():
        if t.origin == "builtin" and t.hemisphere == "left":
            m = lib[f"{name}-right"]
            assert m.hemisphere == "right"
            assert np.allclose(m.position_mm, t.position_mm * [-1, 1, 1])
            assert m.position_mm[0] > 0


def test_unknown_name_suggests(lib):
    with pytest.raises(PlanError, match="did you mean dlpfc-fox2012"):
        get_target("dlpfc-fox2021", lib)
    with pytest.raises(PlanError, match="unknown target 'zzz'"):
        get_target("zzz", lib)


def test_user_library_round_trip(tmp_path):
    t = LibraryTarget("my-site", np.array([10.0, 20.0, 30.0]), "mri", source={"authors": "me", "year": 2026})
    u = LibraryTarget("my-mni", np.array([-40.0, 30.0, 40.0]), "mni")
    p = write_user_library(tmp_path / "u.json", [t, u])
    lib = load_library(p)
    assert lib["my-site"].space == "mri" and np.allclose(lib["my-site"].position_mm, [10, 20, 30])
    assert lib["my-mni"].space == "mni"
    assert "dlpfc-fox2012" in lib


@pytest.mark.parametrize("body, msg", [
    ({"format_version": 1}, "no 'targets' list"),
    ({"format_version": 1, "targets": [{"name": "a"}]}, "exactly one of"),
    ({"format_version": 1, "targets": [{"name": "a", "mni_mm": [1, 2]}]}, "three finite numbers"),
    ({"format_version": 1, "targets": [{"name": "a b", "mni_mm": [1, 2, 3]}]}, "valid 'name'"),
    ({"format_version": 1, "targets": [{"name": "a", "mni_mm": [1, 2, 3]}, {"name": "a", "mni_mm": [1, 2, 3]}]}, "more than once"),
    ({"format_version": 7, "targets": []}, "format_version"),
])
def test_malformed_user_library(tmp_path, body, msg):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(body))
    with pytest.raises(InputFileError, match=msg):
        read_library_file(p)


def test_user_cannot_shadow_builtin(tmp_path):
    p = write_user_library(tmp_path / "u.json", [LibraryTarget("dlpfc-fox2012", np.zeros(3), "mni")])
    with pytest.raises(PlanError, match="reuses a built-in"):
        load_library(p)


def test_builtin_file_is_versioned():
    assert json.loads(BUILTIN_PATH.read_text())["format_version"] == 1
