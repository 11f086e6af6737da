"""Open any frame source from a text spec: the one place that knows every source kind.

    camera:0   camera:0@1280x720   camera:0@1280x720@60   video:FILE   images:DIR
    poses:FILE   replay:DIR (a navtms recording)   igtl:HOST:PORT (OpenIGTLink, igtl.source)

It lives in navigation/ because it imports tracking.sources (cameras, files, pose logs),
tracking.recorder (recordings) and igtl.source (PLUS streams) alike; none of those import it,
so there is no cycle. SOURCE_FACTORIES maps each scheme to factory(rest_of_spec, **options);
register_source adds one. LIVE_SCHEMES are the sources whose frames come in real time (their
pose age is measured on the monotonic clock; the others replay a recorded clock).
"""
from __future__ import annotations

from typing import Callable

from navcore.errors import TrackingError
from tracking.sources import CameraSource, ImageFolderSource, PoseLogSource, VideoFileSource

LIVE_SCHEMES = ("camera", "igtl")


def _camera_factory(rest: str, realtime: bool = True, **kw):
    parts = rest.split("@")
    try:
        index = int(parts[0])
        width = height = None
        fps = None
        if len(parts) >= 2 and parts[1]:
            w, h = parts[1].lower().split("x")
            width, height = int(w), int(h)
        if len(parts) >= 3 and parts[2]:
            fps = float(parts[2])
        if len(parts) > 3 or index < 0 or (width is not None and (width <= 0 or height <= 0)) or (fps is not None and fps <= 0):
            raise ValueError
    except ValueError:
        raise TrackingError(f"camera spec 'camera:{rest}' is not camera:INDEX[@WIDTHxHEIGHT[@FPS]], e.g. camera:0@1280x720@60") from None
    return CameraSource(index, width, height, fps, **kw)


def _replay_factory(rest: str, realtime: bool = False, **kw):
    from tracking.recorder import RecordingSource

    return RecordingSource(rest, realtime=realtime, **kw)


def _igtl_factory(rest: str, realtime: bool = True, **kw):
    from igtl.source import open_igtl

    return open_igtl(rest, **kw)


SOURCE_FACTORIES: dict[str, Callable[..., object]] = {
    "camera": _camera_factory,
    "video": lambda rest, realtime=False, **kw: VideoFileSource(rest, realtime=realtime, **kw),
    "images": lambda rest, realtime=False, **kw: ImageFolderSource(rest, realtime=realtime, **kw),
    "poses": lambda rest, realtime=False, **kw: PoseLogSource(rest, realtime=realtime, **kw),
    "replay": _replay_factory,
    "igtl": _igtl_factory,
}


def register_source(scheme: str, factory: Callable[..., object]) -> None:
    """Add a scheme to open_source: factory(rest_of_spec, realtime=..., **options) -> FrameSource."""
    SOURCE_FACTORIES[scheme] = factory


def source_scheme(spec: str) -> str:
    """The scheme of a spec ('camera' of 'camera:0'); '' when there is none."""
    scheme, sep, _ = str(spec).partition(":")
    return scheme if sep else ""


def is_live(spec: str) -> bool:
    """True for sources delivering frames in real time (camera, OpenIGTLink)."""
    return source_scheme(spec) in LIVE_SCHEMES


def open_source(spec: str, **options):
    """Open a frame source from a spec 'SCHEME:REST' (see the module docstring).
    `options` (e.g. realtime=True) go to the factory. Raises TrackingError for a bad spec."""
    scheme, sep, rest = str(spec).partition(":")
    if not sep or not rest:
        raise TrackingError(f"source '{spec}' is not SCHEME:VALUE; schemes: {', '.join(sorted(SOURCE_FACTORIES))}")
    factory = SOURCE_FACTORIES.get(scheme)
    if factory is None:
        raise TrackingError(f"source scheme '{scheme}' is unknown; known: {', '.join(sorted(SOURCE_FACTORIES))}")
    return factory(rest, **options)
