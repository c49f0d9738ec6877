"""`within:` on gold and on percentile measures: each segment of customers (the same kind, say)
is ranked as a population of its own; customers whose segment field is NULL are one segment."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.coverage import coverage
from guanxi.engine.classify.explain import explain
from guanxi.engine.classify.population import ranked_source
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.errors import GuanxiError
from guanxi.engine.ruleset import RuleSet, load_ruleset, validate_project
from guanxi.engine.ruleset.ruleset import Ranking
from guanxi.engine.store import Store
from tests.conftest import RULES

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 28)
GOLD_WITHIN = ("  top_percent: 5\n", "  top_percent: 5\n  within: kind\n")
PERCENTILE_WITHIN = (
    "    percentile_of: annual_contribution\n",
    "    percentile_of: annual_contribution\n    within: kind\n",
)
# Within each kind: top 5 % of 20 corporate is 1 customer, of 40 personal 2 (three tie at the
# top: all gold), of the 2 whose kind is NULL 0.1 (the larger one). Over all 62 customers the
# personal ones would not be gold: four customers have a larger contribution.
GOLD = {"N1", "C20", "P38", "P39", "P40"}


def project(folder: Path, *changes: tuple[str, str]) -> Path:
    """A copy of the shipped rules, gold and the contribution percentile ranked over all
    customers (the shipped `within:` of each taken out, so that each case writes its own),
    with each (old, new) replaced in tiers.yaml."""
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    text = (folder / "tiers.yaml").read_text("utf-8")
    for ranked in ("  top_percent: 5\n", "    percentile_of: annual_contribution\n"):
        text, found = re.subn(f"(\n{ranked}) *within: [^\n]*\n", r"\1", text)
        assert found == 1, ranked
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    (folder / "tiers.yaml").write_text(text, "utf-8")
    return folder


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    folder = tmp_path_factory.mktemp("within") / "rules"
    return load_ruleset(project(folder, GOLD_WITHIN, PERCENTILE_WITHIN))


def customers() -> list[dict[str, Any]]:
    def one(key: str, kind: str | None, contribution: float) -> dict[str, Any]:
        return {"customer_id": key, "name": key, "kind": kind, "balance": 1000.0,
                "last_txn_date": "2026-11-20", "annual_contribution": contribution}  # fmt: skip

    rows = [one(f"C{i:02d}", "corporate", 1000.0 * i) for i in range(1, 21)]
    rows += [one(f"P{i:02d}", "personal", 10.0 * i) for i in range(1, 38)]
    rows += [one(f"P{i:02d}", "personal", 5000.0) for i in range(38, 41)]
    return [*rows, one("N1", None, 1e9), one("N2", None, 1.0)]


@pytest.fixture
def loaded(store: Store, segmented: RuleSet) -> Store:
    store.upsert_customers(customers())
    classify(store, segmented, NOW)
    return store


def test_gold_is_the_top_of_each_kind(loaded: Store, segmented: RuleSet) -> None:
    rows = loaded.execute("SELECT customer_id FROM current_assignments WHERE gold")
    assert {r["customer_id"] for r in rows} == GOLD
    python = classify_records(segmented, customers(), TODAY)
    assert {r["customer_id"] for r in python if r["gold"]} == GOLD
    pct = {r["customer_id"]: r["contribution_pct"] for r in python}
    assert (pct["C20"], pct["C01"], pct["N1"], pct["N2"]) == (1.0, 0.0, 1.0, 0.0)
    assert (pct["P37"], pct["P38"]) == (36 / 39, 37 / 39)  # ties at the top: 37 below


def test_explain_ranks_within_the_segment(loaded: Store, segmented: RuleSet) -> None:
    found = explain(loaded, segmented, "P38", NOW)
    gold = next(s for s in found.standings if s.name == "gold")
    assert (found.gold, gold.within, gold.segment, gold.above, gold.population) == (
        True,
        ("kind",),
        ("personal",),
        0,
        40,
    )
    assert gold.reason == (
        "number 1 of the 40 customers with kind = personal: 0 have a larger"
        " annual_contribution; gold needs fewer than 5% of them (2): gold"
    )
    percentile = next(s for s in found.standings if s.name == "contribution_pct")
    assert (percentile.below, percentile.count, percentile.result) == (37, 40, 37 / 39)
    assert "of the other 39 customers with kind = personal" in percentile.reason
    alone = next(s for s in explain(loaded, segmented, "N2", NOW).standings if s.name == "gold")
    assert (alone.population, alone.result) == (2, False)
    assert "customers with kind IS NULL" in alone.reason


def test_explain_agrees_with_the_sql(loaded: Store, segmented: RuleSet) -> None:
    stored = loaded.execute(
        "SELECT customer_id, tier, level, strategy, gold FROM current_assignments"
    )
    for row in stored[::4]:
        found = explain(loaded, segmented, row["customer_id"], NOW)
        decided = tuple(found.decision(k).result for k in ("tier", "level", "strategy"))
        assert (*decided, found.gold) == (row["tier"], row["level"], row["strategy"], row["gold"])


def test_explain_command_shows_the_segment(loaded: Store, segmented: RuleSet) -> None:
    where = ["--rules", str(segmented.root), "--store", loaded.location, "--now", NOW.isoformat()]
    result = CliRunner().invoke(cli, ["explain", "C20", *where])
    assert result.exit_code == 0, result.output
    assert "gold: " in result.output and "number 1 of the 20 customers with kind = corporate" in (
        result.output
    )


def test_coverage_counts_gold_within_segments(loaded: Store, segmented: RuleSet) -> None:
    counts = coverage(loaded, segmented, NOW)
    package = next(r for r in counts.rules if r.kind == "strategy" and r.name == "gold_package")
    assert (package.alone, package.gets) == (len(GOLD), len(GOLD))


def test_within_is_part_of_the_rule_set_hash(segmented: RuleSet, ruleset: RuleSet) -> None:
    assert segmented.hash != ruleset.hash
    assert segmented.gold is not None and segmented.gold.within == ("kind",)
    assert [m.within for m in segmented.measures if m.percentile_of] == [("kind",)]


IDLE = "    expr: DAYS_SINCE(COALESCE(last_txn_date, opened_on))\n"
BAD = [
    (
        ("  top_percent: 5\n", "  top_percent: 5\n  within: [kind, balanse]\n"),
        "  within: [kind, balanse]",
        "tiers.yaml:{line}:18: error[unknown-field]: no customer field 'balanse'",
        "did you mean 'balance'?",
    ),
    (
        ("  top_percent: 5\n", "  top_percent: 5\n  within: total_assets\n"),
        "  within: total_assets",
        "tiers.yaml:{line}:11: error[unknown-field]: customers cannot be grouped by 'total_assets'",
        "other than the key",
    ),
    (
        ("  top_percent: 5\n", "  top_percent: 5\n  within: customer_id\n"),
        "  within: customer_id",
        "error[unknown-field]: customers cannot be grouped by 'customer_id'",
        "other than the key",
    ),
    (
        (IDLE, f"    within: kind\n{IDLE}"),
        "    within: kind",
        "tiers.yaml:{line}:13: error[unknown-key]: 'within:' goes with 'percentile_of:',"
        " not with 'expr:'",
        "rank with 'percentile_of:'",
    ),
]  # fmt: skip


def line_number(path: Path, line: str) -> int:
    """The number (from 1) of the one line of the file that reads `line`."""
    numbers = [n for n, text in enumerate(path.read_text("utf-8").splitlines(), 1) if text == line]
    assert len(numbers) == 1, numbers
    return numbers[0]


@pytest.mark.parametrize(("change", "written", "error", "hint"), BAD)
def test_a_wrong_within_is_shown_where_it_is_written(
    tmp_path: Path, change: tuple[str, str], written: str, error: str, hint: str
) -> None:
    folder = project(tmp_path / "rules", change)
    error = error.format(line=line_number(folder / "tiers.yaml", written))
    result = validate_project(folder)
    assert result.ruleset is None
    shown = [
        f"{Path(d.file).name}:{d.line}:{d.col}: error[{d.code}]: {d.message}"
        for d in result.diagnostics
    ]
    assert any(s.endswith(error) for s in shown), shown
    assert len(result.diagnostics) == 1 and hint in str(result.diagnostics[0].hint)


def test_explain_ranks_a_percentile_of_a_percentile_only_within_finer_segments(
    segmented: RuleSet,
) -> None:
    """A percentile within kind keeps its source's order inside each kind only."""
    assert ranked_source(segmented, Ranking("contribution_pct", ("kind",))) == "annual_contribution"
    assert ranked_source(segmented, Ranking("contribution_pct", ("kind", "rm_id"))) == (
        "annual_contribution"
    )
    with pytest.raises(GuanxiError, match="it is a percentile within kind"):
        ranked_source(segmented, Ranking("contribution_pct"))
