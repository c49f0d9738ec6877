"""`guanxi doctor`'s check of classified customers the store keeps no row for: a store fed
only snapshot files (`classify --input`) plans no follow-up for them (engine/classify/rowless)."""

from __future__ import annotations

from guanxi.engine.classify.rowless import without_customer_row
from guanxi.engine.doctor.checks import Check
from guanxi.engine.errors import StoreError
from guanxi.engine.i18n import _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import open_store, store_exists

CODE = "customer rows"  # named in checks.NAMES


def stored_row_checks(location: str, ruleset: RuleSet) -> list[Check]:
    """The check of the store at `location`; none when it is not there, does not answer or
    lacks migrations (the store's own checks say which)."""
    try:
        if not store_exists(location):
            return []
        store = open_store(location, migrate=False)
    except StoreError:
        return []
    try:
        if store.pending_migrations():
            return []
        count = without_customer_row(store, ruleset.schema.key)
    finally:
        store.close()
    if count:
        detail = _(
            "{count} classified customer(s) have no customer row: no follow-up can be planned"
            " or sent for them (no name, phone or consent). Load them with"
            " 'guanxi load customers FILE' (the snapshot file given to classify --input will do)"
        ).format(count=f"{count:,}")
        return [Check(CODE, "warn", detail)]
    return [Check(CODE, "ok", _("every classified customer has a customer row"))]
