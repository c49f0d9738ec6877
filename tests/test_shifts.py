"""Nothing silently empties a group: classify and simulate warn when a run empties a tier,
level or strategy that held customers, or moves most customers into one, against the run
before it (engine/classify/shifts.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify import Cell, RunReport, classify
from guanxi.engine.classify.report import PreviousRun
from guanxi.engine.classify.shifts import Shift, shift_warnings, shifts
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES
from tests.test_within import line_number

NOW = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)
NEXT = NOW + dt.timedelta(days=1)
VALUABLE = "      AND monthly_txn_count >= 10 AND contribution_pct >= 70%"
NOBODY_VALUABLE = VALUABLE.replace(">= 70%", ">= 100%") + " AND products_held > 1000"
LEVELS = {  # every level rule but partner asks for a value ratio no customer has
    "value_ratio >= 5\n": "value_ratio >= 5000\n",
    "OR (tier = 'low_value' AND value_ratio >= 3)": "AND value_ratio >= 3000",
    "tier = 'low_value' AND value_ratio >= 1\n": "tier = 'low_value' AND value_ratio >= 1000\n",
}


def test_a_group_emptied_held_one_in_a_hundred_or_a_hundred_customers() -> None:
    before = {"tier": {"a": 300, "b": 600, "c": 99, "d": 1}}
    now = {"tier": {"b": 950, "e": 50}}
    # a (30 %) and c (99 customers, 9.9 %) empty; d, one customer in a thousand, is the drift
    # of a night; b held 60 % before: not swallowed
    assert shifts(before, now, ["tier"]) == [
        Shift("group-emptied", "tier", "a", 300, 1000, 0, 1000),
        Shift("group-emptied", "tier", "c", 99, 1000, 0, 1000),
    ]


def test_a_swallowing_group_is_one_under_half_before_and_over_nine_in_ten_now() -> None:
    def swallowed(before: int, now: int) -> bool:
        counts = {"level": {"basic": before, "other": 1000 - before}}
        after = {"level": {"basic": now, "other": 1000 - now}}
        return any(s.code == "group-swallows" for s in shifts(counts, after, ["level"]))

    assert swallowed(499, 901)
    assert not swallowed(500, 1000)  # it held half already
    assert not swallowed(100, 900)  # nine in ten: not more
    assert not swallowed(901, 950)


def test_a_large_group_of_a_small_share_and_customers_caught_by_no_rule() -> None:
    # 100 customers of 10 million (0.001 %) emptied: a cause, not drift
    before = {"level": {"partner": 100, "basic": 9_999_900}}
    [emptied] = shifts(before, {"level": {"basic": 10_000_000}}, ["level"])
    assert (emptied.code, emptied.group, emptied.before) == ("group-emptied", "partner", 100)
    # no rule catches nine in ten customers: the group None swallows; None emptied is no loss
    before = {"tier": {None: 10, "low_value": 990}}
    [swallowed] = shifts(before, {"tier": {None: 950, "low_value": 50}}, ["tier"])
    assert (swallowed.code, swallowed.group) == ("group-swallows", None)
    assert shifts({"tier": {None: 500, "a": 500}}, {"tier": {"a": 1000}}, ["tier"]) == []


def test_customers_no_rule_catches_point_at_the_end_of_the_list(ruleset: RuleSet) -> None:
    """Nine in ten customers get no tier (a list without its catch-all): the warning stands
    at the last tier rule and says no rule catches them."""
    before = {"tier": {"low_value": 995, "valuable": 5}, "level": {"basic": 1000}}
    previous = PreviousRun(1, "0" * 16, NOW, 1000, {**before, "strategy": {None: 1000}})
    cells = (Cell(None, "basic", None, 950, 0), Cell("low_value", "basic", None, 50, 0))
    report = RunReport(2, ruleset.hash, "sqlite", NEXT, NEXT, 1000, 0, 0, cells, previous=previous)
    [warning] = shift_warnings(report, ruleset, {})
    assert warning.line == ruleset.tiers.rules[-1].origin.line
    assert warning.message == (
        "(no tier) now holds 950 of 1,000 customers (95.0%); at the last classification"
        " (run 1 of 2026-11-28) it held 0 of 1,000 (0.0%)"
    )
    assert warning.hint == (
        f"the rules changed since that run ({'0' * 16} → {ruleset.hash}); no tier rule catches"
        " them: check the conditions, or end the list with a rule without 'when:'"
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 demo customers (seed 1, data ending 2026-11-28, no bad rows)."""
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, 2000, 1, NOW.date(), bad_rows=False)
    return out / "customers.csv"


