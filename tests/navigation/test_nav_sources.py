"""navigation.sources: opening every source kind from a text spec (camera, files, pose logs,
recordings, OpenIGTLink), the registry, and live vs recorded."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from navcore.errors import TrackingError
from navigation import sources
from tracking.sources import ImageFolderSource


def _numbered(i, w=160, h=120):
    img = np.zeros((h, w, 3), np.uint8)
    cv2.putText(img, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 2)
    return img


def test_camera_that_does_not_exist_is_a_clear_error():
    with pytest.raises(TrackingError, match="camera 97 cannot be opened"):
        sources.open_source("camera:97")


@pytest.mark.parametrize("spec", ["camera:x", "camera:0@12x", "camera:0@640x480@0", "camera:-1", "camera:0@1@2@3"])
def test_bad_camera_specs(spec):
    with pytest.raises(TrackingError, match="is not camera:INDEX"):
        sources.open_source(spec)


def test_unknown_scheme_and_registry(tmp_path):
    with pytest.raises(TrackingError, match="scheme 'foo' is unknown"):
        sources.open_source("foo:1")
    with pytest.raises(TrackingError, match="is not SCHEME:VALUE"):
        sources.open_source("camera")
    made = {}

    def factory(rest, realtime=False, **kw):
        made["rest"] = rest
        return ImageFolderSource(tmp_path, realtime=realtime)

    cv2.imwrite(str(tmp_path / "a.png"), _numbered(1))
    sources.register_source("igtl-test", factory)
    try:
        src = sources.open_source("igtl-test:host:18944")
        assert made["rest"] == "host:18944" and src.read().frame_number == 0
    finally:
        del sources.SOURCE_FACTORIES["igtl-test"]



def test_live_schemes():
    assert sources.is_live("camera:0") and sources.is_live("igtl:127.0.0.1:18944")
    assert not any(sources.is_live(s) for s in ("video:a.mp4", "poses:p.csv", "replay:r", "images:d", "nonsense"))


def _imports(path):
    """Every module a file imports, at the top or inside functions (lazy imports count)."""
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_no_import_cycle_between_tracking_sources_recorder_and_igtl(repo_root):
    """open_source moved here: tracking.sources imports neither tracking.recorder nor igtl
    (not even lazily), and nothing in tracking/ or igtl/ imports navigation, viewer or navtms."""
    src = _imports(repo_root / "tracking" / "sources.py")
    assert not {m for m in src if m == "tracking.recorder" or m.split(".")[0] == "igtl"}, src
    for pkg in ("tracking", "igtl"):
        for f in (repo_root / pkg).rglob("*.py"):
            up = {m for m in _imports(f) if m.split(".")[0] in ("navigation", "viewer", "navtms")}
            assert not up, f"{f} imports {up}"
