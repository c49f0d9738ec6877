"""Personal data in what the views of customers print (`explain`, `followups list`, `tasks
list`, `report`): masked, unless `--unmask` is given, and then the view is written to the audit
log first (see `guanxi.engine.privacy.views` and `guanxi.engine.privacy.audit`).

A command sets the masker for what it prints; every line, table cell, JSON and CSV value the
CLI prints passes through it (`shown`, `shown_data`), so no view can print a value unmasked by
forgetting to ask. Commands that set none print as they always did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from guanxi.engine.privacy.views import Masker, masker

if TYPE_CHECKING:
    from guanxi.engine.ruleset import RuleSet
    from guanxi.engine.store import Store

SHOWN: ContextVar[Masker | None] = ContextVar("shown", default=None)  # None: nothing masked

unmask_option = click.option(
    "--unmask",
    is_flag=True,
    help="Show personal data (names, phone numbers, e-mail and ID numbers) whole; who did,"
    " when and what they looked at is written to the audit log (guanxi audit list).",
)


def shown(text: str) -> str:
    """`text` as the current view may print it."""
    masker = SHOWN.get()
    return masker.text(text) if masker else text


def shown_data(data: Any) -> Any:
    """JSON-like data as the current view may print it."""
    masker = SHOWN.get()
    return masker.deep(data) if masker else data


@contextmanager
def viewing(masker: Masker) -> Iterator[None]:
    """Everything printed inside passes through `masker`."""
    token = SHOWN.set(masker)
    try:
        yield
    finally:
        SHOWN.reset(token)


@dataclass(frozen=True)
class View:
    """What a command shows, as the audit log records it when shown unmasked."""

    action: str  # the command: `explain --unmask`
    at: dt.datetime  # the command's time (its --now, else the clock)
    subject: str | None = None  # the customer, when the view is of one
    detail: Mapping[str, Any] = field(default_factory=dict)  # the filters given


def view_masker(
    store: Store, ruleset: RuleSet, ids: Collection[str], unmask: bool, view: View
) -> Masker:
    """What masks a view of the customers `ids`; with --unmask nothing does, and the view is
    audited (with how many customers it shows) before anything is printed."""
    from guanxi.engine.privacy import audit  # the store's modules, when a command runs

    if not unmask:
        return masker(store, ruleset.schema, ids)
    shown = {"customers": len(ids), "viewed": audit.viewed(store, ids)}
    return audited_whole(store, view, shown)


def audited_whole(store: Store, view: View, shown: Mapping[str, Any]) -> Masker:
    """What shows a view whole (--unmask), once the view is written to the audit log with
    `shown` (what it shows) beside its filters."""
    from guanxi.engine.privacy import audit  # the store's modules, when a command runs

    audit.record(store, view.at, view.action, view.subject, {**view.detail, **shown})
    return Masker.whole()


def masked_records(rows: list[dict[str, Any]], masker: Masker) -> list[dict[str, Any]]:
    """Quarantine records (stored, or a load's first problems) with their values and reasons as
    `masker` shows them: every table, JSON and CSV of them prints these."""
    return [
        {**row, "value": masker.text(row["value"]) if row["value"] is not None else None,
         "reason": masker.text(row["reason"])}
        for row in rows
    ]  # fmt: skip
