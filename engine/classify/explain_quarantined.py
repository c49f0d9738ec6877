"""What `explain` says of a customer's rows that loads quarantined: a later row of a stored
customer's (the stored data may be stale), their events (not in the store, counted by
nothing) and their consent records (not in the ledger: a withdrawal quarantined leaves the
older consent standing). Each row with its file, line, day and problems, then what to do.

A customer who is not in the store is an UnknownCustomer; a QuarantinedCustomer when a load
quarantined a row of theirs (their own, an event or a consent record): what `explain` says
then is the rows, not only "no customer"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.ingest.kinds import shell_argument
from guanxi.engine.ingest.quarantine import row_problems

Records = Sequence[dict[str, Any]]
Mask = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]  # records as a view shows them


class UnknownCustomer(GuanxiError):
    def __init__(self, customer_id: str, message: str | None = None) -> None:
        super().__init__(message or _("no customer '{customer}'").format(customer=customer_id))
        self.customer_id = customer_id


class QuarantinedCustomer(UnknownCustomer):
    """A customer not in the store whose rows a load quarantined: their own `records` (why
    they are not in it), and their `events` and `consents` records; each row, and why."""

    def __init__(
        self,
        customer_id: str,
        records: Records,
        zone: str,
        events: Records = (),
        consents: Records = (),
    ) -> None:
        """`zone`: the project's, in which the day of each load is told."""
        lines = _not_loaded(customer_id, records, zone) + other_rows(events, consents, zone)
        super().__init__(customer_id, "\n".join(lines))
        self.records, self.events, self.consents = list(records), list(events), list(consents)
        self.zone = zone

    def shown(self, mask: Mask) -> QuarantinedCustomer:
        """The same, each kind of records as `mask` shows them."""
        kinds = (mask(self.records), mask(self.events), mask(self.consents))
        return QuarantinedCustomer(self.customer_id, kinds[0], self.zone, *kinds[1:])

    @property
    def count(self) -> int:
        return len(self.records) + len(self.events) + len(self.consents)


def _not_loaded(customer_id: str, records: Records, zone: str) -> list[str]:
    if not records:
        return [_("no customer '{customer}'").format(customer=customer_id)]
    said = _(
        "no customer '{customer}' in the store: a load quarantined their row, so it was not loaded"
    ).format(customer=customer_id)
    fix = _("correct the file and load it again to bring them in")
    return [said, *row_problems(list(records), zone), fix]


def quarantined_lines(
    customers: Records, events: Records, consents: Records, zone: str
) -> list[str]:
    """The lines of a stored customer's quarantined rows, each part after an empty one; none
    when nothing of theirs was quarantined. `zone`: the project's, in which the day of each
    load is told."""
    lines: list[str] = []
    if customers:
        said = _(
            "a later load quarantined a row of this customer, so the stored data may be stale:"
        )
        lines += ["", said, *row_problems(list(customers), zone)]
    return lines + other_rows(events, consents, zone)


def other_rows(events: Records, consents: Records, zone: str) -> list[str]:
    """The customer's quarantined event and consent rows, each kind after an empty line."""
    lines: list[str] = []
    if events:
        said = _(
            "a load quarantined event rows of this customer: those events are not in the store,"
            " and no measure or follow-up counts them:"
        )
        lines += ["", said, *_rows_and_fixes("events", events, zone)]
    if consents:
        said = _(
            "a load quarantined consent records of this customer: the consent ledger does not"
            " hold them. If one withdrew consent, the store still holds the older consent, and"
            " messages it allows may still be sent:"
        )
        lines += ["", said, *_rows_and_fixes("consents", consents, zone)]
    return lines


def _rows_and_fixes(kind: str, records: Records, zone: str) -> list[str]:
    """The rows, then for each file how to bring its rows in and clear their records."""
    fix = _(
        "correct them in {file} and load it again (guanxi load {kind} {file}); once loaded,"
        " clear its quarantined rows (guanxi quarantine clear --source {file})"
    )
    files = dict.fromkeys(str(record["source"]) for record in records)
    fixes = [fix.format(file=shell_argument(file), kind=kind) for file in files]
    return [*row_problems(list(records), zone), *fixes]
