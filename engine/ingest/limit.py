"""How many quarantined rows a load may have before it is refused whole (--max-quarantine).

A file that is mostly bad is better not loaded at all: the load runs in one transaction and
is rolled back, quarantine records included, when it passes the limit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from guanxi.engine.encoding import UTF8
from guanxi.engine.errors import TooManyQuarantined
from guanxi.engine.i18n import _
from guanxi.engine.ingest.load import LoadReport, Progress
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

LIMIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*")


class Loader(Protocol):
    def __call__(
        self,
        store: Store,
        ruleset: RuleSet,
        path: Path | str,
        now: dt.datetime,
        progress: Progress | None = None,
        encoding: str = UTF8,
    ) -> LoadReport: ...


@dataclass(frozen=True)
class QuarantineLimit:
    """At most `rows` quarantined rows, or at most `percent` % of the rows read."""

    rows: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> QuarantineLimit:
        """`N` (rows) or `P%` (of the rows read). Raises ValueError with a message."""
        found = LIMIT.fullmatch(text)
        if found is None:
            raise ValueError(
                _("'{text}' is not a number of rows (50) or a percentage (5%)").format(text=text)
            )
        number, percent = found.groups()
        if percent:
            if float(number) > 100:
                raise ValueError(_("'{text}' is more than 100%").format(text=text))
            return cls(percent=float(number))
        if "." in number:
            raise ValueError(_("'{text}' is not a whole number of rows").format(text=text))
        return cls(rows=int(number))

    def exceeded(self, report: LoadReport) -> bool:
        if self.rows is not None:
            return report.quarantined > self.rows
        share = 100 * report.quarantined / report.read if report.read else 0.0
        return share > (self.percent or 0.0)

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else str(self.rows)


def load_within(
    loader: Loader,
    limit: QuarantineLimit | None,
    store: Store,
    ruleset: RuleSet,
    path: Path,
    now: dt.datetime,
    progress: Progress | None = None,
    encoding: str = UTF8,
) -> LoadReport:
    """`loader`'s load (of a file in `encoding`); with a limit, all of it or (past the limit)
    none of it: raises TooManyQuarantined, and the store is as it was."""
    if limit is None:
        return loader(store, ruleset, path, now, progress, encoding)
    with store.transaction():
        report = loader(store, ruleset, path, now, progress, encoding)
        if limit.exceeded(report):
            raise TooManyQuarantined(refusal(report, limit), report)
    return report


def refusal(report: LoadReport, limit: QuarantineLimit) -> str:
    share = 100 * report.quarantined / report.read if report.read else 0.0
    return _(
        "{source}: {quarantined} of {read} rows ({share}) could not be loaded, more than"
        " --max-quarantine {limit} allows: nothing was loaded."
        " Correct the rows shown and load the file again"
    ).format(
        source=report.source,
        quarantined=f"{report.quarantined:,}",
        read=f"{report.read:,}",
        share=f"{share:.1f}%",
        limit=limit,
    )
