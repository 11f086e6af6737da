"""Surface cache: hit on the second call, keyed by content + parameters, damaged entries rebuilt."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from navcore.errors import InputFileError
from navcore.mri import MRIVolume, load_mri
from targets.surface_cache import cache_key, cached_scalp, cached_surface, file_sha256, load_surface, save_surface
from targets.surfaces import Surface

from planning_helpers import SAMPLE_MRI


def _tetra() -> Surface:
    v = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], float)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int64)
    n = v - v.mean(0)
    return Surface(v, f, n / np.linalg.norm(n, axis=1, keepdims=True))


def test_save_load_round_trip(tmp_path):
    s = _tetra()
    save_surface(tmp_path / "s.npz", s, {"kind": "test"})
    b = load_surface(tmp_path / "s.npz")
    assert np.array_equal(b.vertices, s.vertices) and np.array_equal(b.faces, s.faces)
    assert np.array_equal(b.normals, s.normals)


def test_cache_hit_and_keys(tmp_path):
    vol = MRIVolume(np.zeros((4, 4, 4), np.float32), np.eye(4), SAMPLE_MRI)
    calls = []

    def build():
        calls.append(1)
        return _tetra()

    s1, hit1 = cached_surface(vol, "scalp", {"a": 1}, build, tmp_path)
    s2, hit2 = cached_surface(vol, "scalp", {"a": 1}, build, tmp_path)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    assert np.array_equal(s1.vertices, s2.vertices)
    _, hit3 = cached_surface(vol, "scalp", {"a": 2}, build, tmp_path)  # other parameters
    _, hit4 = cached_surface(vol, "brain", {"a": 1}, build, tmp_path)  # other kind
    assert not hit3 and not hit4 and len(calls) == 3
    # a damaged entry is rebuilt, not trusted
    for p in tmp_path.glob("scalp-*.npz"):
        p.write_bytes(b"broken")
    _, hit5 = cached_surface(vol, "scalp", {"a": 1}, build, tmp_path)
    assert not hit5 and len(calls) == 4


def test_key_depends_on_content(tmp_path):
    a = tmp_path / "a.nii.gz"
    shutil.copy(SAMPLE_MRI, a)
    k1 = cache_key(file_sha256(a), "scalp", {"t": 1})
    with open(a, "ab") as f:
        f.write(b"\0")
    assert cache_key(file_sha256(a), "scalp", {"t": 1}) != k1
    assert cache_key("x", "scalp", {"t": 1, "u": 2}) == cache_key("x", "scalp", {"u": 2, "t": 1})


@pytest.mark.slow
def test_real_scalp_cached(tmp_path):
    mri = load_mri(SAMPLE_MRI)
    s1, hit1 = cached_scalp(mri, target_triangles=20_000, cache_dir=tmp_path)
    s2, hit2 = cached_scalp(mri, target_triangles=20_000, cache_dir=tmp_path)
    assert not hit1 and hit2
    assert np.array_equal(s1.faces, s2.faces) and s2.boundary_edge_count() == 0


@pytest.mark.parametrize("content", [b"", b"not a zip"])
def test_malformed_surface_file(tmp_path, content):
    p = tmp_path / "bad.npz"
    p.write_bytes(content)
    with pytest.raises(InputFileError, match="bad.npz"):
        load_surface(p)


def test_inconsistent_arrays(tmp_path):
    s = _tetra()
    bad = Surface(s.vertices, s.faces + 10, s.normals)
    save_surface(tmp_path / "b.npz", bad)
    with pytest.raises(InputFileError, match="inconsistent"):
        load_surface(tmp_path / "b.npz")
