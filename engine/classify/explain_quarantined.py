"""What `explain` says of a stored customer's rows that loads quarantined: a later row of
theirs (the stored data may be stale), their events (not in the store, counted by nothing)
and their consent records (not in the ledger: a withdrawal quarantined leaves the older
consent standing). Each row with its file, line, day and problems, then what to do."""

from __future__ import annotations

from typing import Any

from guanxi.engine.classify.explain import Explanation
from guanxi.engine.i18n import _
from guanxi.engine.ingest.kinds import shell_argument
from guanxi.engine.ingest.quarantine import row_problems

Records = list[dict[str, Any]]


def quarantined_lines(found: Explanation, zone: str) -> list[str]:
    """The lines, each part after an empty one; none when nothing of theirs was quarantined.
    `zone`: the project's, in which the day of each load is told."""
    lines: list[str] = []
    if found.quarantined:
        said = _(
            "a later load quarantined a row of this customer, so the stored data may be stale:"
        )
        lines += ["", said, *row_problems(list(found.quarantined), zone)]
    if found.quarantined_events:
        said = _(
            "a load quarantined event rows of this customer: those events are not in the store,"
            " and no measure or follow-up counts them:"
        )
        lines += ["", said, *_rows_and_fixes("events", list(found.quarantined_events), zone)]
    if found.quarantined_consents:
        said = _(
            "a load quarantined consent records of this customer: the consent ledger does not"
            " hold them. If one withdrew consent, the store still holds the older consent, and"
            " messages it allows may still be sent:"
        )
        lines += ["", said, *_rows_and_fixes("consents", list(found.quarantined_consents), zone)]
    return lines


def _rows_and_fixes(kind: str, records: Records, zone: str) -> list[str]:
    """The rows, then for each file how to bring its rows in and clear their records."""
    fix = _(
        "correct them in {file} and load it again (guanxi load {kind} {file}); once loaded,"
        " clear its quarantined rows (guanxi quarantine clear --source {file})"
    )
    files = dict.fromkeys(str(record["source"]) for record in records)
    fixes = [fix.format(file=shell_argument(file), kind=kind) for file in files]
    return [*row_problems(records, zone), *fixes]
