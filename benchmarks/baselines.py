"""Per-customer baselines for the classification benchmark: durable_rules and a Python loop.

Both do the same per-customer work with the same compiled rules: the expression measures and
the tier, level and strategy ladders, evaluated by the Python predicates. Percentiles and gold
need the whole population, which one customer at a time cannot see, so they are computed
beforehand by the set-based SQL and handed in with each customer (not timed). The baselines
therefore do less than the set-based engines they are compared with.

durable_rules: one Host, one ruleset with one rule that matches every customer fact; its
action runs the predicates. Each customer is asserted as a fact (unique id, one sid) and
retracted again, as the event matcher does, so memory stays flat.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from guanxi.engine.classify import compile_classification
from guanxi.engine.classify.predicates import Predicates
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.sqlite import SQLiteStore

Record = dict[str, Any]


def sample(ruleset: RuleSet, store_path: Path, size: int, today: dt.date) -> list[Record]:
    """The first `size` customers of the store, as Python values, with their percentile
    measures and gold from the set-based SQL over the whole population."""
    store = SQLiteStore(store_path)
    predicates = Predicates(ruleset, today)
    rows = store.execute(f"SELECT * FROM customers ORDER BY rowid LIMIT {int(size)}")
    query = compile_classification(ruleset, "sqlite", today, "customers", measures=True)
    keys = {r[ruleset.schema.key] for r in rows}
    ranked = {r[ruleset.schema.key]: r for r in store.iter_rows(query.sql)
              if r[ruleset.schema.key] in keys}  # fmt: skip
    store.close()
    given = [m.name for m in ruleset.measures if m.percentile_of] + ["gold"]
    records = []
    for row in rows:
        record = predicates.facts(row)
        record.update({name: ranked[row[ruleset.schema.key]][name] for name in given})
        records.append(record)
    return records


def per_customer(ruleset: RuleSet, today: dt.date) -> Callable[[Record], Record]:
    """The per-customer work: expression measures, then the three ladders, first match."""
    predicates = Predicates(ruleset, today)
    measures = [(m.name, predicates.measure_fns[m.name]) for m in ruleset.measures if m.expression]
    ladders = [(kind, [(r.name, predicates.rule_fns.get((kind, r.name))) for r in ladder.rules])
               for kind, ladder in (("tier", ruleset.tiers), ("level", ruleset.levels),
                                    ("strategy", ruleset.strategies)) if ladder]  # fmt: skip

    def classify_one(record: Record) -> Record:
        for name, fn in measures:
            record[name] = fn(record)
        for kind, rules in ladders:
            record[kind] = next((n for n, fn in rules if fn is None or fn(record) is True), None)
        return record

    return classify_one


def python_loop(ruleset: RuleSet, records: list[Record], today: dt.date) -> float:
    """Seconds to classify `records` in a plain loop."""
    work = per_customer(ruleset, today)
    started = time.perf_counter()
    for record in records:
        work(dict(record))
    return time.perf_counter() - started


def durable_rules_run(ruleset: RuleSet, records: list[Record], today: dt.date) -> float:
    """Seconds to classify `records` one fact per customer through durable_rules."""
    from durable import engine

    work = per_customer(ruleset, today)
    done: list[Record] = []

    class Host(engine.Host):  # type: ignore[misc]
        def get_action(self, name: str) -> Callable[[Any], None]:
            return lambda context: done.append(work(_facts(context.m._d)))

    host = Host()
    name = f"classify_{ruleset.hash}"
    rule = {"all": [{"m": {"kind_of_fact": "customer"}}], "run": "classify"}
    host.set_rulesets({name: copy.deepcopy({"every_customer": rule})})
    facts = [_message(r, i) for i, r in zip(itertools.count(), records, strict=False)]
    started = time.perf_counter()
    for fact in facts:
        host.assert_fact(name, fact)
        host.retract_fact(name, fact)
    elapsed = time.perf_counter() - started
    if len(done) != len(records):
        raise RuntimeError(f"durable_rules classified {len(done)} of {len(records)} customers")
    return elapsed


def _message(record: Mapping[str, Any], number: int) -> Record:
    """A JSON-ready fact: dates as ISO text, NULLs left out (durable_rules has no NULL)."""
    fact: Record = {"id": number, "sid": "0", "kind_of_fact": "customer"}
    for key, value in record.items():
        if value is not None:
            fact[key] = value.isoformat() if isinstance(value, dt.date) else value
    return fact


def _facts(data: Mapping[str, Any]) -> Record:
    """The fact back as a record: missing fields are NULL, dates are read from ISO text by
    the predicates themselves."""
    return dict(data)
