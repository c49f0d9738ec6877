"""`guanxi doctor`'s check of classified customers the store keeps no row for: a store fed
only snapshot files (`classify --input`) plans no follow-up for them (engine/classify/rowless)."""

from __future__ import annotations

from guanxi.engine.classify.rowless import without_customer_row
from guanxi.engine.doctor.checks import Check, on_ready_store
from guanxi.engine.i18n import _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store

CODE = "customer rows"  # named in checks.NAMES


def stored_row_checks(location: str, ruleset: RuleSet) -> list[Check]:
    """The check of the store at `location` (see `on_ready_store`)."""
    return on_ready_store(location, lambda store: _row_check(store, ruleset.schema.key))


def _row_check(store: Store, key: str) -> list[Check]:
    count = without_customer_row(store, key)
    if count:
        detail = _(
            "{count} classified customer(s) have no customer row: no follow-up can be planned"
            " or sent for them (no name, phone or consent). Load them with"
            " 'guanxi load customers FILE' (the snapshot file given to classify --input will do)"
        ).format(count=f"{count:,}")
        return [Check(CODE, "warn", detail)]
    return [Check(CODE, "ok", _("every classified customer has a customer row"))]
