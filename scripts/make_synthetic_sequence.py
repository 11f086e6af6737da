"""Regenerate data/sequences/coil_approach_720p deterministically (needs PyAV: pip install av).

    python scripts/make_synthetic_sequence.py [--out DIR]

The coil body (data/bodies/coil.json) approaches the head body (data/bodies/head.json) at
400-650 mm from a 1280x720 webcam-like camera for 4 s at 30 fps, with a hand covering the coil
for a moment and the coil leaving the image to the right; seed 20261123. Same seed, same
frames (the H.264 encoding is deterministic with one encoder thread).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tracking.bodies import load_body
from tracking.synthetic.files import webcam_camera, write_sequence
from tracking.synthetic.motion import coil_approach

REPO = Path(__file__).resolve().parents[1]
SEED = 20261123


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "data" / "sequences" / "coil_approach_720p")
    args = ap.parse_args()
    bodies = [load_body(REPO / "data" / "bodies" / "coil.json"), load_body(REPO / "data" / "bodies" / "head.json")]
    scenario = coil_approach(SEED, seconds=4.0, fps=30.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = write_sequence(args.out, webcam_camera(1280, 720), bodies, scenario, SEED, codec="h264", crf=16,
                         overwrite=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
