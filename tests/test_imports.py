"""Dask wiring lives in pipelines/ only (STYLE.md): domain code stays importable and testable without it."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOMAIN_PACKAGES = ("harvest", "media", "pseudolabel", "tracking", "train", "manifests", "checkpoints", "published", "authors")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_outside_pipelines_imports_dask():
    offenders = []
    for package in DOMAIN_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            bad = imported_modules(path) & {"dask", "distributed", "pipelines"}
            if bad:
                offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_importing_every_domain_package_loads_no_dask():
    code = ("import sys, importlib, pkgutil\n"
            f"for name in {DOMAIN_PACKAGES!r}:\n"
            "    package = importlib.import_module(name)\n"
            "    for info in pkgutil.walk_packages(package.__path__, name + '.'):\n"
            "        importlib.import_module(info.name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"