def edited(tmp_path: Path, file: str, changes: dict[str, str]) -> Path:
    """A copy of the shipped rules with `changes` (old -> new) made in `file`."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    text = (folder / file).read_text("utf-8")
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    (folder / file).write_text(text, "utf-8")
    return folder


def run(*arguments: str) -> Result:
    return CliRunner().invoke(cli, [*arguments])


@pytest.mark.every_store
def test_a_rule_change_that_empties_a_tier(
    store: Store, ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    load_customers(store, ruleset, demo, NOW)
    first = classify(store, ruleset, NOW)
    assert first.previous is None and shift_warnings(first, ruleset, {}) == []
    again = classify(store, ruleset, NEXT)
    assert again.previous is not None and again.previous.run_id == first.run_id
    assert shift_warnings(again, ruleset, {}) == []  # nothing moved
    held = first.groups()["tier"]["valuable"]
    assert held > 100
    changed = load_ruleset(edited(tmp_path, "tiers.yaml", {VALUABLE: NOBODY_VALUABLE}))
    report = classify(store, changed, NEXT)
    warnings = shift_warnings(report, changed, {})
    # the proactive level asks for a valuable tier: it empties with it, and says so too
    assert sorted(w.message.split(" held ")[0] for w in warnings) == [
        "level 'proactive' (能动型)",
        "tier 'valuable' (有价值客户)",
    ]
    [warning] = [w for w in warnings if w.message.startswith("tier 'valuable'")]
    line = line_number(Path(changed.root) / "tiers.yaml", "  - name: valuable")
    assert (warning.code, warning.severity, warning.line) == ("group-emptied", "warning", line)
    assert warning.message == (
        f"tier 'valuable' (有价值客户) held {held} of 2,000 customers ({held / 2000:.1%}) at the"
        f" last classification (run {again.run_id} of 2026-11-29); it holds none of the 2,000 now"
    )
    assert warning.hint == (
        f"the rules changed since that run ({ruleset.hash} → {changed.hash}); check its"
        " condition and the tier rules above it; the one that grew most:"
        f" 'low_value' (+{held})"
    )


def test_same_rules_point_at_the_data(
    store: Store, ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    """No customer transacts any more (a column left out of the load): the rules are the
    same, so the hint points at the data, not at a rule."""
    load_customers(store, ruleset, demo, NOW)
    classify(store, ruleset, NOW)
    store.execute("UPDATE customers SET monthly_txn_count = 0")
    report = classify(store, ruleset, NEXT)
    found = {w.message.split(" held")[0]: w for w in shift_warnings(report, ruleset, {})}
    assert "tier 'valuable' (有价值客户)" in found
    hint = found["tier 'valuable' (有价值客户)"].hint or ""
    assert hint.startswith(
        "the rules are the same as at that run: the customers' data changed; check the last"
        " load (a column missing or empty, amounts in other units)"
    )


def classified(store: str, rules: Path, now: dt.datetime, *more: str) -> Result:
    arguments = ["classify", "--rules", str(rules), "--store", store, "--now", now.isoformat()]
    return run(*arguments, *more)


@pytest.mark.parametrize("engine", ["sqlite", "duckdb-snapshot"])
def test_classify_warns_at_the_rule_on_either_engine(
    engine: str, demo: Path, tmp_path: Path
) -> None:
    """Levels: every rule but partner's asks for a ratio nobody has, so basic (the rule for
    everyone left) takes nine in ten customers and passive empties; shown at the rule on
    standard error, with the source line, and in --json."""
    store = str(tmp_path / "guanxi.db")
    loaded = run("load", "customers", str(demo), "--rules", str(RULES), "--store", store)
    assert loaded.exit_code == 0, loaded.output
    more = ["--engine", "sqlite"] if engine == "sqlite" else ["--input", str(demo)]
    assert classified(store, RULES, NOW, *more).exit_code == 0
    rules = edited(tmp_path, "levels.yaml", LEVELS)
    result = classified(store, rules, NEXT, *more)
    assert result.exit_code == 0, result.output
    basic = line_number(rules / "levels.yaml", "  - name: basic")
    shown = f"{rules}/levels.yaml:{basic}:11: warning[group-swallows]: level 'basic' (基本型)"
    assert shown in result.stderr
    assert f"  {basic} |   - name: basic\n" in result.stderr
    assert "it is the rule for everyone left: check the conditions of the level rules" in (
        result.stderr
    )
    assert "warning[group-emptied]: level 'passive' (被动型) held" in result.stderr
    assert classified(store, RULES, NEXT, *more).exit_code == 0  # back to the shipped rules
    as_json = json.loads(classified(store, rules, NEXT, *more, "--json").stdout)
    assert as_json["previous"]["ruleset_hash"] == load_ruleset(RULES).hash  # the run before
    found = {(w["code"], w["file"], w["line"]) for w in as_json["warnings"]}
    assert ("group-swallows", f"{rules}/levels.yaml", basic) in found
    again = json.loads(classified(store, rules, NEXT, *more, "--json").stdout)
    assert again["warnings"] == []  # the same rules and data as the run before: no move


def test_in_chinese(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = str(tmp_path / "guanxi.db")
    run("load", "customers", str(demo), "--rules", str(RULES), "--store", store)
    classified(store, RULES, NOW)
    monkeypatch.setenv("GUANXI_LANG", "zh_CN")
    rules = edited(tmp_path, "tiers.yaml", {VALUABLE: NOBODY_VALUABLE})
    result = classified(store, rules, NEXT)
    assert "警告[group-emptied]: 层级 'valuable'（有价值客户）上次分类" in result.stderr
    assert "本次 2,000 位客户中一位也没有" in result.stderr
    assert "提示: 规则自那次分类以来已修改" in result.stderr


def test_simulate_says_which_night(demo: Path, tmp_path: Path) -> None:
    """The first simulated night is the rule change: its warnings are in the run's notes
    and in --json."""
    store = str(tmp_path / "guanxi.db")
    run("load", "customers", str(demo), "--rules", str(RULES), "--store", store)
    classified(store, RULES, NOW)
    rules = edited(tmp_path, "tiers.yaml", {VALUABLE: NOBODY_VALUABLE})
    simulated = run(
        "simulate", "--rules", str(rules), "--store", store, "--start", "2026-11-29",
        "--days", "2", "--engine", "sqlite",
    )  # fmt: skip
    assert simulated.exit_code == 0, simulated.output
    assert "  night of 2026-11-29: " in simulated.stdout
    assert "warning[group-emptied]: tier 'valuable' (有价值客户) held" in simulated.stdout
    as_json = run(
        "simulate", "--rules", str(rules), "--store", store, "--start", "2026-11-29",
        "--days", "2", "--json",
    )  # fmt: skip
    warnings = json.loads(as_json.stdout)["rules"]["warnings"]
    [warning] = [w for w in warnings if w["message"].startswith("tier 'valuable'")]
    assert warning["code"] == "group-emptied" and warning["night"].startswith("2026-11-2")


def test_the_daemon_logs_the_warning(
    ruleset: RuleSet, demo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    load_customers(store, ruleset, demo, NOW)
    classify(store, ruleset, NOW)
    rules = edited(tmp_path, "tiers.yaml", {VALUABLE: NOBODY_VALUABLE})
    daemon = Daemon(rules, load_ruleset(rules), store, FixedClock(NEXT), folder=tmp_path, port=None)
    try:
        with caplog.at_level(logging.WARNING, logger="guanxi.daemon"):
            daemon._classify()
    finally:
        daemon.running.adapters.close()
        store.close()
    logged = [r for r in caplog.records if r.getMessage() == "classification moved customers"]
    emptied = "warning[group-emptied]: tier 'valuable' (有价值客户) held"
    assert [r for r in logged if emptied in r.diagnostic]
