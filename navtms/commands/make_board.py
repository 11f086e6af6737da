"""`navtms make-board (--chessboard 14x10 | --charuco 7x5 --marker-mm M) --square-mm S --out board.pdf|png`."""
from __future__ import annotations

from navtms.commands.calibrate_camera import add_board_arguments, board_spec

NAME = "make-board"
HELP = "write a printable chessboard or ChArUco calibration board (PDF at true size, or PNG at a DPI)"
DESCRIPTION = (
    "Write a printable calibration board. A .pdf page has the board's true physical size (print at "
    "100 %, no 'fit to page'); a .png has the pixel count for --dpi and records the DPI. The board, "
    "its square size and a 50 mm check bar are printed on the sheet.")


def add_arguments(p) -> None:
    add_board_arguments(p)
    p.add_argument("--dpi", type=float, default=300.0, help="PNG resolution in dots per inch (default 300)")
    p.add_argument("--margin-mm", type=float, default=10.0, help="white margin around the board (at least one square)")
    p.add_argument("--out", required=True, help="output file, .pdf or .png")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def run(args) -> int:
    from tracking.boards import write_board

    spec = board_spec(args)
    out, lay = write_board(spec, args.out, dpi=args.dpi, margin_mm=args.margin_mm, force=args.force)
    print(f"{spec.describe()}")
    print(f"sheet {lay.sheet_w_mm:g} x {lay.sheet_h_mm:g} mm, board {lay.board_w_mm:g} x {lay.board_h_mm:g} mm")
    w_mm, h_mm = sorted((lay.sheet_w_mm, lay.sheet_h_mm))
    if w_mm > 210.0 or h_mm > 297.0:
        print("note: the sheet does not fit on A4 (210 x 297 mm); print it on larger paper, or use fewer or "
              "smaller squares")
    if out.suffix.lower() == ".png":
        w, h = lay.size_px(args.dpi)
        print(f"{w} x {h} px at {args.dpi:g} dpi")
    print(f"wrote {out}; print at 100 % (actual size) and measure a square before calibrating")
    return 0
