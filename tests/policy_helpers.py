"""What a customer received, read from the deliveries ledger, and which contact-policy promise
each delivery broke at the instant it was sent (consent, do-not-contact, quiet hours, caps)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.timing import parse_duration

LOCAL = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai, the default project's zone


def sent(store: Store) -> list[dict[str, Any]]:
    """Every message delivered, from the ledger, with its follow-up and customer."""
    return store.execute(
        "SELECT d.at, f.key, f.channel, f.priority, f.mandatory, f.purpose, c.*"
        " FROM deliveries d JOIN followups f ON f.id = d.followup_id"
        " LEFT JOIN customers c ON c.customer_id = f.customer_id"
        " WHERE d.outcome = 'sent' AND f.kind = 'message' ORDER BY d.at, d.id"
    )


def broken_promises(store: Store, ruleset: RuleSet) -> list[str]:
    """Each delivery that broke consent, do-not-contact, quiet hours or a cap at its time."""
    assert ruleset.policies is not None and ruleset.policies.quiet_hours is not None
    quiet = ruleset.policies.quiet_hours
    start, end = (dt.time.fromisoformat(t) for t in (quiet.start, quiet.end))
    deliveries = sent(store)
    broken = []
    for delivery in deliveries:
        at = dt.datetime.fromisoformat(delivery["at"])
        local, what = at.astimezone(LOCAL).time(), f"{delivery['key']} at {delivery['at']}"
        if local >= start or local < end:
            broken.append(f"{what}: in quiet hours")
        if not delivery["mandatory"] and delivery["do_not_contact"]:
            broken.append(f"{what}: do not contact")
        consent = ruleset.policies.channels[delivery["channel"]].consent_field
        if consent and not delivery[consent]:
            broken.append(f"{what}: no channel consent")
        if delivery["purpose"] == "marketing" and not delivery["consent_marketing"]:
            broken.append(f"{what}: no marketing consent")
        for cap in ruleset.policies.caps:
            if delivery["mandatory"] or cap.channel not in ("all", delivery["channel"]):
                continue
            per = parse_duration(cap.per)
            since = at - dt.timedelta(**{per.unit: per.amount})
            inside = [
                other for other in deliveries
                if other["customer_id"] == delivery["customer_id"] and not other["mandatory"]
                and cap.channel in ("all", other["channel"])
                and since < dt.datetime.fromisoformat(other["at"]) <= at
            ]  # fmt: skip
            if len(inside) > cap.max:
                broken.append(f"{what}: {len(inside)} in the {cap.channel} cap of {cap.max}")
    return broken
