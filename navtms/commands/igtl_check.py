"""`navtms igtl-check igtl:HOST:PORT`: connect to an OpenIGTLink server (PLUS, a tracker
bridge) for a few seconds and report what arrives: every device and message type seen (so a
misnamed tool shows up), and per navtms body how often it was visible and at what rate."""
from __future__ import annotations

import time

from navcore.errors import TrackingError

NAME = "igtl-check"
HELP = "check an OpenIGTLink tracker server: devices seen, visibility and rate per body"


def add_arguments(p) -> None:
    p.add_argument("source", help="igtl:HOST:PORT, e.g. igtl:127.0.0.1:18944 (PLUS default port)")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to listen (default 5)")
    p.add_argument("--device", action="append", default=[], metavar="DEVICE=BODY",
                   help="map a device name to a body (repeatable); default CoilToTracker=coil, "
                        "HeadToTracker=head, PointerToTracker=pointer")


def _device_map(items: list[str]):
    if not items:
        return None
    out = {}
    for item in items:
        dev, sep, body = item.partition("=")
        if not sep or not dev or not body:
            raise TrackingError(f"--device {item!r} is not DEVICE=BODY, e.g. CoilToTracker=coil")
        out[dev] = body
    return out


def run(args) -> int:
    from igtl.source import IGTLSource
    from navigation.sources import open_source

    if not str(args.source).startswith("igtl:"):
        raise TrackingError(f"source {args.source!r} is not igtl:HOST:PORT")
    src = open_source(args.source, device_map=_device_map(args.device), read_timeout_s=0.25)
    assert isinstance(src, IGTLSource)
    frames = 0
    visible = {b: 0 for b in src.bodies}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    end = time.monotonic() + max(0.0, args.seconds)
    try:
        while time.monotonic() < end:
            f = src.read()
            if f is None:
                break
            if f.meta.get("stale"):
                continue
            frames += 1
            for b, p in f.poses.items():
                if p.visible:
                    visible[b] += 1
                    first.setdefault(b, p.capture_ns)
                    last[b] = p.capture_ns
    finally:
        src.close()
    print(f"{args.source}: {frames} frames in {args.seconds:g} s, reconnects {src.reconnects}, "
          f"protocol errors {src.protocol_errors}")
    print("devices seen (type, device name, messages):")
    for (mtype, dev), n in sorted(src.devices_seen.items()):
        mapped = src.device_map.get(dev)
        print(f"  {mtype:10s} {dev:20s} {n:6d}" + (f"  -> {mapped}" if mapped else "  (not mapped)"))
    if not src.devices_seen:
        print("  none: the server sends nothing (check its TransformNames / output channel)")
    for b in src.bodies:
        span = (last.get(b, 0) - first.get(b, 0)) / 1e9
        rate = (visible[b] - 1) / span if visible[b] > 1 and span > 0 else 0.0
        print(f"body {b:8s} visible in {visible[b]} of {frames} frames, ~{rate:.1f} Hz")
    return 0
