"""Every third-party module the application imports comes from a dependency pyproject.toml declares."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_modules(package: Path) -> dict[str, Path]:
    """Top-level names of the absolute imports in ``package``'s modules, with a file importing each."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.partition(".")[0], path)
    return found


def declared() -> set[str]:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_normal(re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0]) for dep in dependencies}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_distribution_is_declared() -> None:
    distributions = packages_distributions()
    undeclared = {}
    for module, path in imported_modules(REPO / "gateway").items():
        if module in sys.stdlib_module_names or module in {"gateway", "__future__"}:
            continue
        owners = {_normal(name) for name in distributions.get(module, [])}
        assert owners, f"{module} (imported by {path.relative_to(REPO)}) is not installed"
        if not owners & declared():
            undeclared[module] = sorted(owners)
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"


def test_the_scan_sees_imports() -> None:
    modules = imported_modules(REPO / "gateway")
    assert {"aiomqtt", "construct", "typer"} <= modules.keys()
    assert "gateway" in modules and "json" in modules
