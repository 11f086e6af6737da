"""Each package's curated __init__: __all__ names resolve lazily to that package's own objects,
every module is named in the package docstring, and importing a package loads nothing heavy
(numpy, VTK, OpenCV, SciPy, ... load only when a name is used)."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("navcore", "registration", "tracking", "tracking.synthetic", "targets", "igtl", "navigation", "viewer")
HEAVY = ("numpy", "scipy", "vtk", "vtkmodules", "cv2", "nibabel", "SimpleITK", "pydicom", "PySide6", "pyigtl")
#: public names that are aliases of a navcore type (one latest-value slot everywhere)
ALIASES = {("viewer", "LatestState"): "navcore.latest"}


@pytest.mark.parametrize("pkg", PACKAGES)
def test_all_names_resolve_to_the_package_own_objects(pkg):
    mod = importlib.import_module(pkg)
    assert mod.__all__ == sorted(set(mod.__all__)) and len(mod.__all__) >= 3
    for name in mod.__all__:
        obj = getattr(mod, name)
        home = ALIASES.get((pkg, name), pkg)
        owner = getattr(obj, "__module__", None)
        if owner is not None and not isinstance(obj, (str, int, float, tuple, dict)):
            assert owner == home or owner.startswith(home + "."), (pkg, name, owner)
        assert name in dir(mod)
    with pytest.raises(AttributeError):
        getattr(mod, "no_such_name_here")


@pytest.mark.parametrize("pkg", PACKAGES)
def test_every_module_is_named_in_the_package_docstring(pkg):
    mod = importlib.import_module(pkg)
    folder = Path(mod.__file__).parent
    for f in sorted(folder.glob("*.py")):
        if f.stem == "__init__" or f.stem.startswith("_"):
            continue
        assert f.stem in mod.__doc__, f"{pkg}.{f.stem} is not described in {pkg}/__init__.py"


def test_importing_a_package_loads_nothing_heavy():
    code = ("import sys, json\n"
            f"for p in {PACKAGES!r}:\n"
            "    __import__(p)\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-500:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_architecture_doc_names_functions_that_exist():
    """docs/architecture.md's frame path cites file:function (or file:Class.method); each exists,
    and every module of the packages appears in its tree."""
    import re

    text = (REPO / "docs" / "architecture.md").read_text()
    refs = re.findall(r"([a-z_/]+\.py):([A-Za-z_][A-Za-z0-9_.]*)", text)
    assert len(refs) >= 30
    for path, dotted in refs:
        mod = importlib.import_module(path[:-3].replace("/", "."))
        obj = mod
        for part in dotted.split("."):
            assert hasattr(obj, part), f"docs/architecture.md: {path}:{dotted} does not exist"
            obj = getattr(obj, part)
    for pkg in PACKAGES + ("navtms", "navtms.commands"):
        folder = REPO / pkg.replace(".", "/")
        for f in folder.glob("*.py"):
            if not f.stem.startswith("_"):
                assert f"  {f.name} " in text, f"docs/architecture.md's tree misses {pkg}/{f.name}"
