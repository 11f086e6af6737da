"""Lazy package exports (PEP 562): a package's __init__ names its public API without importing
its modules, so `import navigation` stays cheap and start-up pays only for what is used.

    _EXPORTS = {"loop": ("NavigationLoop", "LoopState"), ...}    # module -> public names
    __all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping   # not typing: its import costs start-up time


def lazy_exports(package: str, exports: Mapping[str, Iterable[str]]) -> tuple[list, Callable, Callable]:
    """(__all__, __getattr__, __dir__) for `package`: each public name is imported from its
    module (package.module) the first time it is asked for, then cached in the package."""
    where = {name: mod for mod, names in exports.items() for name in names}
    all_names = sorted(where)

    def __getattr__(name: str):
        mod = where.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{mod}"), name)
        importlib.import_module(package).__dict__[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(importlib.import_module(package).__dict__) | set(all_names))

    return all_names, __getattr__, __dir__
