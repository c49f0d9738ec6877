"""Where the default rule project lives: `rules/` in a checkout, package data when installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def default_rules_path() -> Path:
    spec = importlib.util.find_spec("guanxi.rules")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise RuntimeError("the default rule project is not installed with guanxi")
    return Path(locations[0])
