"""`navtms make-body`: make a flat marker body (JSON) and/or its printable sheet (PNG/PDF, true size).

    navtms make-body data/bodies/coil.json --sheet coil.pdf
    navtms make-body --name coil --ids 0,1,2,3 --tag-size 35 --layout 2x2 --gap 10 \
        --save-body coil.json --sheet coil.png --dpi 600
"""
from __future__ import annotations

import io
from pathlib import Path

from navcore.errors import InputFileError, TrackingError
from navcore.fileio import atomic_write_bytes

NAME = "make-body"
HELP = "make a marker body file and its printable true-size sheet (PNG/PDF with ids and a scale bar)"


def add_arguments(p) -> None:
    p.add_argument("body", nargs="?", type=Path, help="existing body file (JSON or tag file) to print")
    p.add_argument("--name", help="name of a new flat body")
    p.add_argument("--ids", help="tag ids of a new body, comma separated, e.g. 0,1,2,3")
    p.add_argument("--tag-size", type=float, help="tag edge length in mm (outer black square)")
    p.add_argument("--layout", default=None, help="RxC grid, e.g. 2x2 (default: one row)")
    p.add_argument("--gap", type=float, default=None, help="gap between tags in mm (default a third of the tag)")
    p.add_argument("--dictionary", default=None, help="tag dictionary (default DICT_4X4_50)")
    p.add_argument("--save-body", type=Path, help="write the new body as JSON here (must not exist)")
    p.add_argument("--sheet", type=Path, help="printable sheet to write: .png or .pdf (must not exist)")
    p.add_argument("--dpi", type=float, default=300.0, help="sheet resolution (default 300)")
    p.add_argument("--paper", default=None, help="a4, a3 or letter (default: just big enough)")


def _new_body(args):
    from tracking.bodies import planar_body

    if not (args.name and args.ids and args.tag_size):
        raise TrackingError("make-body needs a BODY file, or --name, --ids and --tag-size for a new body")
    try:
        ids = [int(v) for v in args.ids.split(",") if v.strip()]
    except ValueError:
        raise TrackingError(f"--ids {args.ids!r} is not a comma-separated list of whole numbers") from None
    layout = args.layout or f"1x{len(ids)}"
    return planar_body(args.name, args.dictionary or "DICT_4X4_50", ids, args.tag_size, layout, args.gap)


def save_sheet(body, path: Path, dpi: float = 300.0, paper=None) -> Path:
    """Write the printable sheet as .png (DPI in the file) or .pdf (page = sheet size), atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tracking.printsheet import sheet_image

    suffix = path.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise InputFileError(path, "the printable sheet must be a .png or .pdf file")
    if not dpi > 0:
        raise TrackingError(f"--dpi must be positive, got {dpi}")
    img, _ = sheet_image(body, dpi, paper)
    buf = io.BytesIO()
    if suffix == ".png":
        plt.imsave(buf, img, cmap="gray", vmin=0, vmax=255, format="png", dpi=dpi)
    else:
        h, w = img.shape
        fig = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
        ax.set_axis_off()
        fig.savefig(buf, format="pdf", dpi=dpi)
        plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def run(args) -> int:
    from tracking.bodies import load_body, save_body

    for out in (args.save_body, args.sheet):
        if out is not None and out.exists():
            raise InputFileError(out, "already exists; choose a new file name (nothing was changed)")
    body = load_body(args.body, dictionary=args.dictionary) if args.body else _new_body(args)
    if args.save_body is None and args.sheet is None:
        raise TrackingError("make-body has nothing to write: give --sheet FILE and/or --save-body FILE")
    if args.sheet is not None:
        save_sheet(body, args.sheet, args.dpi, args.paper)   # checks flatness and paper before any write
        print(f"sheet for body {body.name!r} ({len(body.tags)} tags, {body.dictionary}) written to {args.sheet}; "
              "print at 100 % scale and check the 50 mm bar")
    if args.save_body is not None:
        save_body(body, args.save_body)
        print(f"body {body.name!r} written to {args.save_body}")
    return 0
