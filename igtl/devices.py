"""Which OpenIGTLink device feeds which navtms body: the one `--device BODY=DEVICE` option.

PLUS names a tool's transform after its tool id and reference frame ("StylusToTracker",
"ReferenceToTracker"); navtms tracks the bodies coil, head and pointer. `--device BODY=DEVICE`
(repeatable, the same in every command that takes an igtl: source) says which device is which
body; a body not named keeps its default device (CoilToTracker, HeadToTracker,
PointerToTracker). Parsing raises TrackingError with one sentence naming the bad option.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

from navcore.errors import TrackingError

DEFAULT_DEVICES = {"coil": "CoilToTracker", "head": "HeadToTracker", "pointer": "PointerToTracker"}
DEVICE_HELP = ("which OpenIGTLink device is which body for an igtl: source, e.g. --device pointer=StylusToTracker "
               "(repeatable; default coil=CoilToTracker, head=HeadToTracker, pointer=PointerToTracker)")
_NAME_HINTS = {"head": ("head", "reference", "ref"), "pointer": ("pointer", "stylus", "needle", "probe"),
               "coil": ("coil", "tms")}


def parse_devices(items: Iterable[str], defaults: Mapping[str, str] = DEFAULT_DEVICES) -> dict[str, str]:
    """['pointer=StylusToTracker', ...] -> device_map {device name: body} for IGTLSource,
    starting from `defaults` (body -> device) with the given bodies replaced."""
    by_body = dict(defaults)
    for item in items:
        body, sep, device = (part.strip() for part in str(item).partition("="))
        if not sep or not body or not device:
            raise TrackingError(f"--device {item!r} is not BODY=DEVICE, e.g. --device pointer=StylusToTracker")
        if body not in defaults and device in defaults:
            raise TrackingError(f"--device {item!r} names the device first; write BODY=DEVICE: "
                                f"--device {device}={body}")
        if len(device.encode("utf-8")) > 20:
            raise TrackingError(f"--device {item!r}: OpenIGTLink device names are at most 20 bytes")
        by_body[body] = device
    devices = [d for d in by_body.values()]
    dup = sorted({d for d in devices if devices.count(d) > 1})
    if dup:
        raise TrackingError(f"--device: device {dup[0]!r} is given to more than one body")
    return {device: body for body, device in by_body.items()}


def source_options(spec: str, items: Sequence[str]) -> dict:
    """Options for tracking.sources.open_source: {"device_map": ...} for an igtl: source when
    --device was given; {} otherwise. --device with a non-igtl source is refused."""
    if not items:
        return {}
    if not str(spec).startswith("igtl:"):
        raise TrackingError(f"--device applies to igtl:HOST:PORT sources only, not {spec!r}")
    return {"device_map": parse_devices(items)}


def device_options(device_map: Mapping[str, str]) -> str:
    """The exact command-line options for a device map: '--device coil=CoilToTracker ...'."""
    return " ".join(f"--device {body}={device}" for device, body in sorted(device_map.items(), key=lambda kv: kv[1]))


def guess_device(body: str, candidates: Iterable[str]) -> Optional[str]:
    """The unmapped device whose name suggests `body` (Stylus -> pointer, Reference -> head)."""
    hints = _NAME_HINTS.get(body, (body,))
    for c in sorted(candidates):
        if any(h in c.lower() for h in hints):
            return c
    return None
