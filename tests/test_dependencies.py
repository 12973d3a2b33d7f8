"""Every third-party import of ``rpf/`` (and ``app/``) is a declared dependency (issue 10, item 4).

Import names are mapped to the distributions that provide them with
``importlib.metadata.packages_distributions()``; an import is declared when one of
those distributions is listed in ``pyproject.toml`` (``[project] dependencies``,
plus the ``app`` extra for ``app/``).  Imports guarded for optional use count too:
a user who has the package gets the code path.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FIRST_PARTY = {"rpf", "app"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normal(re.split(r"[\s<>=!~;\[(]", r.strip(), maxsplit=1)[0]) for r in requirements}


def _third_party_imports(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


def _declared(extra: str | None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = _requirement_names(project["dependencies"])
    if extra is not None:
        names |= _requirement_names(project["optional-dependencies"][extra])
    return names


@pytest.mark.parametrize(("folder", "extra"), [("rpf", None), ("app", "app")])
def test_every_third_party_import_is_a_declared_dependency(folder, extra):
    declared = _declared(extra)
    providers = packages_distributions()
    missing = []
    for name, files in sorted(_third_party_imports(ROOT / folder).items()):
        dists = {_normal(d) for d in providers.get(name, [])}
        if not dists & declared:
            missing.append(f"{name} (distribution {', '.join(sorted(dists)) or 'not installed'}) in {sorted(files)[0]}")
    assert not missing, "undeclared imports: " + "; ".join(missing)


def test_the_check_sees_a_real_import_and_the_mapping():
    imports = _third_party_imports(ROOT / "rpf")
    assert {"numpy", "astropy", "threadpoolctl"} <= set(imports)
    assert "pyyaml" in {_normal(d) for d in packages_distributions()["yaml"]}
