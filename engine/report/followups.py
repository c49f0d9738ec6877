"""Follow-up outcomes by playbook step: what became of every planned follow-up (sent,
suppressed, cancelled…), and, where relationship managers record their tasks in the store,
what came of each task (done, no answer, complaint…)."""

from __future__ import annotations

import typing
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.i18n.terms import status_word
from guanxi.engine.plan.followups import Status
from guanxi.engine.report.labels import Labels
from guanxi.engine.report.model import Column, Table
from guanxi.engine.store import Store

STATUSES: tuple[str, ...] = typing.get_args(Status)
OPEN, DONE = "open", "done"
NO_OUTCOME = "(none)"


@dataclass(frozen=True)
class FollowupOutcomes:
    statuses: dict[tuple[str, str], int]  # (step, status) -> follow-ups
    kinds: dict[str, str]  # step -> task or message
    tasks: dict[tuple[str, str, str], int] | None  # (step, status, outcome); None: no table
    labels: Labels
    channels: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, status)
    name: str = "followups"

    @property
    def title(self) -> str:
        return _("Follow-up outcomes by step")

    def steps(self) -> list[str]:
        return sorted({step for step, _ in self.statuses})

    def outcomes(self) -> list[str]:
        """Outcomes of done tasks, the most frequent first."""
        counts: Counter[str] = Counter()
        for (_step, status, outcome), n in (self.tasks or {}).items():
            if status == DONE:
                counts[outcome] += n
        return [outcome for outcome, _ in counts.most_common()]

    def notes(self) -> list[str]:
        if self.tasks:
            return []
        return [_("no relationship-manager tasks recorded yet: no task outcomes")]

    def tables(self) -> list[Table]:
        tables = [self._statuses_table()]
        if self.tasks is not None:
            tables.append(self._tasks_table())
        return [*tables, self._channels_table()]

    def _statuses_table(self) -> Table:
        columns = (
            Column("step", _("step")),
            Column("kind", _("kind")),
            *(Column(s, status_word(s), "count") for s in STATUSES),
            Column("followups", _("total"), "count"),
        )
        rows = []
        for step in self.steps():
            counts = [self.statuses.get((step, s), 0) for s in STATUSES]
            rows.append((self.labels.step(step), self.kinds[step], *counts, sum(counts)))
        return Table("followups_by_step", _("status"), columns, tuple(rows))

    def _channels_table(self) -> Table:
        columns = (
            Column("channel", _("channel")),
            *(Column(s, status_word(s), "count") for s in STATUSES),
            Column("followups", _("total"), "count"),
        )
        rows = []
        for channel in sorted({channel for channel, _status in self.channels}):
            counts = [self.channels.get((channel, s), 0) for s in STATUSES]
            rows.append((channel, *counts, sum(counts)))
        return Table("followups_by_channel", _("by channel"), columns, tuple(rows))

    def _tasks_table(self) -> Table:
        tasks = self.tasks or {}
        outcomes = self.outcomes()
        columns = (
            Column("step", _("step")),
            Column(OPEN, _("open"), "count"),
            Column(DONE, _("done"), "count"),
            *(
                Column(f"done_{o}", _("done: {outcome}").format(outcome=o), "count")
                for o in outcomes
            ),
        )
        rows = []
        for step in sorted({key[0] for key in tasks}):
            done = [tasks.get((step, DONE, o), 0) for o in outcomes]
            opened = sum(n for (s, status, _o), n in tasks.items() if s == step and status == OPEN)
            rows.append((self.labels.step(step), opened, sum(done), *done))
        title = _("Relationship managers' task outcomes by step")
        return Table("task_outcomes_by_step", title, columns, tuple(rows))

    def to_dict(self) -> dict[str, Any]:
        statuses = [
            {"step": step, "kind": self.kinds[step], "status": status, "followups": n}
            for (step, status), n in sorted(self.statuses.items())
        ]
        tasks = None
        if self.tasks is not None:
            tasks = [
                {"step": step, "status": status, "outcome": _outcome(outcome), "tasks": n}
                for (step, status, outcome), n in sorted(self.tasks.items())
            ]
        channels = [
            {"channel": channel, "status": status, "followups": n}
            for (channel, status), n in sorted(self.channels.items())
        ]
        return {"statuses": statuses, "channels": channels, "tasks": tasks}


def _outcome(outcome: str) -> str | None:
    return None if outcome == NO_OUTCOME else outcome


def followup_outcomes(store: Store, labels: Labels) -> FollowupOutcomes:
    rows = store.execute(
        "SELECT step_id, kind, status, COUNT(*) AS n FROM followups GROUP BY step_id, kind, status"
    )
    statuses = {(r["step_id"], r["status"]): int(r["n"]) for r in rows}
    kinds = {r["step_id"]: r["kind"] for r in rows}
    return FollowupOutcomes(statuses, kinds, _tasks(store), labels, _channels(store))


def _channels(store: Store) -> dict[tuple[str, str], int]:
    rows = store.execute(
        "SELECT channel, status, COUNT(*) AS n FROM followups GROUP BY channel, status"
    )
    return {(r["channel"], r["status"]): int(r["n"]) for r in rows}


def _tasks(store: Store) -> dict[tuple[str, str, str], int] | None:
    """Relationship managers' tasks by step, status and outcome, when the store keeps them."""
    if not has_table(store, "tasks"):
        return None
    rows = store.execute(
        "SELECT step_id, status, outcome, COUNT(*) AS n FROM tasks"
        " GROUP BY step_id, status, outcome"
    )
    return {(r["step_id"], r["status"], r["outcome"] or NO_OUTCOME): int(r["n"]) for r in rows}


def has_table(store: Store, name: str) -> bool:
    if store.dialect == "sqlite":
        sql = "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = :name"
    else:
        sql = "SELECT 1 AS found FROM information_schema.tables WHERE table_name = :name"
    return bool(store.execute(sql, {"name": name}))
