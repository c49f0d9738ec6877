"""All the checks of `guanxi doctor`, in the order they are shown."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from guanxi.engine.doctor.checks import (
    Check,
    calendar_check,
    chromium_check,
    java_check,
    rules_check,
    store_checks,
    zone_check,
)
from guanxi.engine.doctor.ids import stored_id_checks
from guanxi.engine.doctor.rows import stored_row_checks
from guanxi.engine.doctor.targets import delivery_checks


def run_checks(folder: Path, location: str | None, timeout: float, now: dt.datetime) -> list[Check]:
    """Every check, in order: the rule project, the store and the ids it holds, delivery, time
    zone, business calendar, tools. `location`: --store (None: the project's `store:`)."""
    ruleset, rules = rules_check(folder)
    where = location or (ruleset.settings.store if ruleset else "guanxi.db")
    checks = [rules, *store_checks(where)]
    if ruleset is not None:
        checks += stored_id_checks(where, ruleset)
        checks += stored_row_checks(where, ruleset)
        checks += delivery_checks(ruleset, timeout)
        checks.append(zone_check(ruleset.settings.timezone))
        checks.append(calendar_check(ruleset, now))
    return [*checks, java_check(), chromium_check()]
