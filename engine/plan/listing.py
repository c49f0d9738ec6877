"""Follow-ups as people look for them: by customer, status, step and due time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from guanxi.engine.ids import same_id
from guanxi.engine.plan.followups import iso
from guanxi.engine.privacy.secrets import mask_secrets
from guanxi.engine.store.base import Row, Store

LISTED = (
    "id", "key", "customer_id", "step_id", "level", "kind", "channel", "template", "priority",
    "owner", "occurrence", "planned_due_at", "due_at", "expires_at", "status", "policy",
    "reason", "batch",
)  # fmt: skip


@dataclass(frozen=True)
class FollowupFilter:
    """Which follow-ups to list; an empty filter lists all of them."""

    customer: str | None = None
    statuses: tuple[str, ...] = ()
    step: str | None = None
    due_before: dt.datetime | None = None  # due strictly before this instant

    def where(self) -> tuple[str, dict[str, Any]]:
        """The SQL condition and its parameters."""
        parts, params = ["TRUE"], {}
        if self.customer is not None:
            parts.append("customer_id = :customer")
            params["customer"] = same_id(self.customer)
        if self.statuses:
            names = [f"status{i}" for i in range(len(self.statuses))]
            parts.append(f"status IN ({', '.join(':' + n for n in names)})")
            params.update(zip(names, self.statuses, strict=True))
        if self.step is not None:
            parts.append("step_id = :step")
            params["step"] = self.step
        if self.due_before is not None:
            parts.append("due_at < :due_before")
            params["due_before"] = iso(self.due_before)
        return " AND ".join(parts), params


def list_followups(store: Store, chosen: FollowupFilter, limit: int) -> list[Row]:
    """The first `limit` follow-ups that match, soonest due first."""
    where, params = chosen.where()
    columns = ", ".join(LISTED)
    rows = store.execute(
        f"SELECT {columns} FROM followups WHERE {where} ORDER BY due_at, id LIMIT :limit",
        {**params, "limit": limit},
    )
    return [_without_secrets(row) for row in rows]


def _without_secrets(row: Row) -> Row:
    """A reason written before credentials were masked out of reasons is masked here."""
    return {**row, "reason": mask_secrets(row["reason"])} if row["reason"] else row


def count_followups(store: Store, chosen: FollowupFilter) -> int:
    where, params = chosen.where()
    rows = store.execute(f"SELECT COUNT(*) AS n FROM followups WHERE {where}", params)
    return int(rows[0]["n"])


def customer_names(store: Store, key: str, field: str | None, ids: Iterable[str]) -> dict[str, str]:
    """The customers' names (their `field`, e.g. `name`) by id (their `key` field); none when
    the schema has no such field. Customers not loaded are left out."""
    wanted = sorted(set(ids))
    if field is None or not wanted:
        return {}
    names: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        params = {f"id{i}": value for i, value in enumerate(chunk)}
        marks = ", ".join(f":{name}" for name in params)
        rows = store.execute(
            f'SELECT "{key}" AS id, "{field}" AS name FROM customers WHERE "{key}" IN ({marks})',
            params,
        )
        names.update({str(row["id"]): str(row["name"]) for row in rows if row["name"]})
    return names
