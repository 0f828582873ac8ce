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


# Which of our packages each package may import (ARCHITECTURE.md "Packages"): dependencies point one way,
# from the pipeline down to the domain packages and from them to manifests and media, never back up and
# never sideways between domain packages. The test stand-ins (testing/), tests, benches and the demo are
# never imported by shipped code.
OURS = ("manifests", "media", "harvest", "pseudolabel", "tracking", "train", "checkpoints", "published", "authors",
        "pipelines", "testing", "tests", "tests_helpers", "bench", "demo")
MAY_IMPORT = {
    "manifests": set(),
    "media": {"manifests"},
    "pseudolabel": {"manifests", "media"},
    "tracking": {"manifests"},
    "train": {"manifests", "media"},
    # The authors' formats and the published datasets' converters sit on the model (joint layouts, the
    # SMPL body, the encoders) and the tube rules; the harvest reads the authors' lists.
    "checkpoints": {"manifests", "train"},
    "authors": {"manifests", "media", "train"},
    "published": {"manifests", "media", "tracking", "train"},
    "harvest": {"manifests", "media", "authors"},
    "pipelines": {"manifests", "media", "harvest", "pseudolabel", "tracking", "train", "checkpoints", "published",
                  "authors"},
}


def test_each_shipped_package_imports_only_the_packages_below_it():
    offenders = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((REPO / package).rglob("*.py")):
            bad = (imported_modules(path) & set(OURS)) - allowed - {package}
            if bad:
                offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_the_rule_sees_a_wrong_import(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import os\nfrom pseudolabel.work import PosePayload\n\ndef f():\n    from testing import toy\n")
    assert imported_modules(wrong) & set(OURS) == {"pseudolabel", "testing"}


def test_what_setup_cfg_ships_is_what_the_rules_cover():
    import configparser

    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    shipped = {line.strip().rstrip("*") for line in parser["options.packages.find"]["include"].split() if line.strip()}
    assert shipped == set(MAY_IMPORT)
