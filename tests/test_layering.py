"""The layering rules of docs/architecture.md, checked on the real code."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import rpf

ROOT = Path(rpf.__file__).parent


NETWORK = ("astroquery", "requests", "httpx", "urllib3", "urllib", "http.client", "socket", "aiohttp", "ftplib")
"""Modules that reach the network: only ``rpf/catalogs`` may import them."""
STAGES = ("rpf.astrometry", "rpf.calibration", "rpf.detection", "rpf.photometry", "rpf.zeropoint", "rpf.io",
          "rpf.pipeline", "rpf.background", "rpf.cosmics", "rpf.lightcurves", "rpf.transients", "rpf.products")
"""Stage packages and modules: the catalogue layer sits below them and never imports them."""


def _modules(path: Path) -> set[str]:
    """Return the full names of the modules a file imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _modules(path)}


def _under(names: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}


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
            assert not _under(_modules(path), NETWORK), rel


def test_network_rule_sees_stdlib_network_modules(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import socket\nfrom urllib.request import urlopen\nfrom http import client\nimport http.client\n")
    assert _under(_modules(probe), NETWORK) == {"socket", "urllib.request", "urllib.request.urlopen", "http.client"}


def test_catalogue_layer_depends_on_no_stage():
    """The network layer sits below the stages (the Tycho-2 reader lives in ``rpf.index_files``)."""
    for path in (ROOT / "catalogs").rglob("*.py"):
        modules = _modules(path)
        assert not _under(modules, STAGES), path.name
        assert "scipy.spatial" not in modules, f"{path.name}: sky matching belongs to rpf.skymatch"


def test_all_modules_importable():
    for module in pkgutil.walk_packages(rpf.__path__, "rpf."):
        importlib.import_module(module.name)


APP = ROOT.parent / "app"
UI = ("panel", "bokeh", "holoviews", "hvplot", "datashader")


def test_app_never_imports_dask_and_models_never_import_ui():
    """``app/`` reaches Dask only through ``rpf.pipeline``; ``app/models`` is headless (no UI, no views)."""
    files = sorted(APP.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        rel = path.relative_to(APP).as_posix()
        modules = _modules(path)
        assert not _imports(path) & {"dask", "distributed"}, rel
        if rel.startswith("models/"):
            assert not {name.split(".")[0] for name in modules} & set(UI), rel
            assert not _under(modules, ("app.views", "app.server")), rel


def test_app_layering_rule_sees_nested_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import distributed\n    from panel.widgets import Button\n")
    assert {"distributed", "panel"} <= _imports(probe)


def test_rpf_never_imports_app():
    """``rpf`` never imports the dashboard; ``rpf serve`` finds it through an entry point the project declares."""
    for path in ROOT.rglob("*.py"):
        assert "app" not in _imports(path), path.relative_to(ROOT).as_posix()
