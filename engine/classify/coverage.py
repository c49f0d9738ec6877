"""How many of the store's customers each rule catches: a valid rule project can still be
wrong (a tier cell 'low_valu' in a decision table matches nobody).

    coverage(store, ruleset, now) -> Coverage    read-only queries in the store (one counts)

Per rule of each ladder (tiers, levels, strategies, decision-table rows): `alone`, the
customers whose condition holds on its own, and `gets`, the customers the ladder gives it
(first hit, in the order the hit policy tries the rules). Per playbook step: the customers of
its level who meet its `when:`, the ones it could act on. The counts come from the
classification's own compiled SQL (measures, percentiles and gold included), with one more
stage of 0/1 columns after the ladders, summed in the same query; and the customers of each
branch a branch overlay adjusts the rules for; and the texts compared with free-text fields
that no customer holds (held_values.py). Nothing is written: the connection is made
read-only first, and the stored assignments are not read, so a store
classified with other rules, or never, counts the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from guanxi.engine.classify.compile import LADDERS, classification_stages, ladders, literal
from guanxi.engine.classify.held_values import Unheld, unheld_values
from guanxi.engine.classify.stages import Stage, quote, render
from guanxi.engine.i18n import _
from guanxi.engine.language import Condition
from guanxi.engine.ruleset import Ladder, RuleSet
from guanxi.engine.ruleset.branches import BRANCH_FIELD
from guanxi.engine.ruleset.load import today_in
from guanxi.engine.ruleset.ruleset import CompiledRule, CompiledStep, Origin
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import column_names, read_only

EVERY_LEVEL = "all"


@dataclass(frozen=True)
class RuleCount:
    kind: str  # tier, level or strategy
    name: str
    origin: Origin
    condition: str | None  # None: a catch-all
    alone: int  # customers whose condition holds on its own
    gets: int  # customers the ladder gives this rule
    reached: bool = True  # False: after a catch-all, never tried
    parts: tuple[tuple[str, int], ...] = ()  # each part of an AND condition: its customers

    @property
    def where(self) -> str:
        """'strategies.csv row 4' or 'tiers.yaml line 12'."""
        name = Path(self.origin.file).name
        if name.lower().endswith(".csv"):
            return _("{file} row {row}").format(file=name, row=self.origin.line)
        return _("{file} line {line}").format(file=name, line=self.origin.line)


@dataclass(frozen=True)
class StepCount:
    level: str
    step: str
    origin: Origin
    when: str | None
    customers: int  # of its level, meeting its `when:` when that reads customers only
    when_counted: bool = True  # False: its `when:` reads the event, counted by level only
    consent_field: str | None = None  # its channel's (a message channel of its own)
    consenting: int | None = None  # of `customers`, those who gave that consent


@dataclass(frozen=True)
class Coverage:
    customers: int
    today: dt.date
    rules: tuple[RuleCount, ...]
    steps: tuple[StepCount, ...]
    unmatched: Mapping[str, int] = field(default_factory=dict)  # per ladder: no rule gets them
    branches: Mapping[str, int] = field(default_factory=dict)  # per value of `branch`: customers
    unheld: tuple[Unheld, ...] = ()  # texts compared with a free-text field that nobody holds

    def of_level(self, level: str) -> int:
        if level == EVERY_LEVEL:
            return self.customers - self.unmatched.get("level", 0)
        return sum(r.gets for r in self.rules if r.kind == "level" and r.name == level)

    def share(self, count: int) -> float | None:
        return count / self.customers if self.customers else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "today": self.today.isoformat(),
            "rules": [self._rule_dict(r) for r in self.rules],
            "unmatched": dict(self.unmatched),
            "steps": [self._step_dict(s) for s in self.steps],
        }

    def _rule_dict(self, rule: RuleCount) -> dict[str, Any]:
        return {
            "kind": rule.kind,
            "name": rule.name,
            "file": rule.origin.file,
            "line": rule.origin.line,
            "condition": rule.condition,
            "alone": rule.alone,
            "alone_share": self.share(rule.alone),
            "gets": rule.gets,
            "gets_share": self.share(rule.gets),
        }

    def _step_dict(self, step: StepCount) -> dict[str, Any]:
        return {
            "level": step.level,
            "step": step.step,
            "file": step.origin.file,
            "line": step.origin.line,
            "when": step.when,
            "when_counted": step.when_counted,
            "customers": step.customers,
            "share": self.share(step.customers),
        }


def coverage(
    store: Store, ruleset: RuleSet, now: dt.datetime, with_unheld: bool = True
) -> Coverage:
    """The counts for every rule and step of `ruleset` over the store's customers, as of
    `now` (conditions such as DAYS_SINCE read the date); `with_unheld`: also the compared
    texts no customer holds (only the project being validated shows them)."""
    today = today_in(ruleset, now)
    query = _Query(ruleset, store.dialect, today)
    with _read_only(store):
        present = [r["name"] for r in store.execute(column_names("customers", store.dialect))]
        row = store.execute(query.sql(present))[0] if present else {}
        branches = _branches(store) if ruleset.branches and BRANCH_FIELD in present else {}
        counted = query.read(row, today)
        unheld = (
            unheld_values(store, ruleset.compared_values, present)
            if with_unheld and counted.customers
            else ()
        )
    return dataclasses.replace(counted, branches=branches, unheld=unheld)


def _branches(store: Store) -> dict[str, int]:
    """The customers of each value of the `branch` field, to tell an overlay whose branch
    no customer is of (a file named 长沙.yaml where the customers' branch is 长沙分行)."""
    branch = quote(BRANCH_FIELD, store.dialect)
    sql = f"SELECT {branch} AS b, COUNT(*) AS n FROM customers GROUP BY {branch}"
    return {row["b"]: int(row["n"]) for row in store.execute(sql) if row["b"] is not None}


@contextlib.contextmanager
def _read_only(store: Store) -> Iterator[None]:
    store.execute(read_only(store.dialect))
    try:
        yield
    finally:
        store.execute(read_only(store.dialect, on=False))


@dataclass
class _Query:
    """The counting query: aliases of the 0/1 columns, and the sums read back by name."""

    ruleset: RuleSet
    dialect: str
    today: dt.date

    def q(self, name: str) -> str:
        return quote(name, self.dialect)

    def sql(self, present: list[str]) -> str:
        flags = dict(self.flags())
        consents = {f for s in self.ruleset.steps if (f := self.consent_field(s))}
        also = {n for s in self.ruleset.steps if s.when for n in s.when.fields} | consents
        stages, extra = classification_stages(
            self.ruleset, self.dialect, self.today, "customers", present, also
        )
        uses = {n for s in self.conditions() for n in s} | set(LADDERS) | consents
        # once, not inlined into each of the many sums that read tier, level and strategy
        stages[-1].materialize = True
        stages.append(Stage("cover", flags, uses))
        inner = render(stages, extra, [*flags, *LADDERS], self.dialect)
        sums = ", ".join(f"SUM({sql}) AS {self.q(alias)}" for alias, sql in self.sums())
        return f"SELECT COUNT(*) AS {self.q('_n')}, {sums} FROM ({inner}) AS x"

    def conditions(self) -> Iterator[frozenset[str]]:
        for _kind, _name, rule in self.rules():
            if rule.condition is not None:
                yield rule.condition.fields
        for step in self.ruleset.steps:
            if step.when is not None and _customer_only(step):
                yield step.when.fields

    def rules(self) -> Iterator[tuple[str, int, CompiledRule]]:
        for kind, ladder in ladders(self.ruleset).items():
            for index, rule in enumerate(ladder.rules if ladder else ()):
                yield kind, index, rule

    def flags(self) -> Iterator[tuple[str, str]]:
        """`_a_<kind>_<i>`: rule i's condition holds; `_s_<i>`: step i could act."""
        for kind, index, rule in self.rules():
            condition = _condition(rule)
            if condition is not None:
                yield f"_a_{kind}_{index}", self.case(condition.sql(self.dialect, self.today))
                for part, tree in enumerate(_parts(condition)):
                    sql = dataclasses.replace(condition, tree=tree).sql(self.dialect, self.today)
                    yield f"_p_{kind}_{index}_{part}", self.case(sql)
        for index, step in enumerate(self.ruleset.steps):
            yield f"_s_{index}", self.case(self.step_sql(step))
            if (consent := self.consent_field(step)) is not None:
                yield (
                    f"_c_{index}",
                    self.case(f"{self.step_sql(step)} AND {self.q(consent)} IS TRUE"),
                )

    def consent_field(self, step: CompiledStep) -> str | None:
        """The consent field of the step's own message channel (not `preferred`); none for a
        mandatory notice, which is sent without it."""
        policies = self.ruleset.policies
        if step.step.mandatory:
            return None
        channel = policies.channels.get(step.step.channel or "") if policies else None
        return channel.consent_field if channel is not None else None

    def case(self, condition: str) -> str:
        return f"CASE WHEN {condition} THEN 1 ELSE 0 END"

    def step_sql(self, step: CompiledStep) -> str:
        level = self.q("level")
        terms = [f"{level} IS NOT NULL"]
        if step.level != EVERY_LEVEL:
            terms = [f"{level} = {literal(step.level, self.dialect)}"]
        if step.when is not None and _customer_only(step):
            terms.append(f"({step.when.sql(self.dialect, self.today)})")
        return " AND ".join(terms)

    def sums(self) -> Iterator[tuple[str, str]]:
        for kind, ladder in ladders(self.ruleset).items():
            if ladder is None:
                continue
            yield f"_none_{kind}", self.case(f"x.{self.q(kind)} IS NULL")
            for index in range(_reached(ladder)):
                yield f"_g_{kind}_{index}", self.case(self.gets_sql(kind, ladder, index))
                if not _always(ladder.rules[index]):
                    yield f"_a_{kind}_{index}", f"x.{self.q(f'_a_{kind}_{index}')}"
                for part in range(len(_parts(_condition(ladder.rules[index])))):
                    alias = f"_p_{kind}_{index}_{part}"
                    yield alias, f"x.{self.q(alias)}"
        for index, step in enumerate(self.ruleset.steps):
            yield f"_s_{index}", f"x.{self.q(f'_s_{index}')}"
            if self.consent_field(step) is not None:
                yield f"_c_{index}", f"x.{self.q(f'_c_{index}')}"

    def gets_sql(self, kind: str, ladder: Ladder, index: int) -> str:
        """Rule `index` is the first hit: the ladder gave its name and, when other rules share
        the name (a decision table may repeat one), it matched and no earlier one did."""
        rule = ladder.rules[index]
        terms = [f"x.{self.q(kind)} = {literal(rule.name, self.dialect)}"]
        same = [i for i, r in enumerate(ladder.rules) if r.name == rule.name and i != index]
        if same and not _always(rule):
            terms.append(f"x.{self.q(f'_a_{kind}_{index}')} = 1")
        terms += [f"x.{self.q(f'_a_{kind}_{i}')} = 0" for i in same if i < index]
        return " AND ".join(terms)

    def read(self, row: Mapping[str, Any], today: dt.date) -> Coverage:
        def count(alias: str) -> int:
            return int(row.get(alias) or 0)

        total = count("_n")
        rules = []
        for kind, index, rule in self.rules():
            alone = total if _always(rule) else count(f"_a_{kind}_{index}")
            ladder = ladders(self.ruleset)[kind]
            reached = ladder is not None and index < _reached(ladder)
            condition = _condition(rule)
            text = condition.text if condition is not None else None
            gets = count(f"_g_{kind}_{index}")
            parts = tuple(
                (tree.sql(), count(f"_p_{kind}_{index}_{part}"))
                for part, tree in enumerate(_parts(condition))
            )
            rules.append(RuleCount(kind, rule.name, rule.origin, text, alone, gets, reached, parts))
        steps = tuple(
            StepCount(
                s.level,
                s.id,
                s.origin,
                s.when.text if s.when else None,
                count(f"_s_{i}"),
                s.when is None or _customer_only(s),
                self.consent_field(s),
                count(f"_c_{i}") if self.consent_field(s) else None,
            )
            for i, s in enumerate(self.ruleset.steps)
        )
        unmatched = {k: count(f"_none_{k}") for k, v in ladders(self.ruleset).items() if v}
        return Coverage(total, today, tuple(rules), steps, unmatched)


def _condition(rule: CompiledRule) -> Condition | None:
    """The rule's condition; None for a catch-all (no `when:`, or one always true)."""
    return None if _always(rule) else rule.condition


def _parts(condition: Condition | None) -> list[exp.Expression]:
    """The parts of a condition that are all to hold (`a AND (b AND c)`: a, b, c), counted
    on their own to tell which one no customer meets; none for a condition of one part."""
    if condition is None:
        return []
    found = _conjuncts(condition.tree)
    return found if len(found) > 1 else []


def _conjuncts(tree: exp.Expression) -> list[exp.Expression]:
    inner = tree.unnest()
    if isinstance(inner, exp.And):
        return [*_conjuncts(inner.this), *_conjuncts(inner.expression)]
    return [inner if isinstance(inner, exp.Expression) else tree]


def _always(rule: CompiledRule) -> bool:
    return rule.condition is None or rule.condition.is_always_true


def _reached(ladder: Ladder) -> int:
    """How many rules the ladder tries: up to and including its first catch-all."""
    for index, rule in enumerate(ladder.rules):
        if _always(rule):
            return index + 1
    return len(ladder.rules)


def _customer_only(step: CompiledStep) -> bool:
    """Whether the step's `when:` reads the customer only (not the event that triggers it)."""
    return step.when is not None and not any(n.startswith("event.") for n in step.when.fields)
