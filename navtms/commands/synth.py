"""`navtms synth --out DIR`: render a synthetic camera sequence with ground truth."""
from __future__ import annotations

import re
from pathlib import Path

from navcore.errors import NavtmsError

NAME = "synth"
HELP = "render a synthetic camera sequence (coil approaching head) with ground-truth poses"
DESCRIPTION = ("Render frames of a coil body approaching a head body (with a hand covering the coil "
               "for a moment and the coil leaving the image), and write the video, truth.csv (pose "
               "log), truth_poses.npz, camera.json and sequence.json into a new folder. See docs/synthetic.md.")


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, type=Path, help="new folder for the sequence")
    p.add_argument("--resolution", default="1280x720", help="WIDTHxHEIGHT in pixels (default 1280x720)")
    p.add_argument("--seconds", type=float, default=4.0, help="duration in seconds (default 4)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same sequence (default 0)")
    p.add_argument("--codec", choices=["h264", "ffv1", "png"], default=None,
                   help="h264 (small, needs PyAV), ffv1 (lossless video) or png (lossless frames); "
                        "default h264 when PyAV is installed, else ffv1")
    p.add_argument("--clean", action="store_true", help="geometry only: no noise, blur, lighting changes or occluder")
    p.add_argument("--coil-body", type=Path, default=None, help="coil body file (default data/bodies/coil.json)")
    p.add_argument("--head-body", type=Path, default=None, help="head body file (default data/bodies/head.json)")


def run(args) -> int:
    from tracking.bodies import load_body
    from tracking.synthetic.renderer import RenderEffects
    from tracking.synthetic.files import webcam_camera, write_sequence
    from tracking.synthetic.motion import coil_approach

    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", args.resolution)
    if not m or not (64 <= int(m.group(1)) <= 7680 and 48 <= int(m.group(2)) <= 4320):
        raise NavtmsError(f"--resolution must be WIDTHxHEIGHT between 64x48 and 7680x4320, not {args.resolution!r}")
    if not (1.0 <= args.seconds <= 600.0) or not (1.0 <= args.fps <= 240.0):
        raise NavtmsError("--seconds must be 1-600 and --fps 1-240")
    data = Path(__file__).resolve().parents[2] / "data" / "bodies"
    coil = load_body(args.coil_body or data / "coil.json", name="coil")
    head = load_body(args.head_body or data / "head.json", name="head")
    scenario = coil_approach(args.seed, seconds=args.seconds, fps=args.fps)
    effects = (RenderEffects.clean() if args.clean else RenderEffects(occlusions=scenario.occlusions))
    camera = webcam_camera(int(m.group(1)), int(m.group(2)))
    out = write_sequence(args.out, camera, [coil, head], scenario, args.seed, effects, codec=args.codec)
    print(f"wrote {out} ({len(scenario.trajectories['coil'])} frames, {scenario.description})")
    return 0
