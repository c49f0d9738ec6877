"""A normal (not editable) install must carry every package and the default rules."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_python_package_is_listed_for_the_install() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {"engine": "guanxi.engine", "adapters": "guanxi.adapters", "cli": "guanxi.cli"}
    found = {
        ".".join([package, *init.parent.relative_to(ROOT / folder).parts])
        for folder, package in folders.items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found - listed == set()


def test_the_default_rules_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = config["tool"]["setuptools"]["package-data"]
    shipped = {p.suffix for p in (ROOT / "rules").rglob("*") if p.is_file()}
    patterns = {pattern.removeprefix("*") for patterns in data.values() for pattern in patterns}
    assert shipped <= patterns


def test_no_module_imports_a_folder_by_its_name_in_the_checkout() -> None:
    """`engine/`, `adapters/` and `cli/` are installed as `guanxi.engine`, … : `from
    adapters.x import y` runs under pytest (the checkout is on sys.path) and fails everywhere
    else, as the daemon's e-mail recipients once did (ModuleNotFoundError at every send).
    The benchmarks run from anywhere on the same installed package."""
    folders = {"engine", "adapters", "cli", "rules"}
    wrong = []
    for folder in ("engine", "adapters", "cli", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                wrong += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                    for name in names
                    if name.split(".")[0] in folders
                ]
    assert wrong == []
