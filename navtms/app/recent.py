"""The recent list: plan and session folders opened lately, newest first, in a small JSON file
(written atomically; a damaged file is treated as empty, never an error)."""
from __future__ import annotations

import os
from pathlib import Path

from navcore.errors import NavtmsError
from navcore.fileio import read_json, write_json

MAX_RECENT = 10


def default_recent_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "navtms" / "recent.json"


class RecentList:
    """[{"kind": "plan" | "session", "path": str}], newest first, at most MAX_RECENT."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_recent_path()

    def items(self) -> list[dict]:
        if not self.path.is_file():
            return []
        try:
            obj = read_json(self.path, what="recent list", supported_versions=(1,))
        except NavtmsError:
            return []
        out = []
        for it in obj.get("items", []):
            if isinstance(it, dict) and it.get("kind") in ("plan", "session") and isinstance(it.get("path"), str):
                out.append({"kind": it["kind"], "path": it["path"]})
        return out[:MAX_RECENT]

    def add(self, kind: str, path: Path) -> None:
        p = str(Path(path).resolve())
        items = [it for it in self.items() if it["path"] != p]
        items.insert(0, {"kind": kind, "path": p})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, {"items": items[:MAX_RECENT]}, format_version=1)
        except (OSError, NavtmsError):
            pass   # a read-only home must not stop the work
