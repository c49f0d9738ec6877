"""The preferred channel of the month's planning: the ledger's lookups against one read, on SQLite.

    python benchmarks/plan_channel_bench.py [--customers N] [--data DIR] [--runs N]

On plan_bench's store (built there the first time, in --data), the customers of the month's
occurrence with the channel chosen for each, as the planner's source chooses it, alternated
run by run (CPU seconds, medians of --runs, the 1-minute load average):

  lookups          `_Selection.channel()`: up to four lookups into the consent ledger a
                   customer (the preferred channel, then each fallback until one consents)
  one read         the same choice from one read of the customer's service records in force:
                   per candidate channel (the preferred one and each fallback), the latest of
                   its and the 'all' records as one text that sorts as the records do
                   (effective time, then id) and ends with its verdict
  one read, no id  the same without the id in the text: wrong when two records share an
                   instant, timed only as the least an aggregate read can cost
  ledger unread    the lookups replaced by NULL (wrong answers): what choosing costs alone

Before timing, the rows where "one read" chooses another channel than the lookups are counted
(0 expected).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import time
from pathlib import Path

from plan_bench import NOW, base_store, bench_rules, remove_store
from plan_parts_bench import selection

from guanxi.engine.classify.run import tuned
from guanxi.engine.consent import decided_at
from guanxi.engine.plan.policy_verdicts import sql_text
from guanxi.engine.plan.recurring import DUE, _Selection
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.store.dialect import quoted_name
from guanxi.engine.store.sqlite import SQLiteStore

SORTABLE = "l.effective_at || printf('%020d', l.id) || CAST(l.granted AS TEXT)"
LOOKUP = re.compile(r"\(SELECT l\.granted FROM consent_ledger .*? LIMIT 1\)")


def one_read(policies: PoliciesFile, key: str, record: str) -> str:
    """The channel chosen from one aggregate over the customer's service records in force;
    `record` is each record's sortable text."""
    assert policies.preferred is not None
    preferred = f"x.{quoted_name(policies.preferred.field)}"
    candidates = {"preferred": preferred} | {n: sql_text(n) for n in policies.preferred.fallback}
    latest = ", ".join(
        f"max(CASE WHEN l.channel IN ({channel}, 'all') THEN {record} END) AS k_{name}"
        for name, channel in candidates.items()
    )

    def consents(candidate: str, name: str) -> str:
        field = policies.channels[name].consent_field
        column = f"x.{quoted_name(field)}" if field else "TRUE"
        return f"coalesce(substr(r.k_{candidate}, -1) = '1', {column}) = TRUE"

    whens = [
        f"WHEN {preferred} = {sql_text(name)} AND :kind = '{channel.kind}'"
        f" AND {consents('preferred', name)} THEN {sql_text(name)}"
        for name, channel in policies.channels.items()
    ]
    whens += [
        f"WHEN NOT coalesce({preferred} = {sql_text(name)}, FALSE)"
        f" AND :kind = '{policies.channels[name].kind}' AND {consents(name, name)}"
        f" THEN {sql_text(name)}"
        for name in policies.preferred.fallback
    ]
    ledger = (
        f"SELECT {latest} FROM consent_ledger l WHERE l.customer_id = CAST({key} AS TEXT)"
        f" AND l.purpose = 'service' AND l.effective_at <= {decided_at(DUE)}"
    )
    return f"COALESCE((SELECT CASE {' '.join(whens)} END FROM ({ledger}) AS r), :channel)"


def variants(query: _Selection) -> dict[str, str]:
    policies = query.ruleset.policies
    assert policies is not None
    key = f"x.{quoted_name(query.ruleset.schema.key)}"
    return {
        "lookups": query.channel(),
        "one read": one_read(policies, key, SORTABLE),
        "one read, no id": one_read(policies, key, "l.effective_at || l.granted"),
        "ledger unread": LOOKUP.sub("NULL", query.channel()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", default="/tmp/guanxi-plan-bench")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    ruleset = bench_rules(data)
    work = data / "channel.db"
    shutil.copyfile(base_store(data, ruleset, args.customers), work)
    store = SQLiteStore(work)
    try:
        query = selection(ruleset)
        params, db = query.params("bench", NOW), store.db.conn
        ways = variants(query)
        source = f"FROM ({query.profiles()}) AS x WHERE TRUE"
        with tuned(store):
            both = f"SELECT {ways['lookups']} AS c, {ways['one read']} AS d {source}"
            sql = f"SELECT count(*) FROM ({both}) WHERE c IS NOT d"
            [(differ,)] = db.execute(sql, params).fetchall()
        print(f"rows where one read chooses another channel: {differ:,}")
        cpus: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.runs):
            for name, channel in ways.items():
                with tuned(store):
                    started = time.process_time()
                    sql = f"SELECT sum(length(c)) FROM (SELECT {channel} AS c {source})"
                    db.execute(sql, params).fetchall()
                    cpus[name].append(time.process_time() - started)
        load = os.getloadavg()[0]
        print(f"| way | CPU s (median) | runs | load {load:.1f} |\n|---|---:|---|---|")
        for name, each in cpus.items():
            runs = ", ".join(f"{cpu:.2f}" for cpu in each)
            print(f"| {name} | {statistics.median(each):.2f} | {runs} | |")
    finally:
        store.close()
        remove_store(work)


if __name__ == "__main__":
    main()
