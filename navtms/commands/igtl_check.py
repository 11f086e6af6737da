"""`navtms igtl-check igtl:HOST:PORT`: connect to an OpenIGTLink server (PLUS, a tracker
bridge) for a few seconds and report what arrives: every device and message type seen (so a
misnamed tool shows up), per navtms body how many tracker frames it was visible in and at what
rate (counted per tracker frame, not per message), and the exact --device options to use.
Exit 0 when every body was seen, 1 when one never was, 2 for bad options or no connection."""
from __future__ import annotations

import math
import time

from navcore.errors import TrackingError

NAME = "igtl-check"
HELP = "check an OpenIGTLink tracker server: devices seen, visibility and rate per body"


def add_arguments(p) -> None:
    from igtl.devices import DEVICE_HELP

    p.add_argument("source", help="igtl:HOST:PORT, e.g. igtl:127.0.0.1:18944 (PLUS default port)")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to listen (default 5)")
    p.add_argument("--device", action="append", default=[], metavar="BODY=DEVICE", help=DEVICE_HELP)


def run(args) -> int:
    from igtl.devices import device_options, guess_device, source_options
    from igtl.source import IGTLSource
    from navigation.sources import open_source

    if not str(args.source).startswith("igtl:"):
        raise TrackingError(f"source {args.source!r} is not igtl:HOST:PORT")
    options = source_options(args.source, args.device)
    src = open_source(args.source, read_timeout_s=0.25, **options)
    assert isinstance(src, IGTLSource)
    end = time.monotonic() + max(0.0, args.seconds)
    try:
        while time.monotonic() < end:
            if src.read() is None:
                break
    finally:
        src.close()
    frames = src.grouper.frames
    rate = src.tracker_rate_hz
    print(f"{args.source}: {frames} tracker frames in {args.seconds:g} s"
          + (f" ({rate:.1f} Hz)" if math.isfinite(rate) else "")
          + f", reconnects {src.reconnects}, protocol errors {src.protocol_errors}, silences {src.silences}")
    print("devices seen (type, device name, messages):")
    for (mtype, dev), n in sorted(src.devices_seen.items()):
        mapped = src.device_map.get(dev)
        print(f"  {mtype:10s} {dev:20s} {n:6d}" + (f"  -> {mapped}" if mapped else "  (not mapped)"))
    if not src.devices_seen:
        print("  none: the server sends nothing (check its TransformNames / output channel)")
    unmapped = sorted({dev for (mtype, dev) in src.devices_seen
                       if mtype in ("TRANSFORM", "TDATA") and dev not in src.device_map})
    missing, guessed = [], []
    suggested = dict(src.device_map)
    for b in src.bodies:
        n = src.body_frames[b][0]
        print(f"body {b:8s} visible in {n} of {frames} tracker frames, {src.body_rate_hz(b):.1f} Hz")
        if n == 0:
            missing.append(b)
            guess = guess_device(b, [d for d in unmapped if d not in suggested])
            if guess is not None:
                suggested = {d: body for d, body in suggested.items() if body != b}
                suggested[guess] = b
                guessed.append(f"{b}={guess}")
    if missing:
        print(f"never seen: {', '.join(missing)}" + (f"; unmapped devices: {', '.join(unmapped)}" if unmapped else ""))
    print(f"options to use: {device_options(suggested)}"
          + (f"  (guessed from the device names: {', '.join(guessed)}; check)" if guessed else ""))
    return 1 if missing else 0
