"""The checks of `guanxi doctor`, each a line with ok, warn or fail."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from shutil import which
from typing import Any, Literal

from guanxi.engine.errors import StoreError
from guanxi.engine.i18n import N_, _
from guanxi.engine.project import remembered
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store import open_store, store_exists
from guanxi.engine.store.base import Store, shown_location

Status = Literal["ok", "warn", "fail"]
CALENDAR_AHEAD = dt.timedelta(days=92)  # a quarter: the longest recurring step's period
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
NAMES = {
    "rules": N_("rules"),
    "store": N_("store"),
    "migrations": N_("migrations"),
    "classified with": N_("classified with"),
    "time zone": N_("time zone"),
    "customer ids": N_("customer ids"),
    "manager ids": N_("manager ids"),
    "group ids": N_("group ids"),
    "branch names": N_("branch names"),
    "customer rows": N_("customer rows"),
    "calendar": N_("calendar"),
}
DELIVERY = "delivery "  # the code of a delivery check: "delivery sms"


@dataclass(frozen=True)
class Check:
    """`code` names the check for machines (English, as --json gives it); `name` for people."""

    code: str
    status: Status
    detail: str

    @property
    def name(self) -> str:
        if self.code.startswith(DELIVERY):
            return _("delivery {channel}").format(channel=self.code.removeprefix(DELIVERY))
        return _(NAMES[self.code]) if self.code in NAMES else self.code

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "code": self.code, "status": self.status, "detail": self.detail}


def rules_check(folder: Path) -> tuple[RuleSet | None, Check]:
    result = validate_project(folder)
    errors = sum(1 for d in result.diagnostics if d.severity == "error")
    if result.ruleset is None:
        detail = _("{folder}: {n} error(s): guanxi validate {folder}").format(
            folder=folder, n=errors
        )
        return None, Check("rules", "fail", detail)
    warnings = len(result.diagnostics)
    if warnings:
        detail = _("{folder}: valid, {n} warning(s): guanxi validate {folder}").format(
            folder=folder, n=warnings
        )
        return result.ruleset, Check("rules", "warn", detail)
    detail = _("{folder}: valid (rule set {hash})").format(folder=folder, hash=result.ruleset.hash)
    return result.ruleset, Check("rules", "ok", detail)


def store_checks(location: str) -> list[Check]:
    """The store is there and answers; its migrations are applied; its rule project."""
    shown = shown_location(location)
    try:
        if not store_exists(location):
            detail = _("no store at '{store}' — create one with 'guanxi load customers FILE'")
            detail = detail.format(store=shown)
            return [Check("store", "fail", detail)]
        store = open_store(location, migrate=False)
    except StoreError as error:
        return [Check("store", "fail", str(error))]
    try:
        pending = store.pending_migrations()
        known = None if pending else remembered(store)
    finally:
        store.close()
    checks = [Check("store", "ok", _("{store} answers").format(store=shown))]
    if pending:
        detail = _("{n} migration(s) not applied ({names}): guanxi migrate").format(
            n=len(pending), names=", ".join(pending)
        )
        checks.append(Check("migrations", "warn", detail))
    else:
        checks.append(Check("migrations", "ok", _("all applied")))
    if known is not None:
        detail = _("last classified with {folder} (run {run})").format(
            folder=known.folder, run=known.run_id
        )
        checks.append(Check("classified with", "ok", detail))
    return checks


def zone_check(name: str) -> Check:
    """The project's zone is known to this machine; the time there and here."""
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        detail = _("'{zone}' is not a time zone this machine knows").format(zone=name)
        return Check("time zone", "fail", detail)
    now = dt.datetime.now(dt.UTC)
    there = now.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    here = time.strftime("%Z")
    detail = _("{zone}: {there} there; this machine's zone is {here}").format(
        zone=name, there=there, here=here
    )
    return Check("time zone", "ok", detail)


def calendar_check(ruleset: RuleSet, now: dt.datetime) -> Check:
    """The business days of the coming quarter are known: a country that moves days (调休)
    announces them year by year, and the `holidays` package knows only those announced when
    it was released."""
    calendar = ruleset.calendar
    today = calendar.local_day(now)
    year = calendar.unannounced_year(today, today + CALENDAR_AHEAD)
    country = ruleset.settings.calendar
    if year is None:
        detail = _(
            "{country}: the holidays and make-up working days of the next three months are known"
        )
        return Check("calendar", "ok", detail.format(country=country))
    detail = _(
        "{country}: the make-up working days (调休) of {year} are not known yet, so business"
        " days in {year} skip the statutory holidays alone: add that year's notice of the"
        " holidays and make-up working days to the calendar_overrides file of guanxi.yaml"
    )
    return Check("calendar", "warn", detail.format(country=country, year=year))


def java_check() -> Check:
    found = which("java")
    if found is None:
        return Check("java", "warn", _("not found: only classify --engine spark needs it"))
    return Check("java", "ok", found)


def chromium_check() -> Check:
    found = next((p for p in map(which, CHROMIUM) if p), None)
    if found is None:
        detail = _("not found: only the report's PNG picture needs it (apt-get install chromium)")
        return Check("chromium", "warn", detail)
    return Check("chromium", "ok", found)


def on_ready_store(location: str, read: Callable[[Store], list[Check]]) -> list[Check]:
    """`read`'s checks of the store at `location`; none when it is not there, does not answer
    or lacks migrations (the store's own checks say which)."""
    try:
        if not store_exists(location):
            return []
        store = open_store(location, migrate=False)
    except StoreError:
        return []
    try:
        return [] if store.pending_migrations() else read(store)
    finally:
        store.close()
