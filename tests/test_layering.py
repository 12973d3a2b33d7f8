"""The layering rules of docs/architecture.md, checked on the real code."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import rpf

ROOT = Path(rpf.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_module_imports_without_ui_packages():
    code = (
        "import pkgutil, importlib, sys, rpf\n"
        "for m in pkgutil.walk_packages(rpf.__path__, 'rpf.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in ('app', 'panel', 'holoviews', 'bokeh') if n in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_dask_only_in_pipeline_and_network_only_in_catalogs():
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        names = _imports(path)
        if not rel.startswith("pipeline/"):
            assert not names & {"dask", "distributed"}, rel
        if not rel.startswith("catalogs/"):
            assert not names & {"astroquery", "requests", "httpx", "urllib3"}, rel


def test_all_modules_importable():
    for module in pkgutil.walk_packages(rpf.__path__, "rpf."):
        importlib.import_module(module.name)
