"""A normal (not editable) install must carry every package and the default rules."""

from __future__ import annotations

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
