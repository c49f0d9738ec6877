"""The checks of `guanxi doctor`, each a line with ok, warn or fail."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from dataclasses import asdict, dataclass
from pathlib import Path
from shutil import which
from typing import Any, Literal

from guanxi.engine.errors import StoreError
from guanxi.engine.project import remembered
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store import open_store, store_exists
from guanxi.engine.store.base import shown_location

Status = Literal["ok", "warn", "fail"]
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rules_check(folder: Path) -> tuple[RuleSet | None, Check]:
    result = validate_project(folder)
    errors = sum(1 for d in result.diagnostics if d.severity == "error")
    if result.ruleset is None:
        detail = f"{folder}: {errors} error(s): guanxi validate {folder}"
        return None, Check("rules", "fail", detail)
    warnings = len(result.diagnostics)
    if warnings:
        detail = f"{folder}: valid, {warnings} warning(s): guanxi validate {folder}"
        return result.ruleset, Check("rules", "warn", detail)
    return result.ruleset, Check("rules", "ok", f"{folder}: valid (rule set {result.ruleset.hash})")


def store_checks(location: str) -> list[Check]:
    """The store is there and answers; its migrations are applied; its rule project."""
    shown = shown_location(location)
    try:
        if not store_exists(location):
            detail = f"no store at '{shown}' — create one with 'guanxi load customers FILE'"
            return [Check("store", "fail", detail)]
        store = open_store(location, migrate=False)
    except StoreError as error:
        return [Check("store", "fail", str(error))]
    try:
        pending = store.pending_migrations()
        known = None if pending else remembered(store)
    finally:
        store.close()
    checks = [Check("store", "ok", f"{shown} answers")]
    if pending:
        detail = f"{len(pending)} migration(s) not applied ({', '.join(pending)}): guanxi migrate"
        checks.append(Check("migrations", "warn", detail))
    else:
        checks.append(Check("migrations", "ok", "all applied"))
    if known is not None:
        detail = f"last classified with {known.folder} (run {known.run_id})"
        checks.append(Check("classified with", "ok", detail))
    return checks


def zone_check(name: str) -> Check:
    """The project's zone is known to this machine; the time there and here."""
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return Check("time zone", "fail", f"'{name}' is not a time zone this machine knows")
    now = dt.datetime.now(dt.UTC)
    there = now.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    here = time.strftime("%Z")
    detail = f"{name}: {there} there; this machine's zone is {here}"
    return Check("time zone", "ok", detail)


def java_check() -> Check:
    found = which("java")
    if found is None:
        return Check("java", "warn", "not found: only classify --engine spark needs it")
    return Check("java", "ok", found)


def chromium_check() -> Check:
    found = next((p for p in map(which, CHROMIUM) if p), None)
    if found is None:
        detail = "not found: only the report's PNG picture needs it (apt-get install chromium)"
        return Check("chromium", "warn", detail)
    return Check("chromium", "ok", found)
