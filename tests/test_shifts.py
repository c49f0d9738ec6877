"""Nothing silently empties a group: classify and simulate warn when a run empties a tier,
level or strategy that held customers, leaves it a tenth of them, or moves most customers
into one, against the run before it (engine/classify/shifts.py). The shipped rules hold a new
tier for 2 runs: a warning comes at the run the rules' answers change, the customers held, and
another at the run after, where they move; none the night after that."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify import Cell, RunReport, classify, classify_snapshot
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
AFTER = NEXT + dt.timedelta(days=1)  # the hold of the shipped rules (2 runs) is over
LAST = AFTER + dt.timedelta(days=1)
# the valuable rule's last line (high value added's goes on with the products held)
VALUABLE = "      AND monthly_txn_count >= 10 AND contribution_pct >= 70%\n"
NOBODY_VALUABLE = VALUABLE.replace(">= 70%", ">= 100% AND products_held > 1000")
WEALTH = "(total_assets >= 20万 OR loan_balance >= 20万"
TEN_TIMES = {  # 万 typed on amounts already in 万: only the very rich stay valuable
    WEALTH: "(total_assets >= 2000万 OR loan_balance >= 10000万",
    "annual_income >= 5000万": "annual_income >= 500000万",
}
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


def test_a_group_left_a_tenth_of_its_customers_shrinks() -> None:
    """valuable from 5,000 to 3 (a threshold typed ten times too high) is warned as emptying
    is; a group that keeps more than a tenth, or loses fewer than 50, is not."""

    def shrunk(before: int, now: int, total: int = 100_000) -> list[Shift]:
        counts = {"tier": {"valuable": before, "low_value": total - before}}
        after = {"tier": {"valuable": now, "low_value": total - now}}
        return shifts(counts, after, ["tier"])

    assert shrunk(5000, 3) == [
        Shift("group-shrinks", "tier", "valuable", 5000, 100_000, 3, 100_000)
    ]
    assert shrunk(5000, 500) != []  # nine in ten lost
    assert shrunk(5000, 501) == []
    assert shrunk(55, 5, 1000) != []  # 50 customers, 5.5 % of the customers
    assert shrunk(54, 5, 1000) == []  # 49 customers: a few crossing a line
    assert shrunk(60, 1, 100_000) == []  # 0.06 % of the customers: not a group that matters


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
    # no rule catches nine in ten customers: the group None swallows (and low_value, left
    # 50 of 990, shrinks); None emptied is no loss
    before = {"tier": {None: 10, "low_value": 990}}
    found = shifts(before, {"tier": {None: 950, "low_value": 50}}, ["tier"])
    assert [(s.code, s.group) for s in found] == [
        ("group-swallows", None),
        ("group-shrinks", "low_value"),
    ]
    assert shifts({"tier": {None: 500, "a": 500}}, {"tier": {"a": 1000}}, ["tier"]) == []


def test_customers_no_rule_catches_point_at_the_end_of_the_list(ruleset: RuleSet) -> None:
    """Nine in ten customers get no tier (a list without its catch-all): the warning stands
    at the last tier rule and says no rule catches them."""
    before = {"tier": {"low_value": 995, "valuable": 5}, "level": {"basic": 1000}}
    previous = PreviousRun(1, "0" * 16, NOW, 1000, {**before, "strategy": {None: 1000}})
    cells = (Cell(None, "basic", None, 950, 0), Cell("low_value", "basic", None, 50, 0))
    report = RunReport(2, ruleset.hash, "sqlite", NEXT, NEXT, 1000, 0, 0, cells, previous=previous)
    [warning] = [w for w in shift_warnings(report, ruleset, {}) if w.code == "group-swallows"]
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
    """The hold keeps valuable's customers one more run: a warning at the rule change says so
    (time to revert); another at the run they leave says the rules changed at the run before;
    none after."""
    load_customers(store, ruleset, demo, NOW)
    first = classify(store, ruleset, NOW)
    assert first.previous is None and shift_warnings(first, ruleset, {}) == []
    held = first.groups()["tier"]["valuable"]
    assert held > 100
    changed = load_ruleset(edited(tmp_path, "tiers.yaml", {VALUABLE: NOBODY_VALUABLE}))
    change = classify(store, changed, NEXT)
    assert change.held >= held and change.assigned()["tier"]["valuable"] == held
    line = line_number(Path(changed.root) / "tiers.yaml", "  - name: valuable")
    coming = {w.message.split(":")[0]: w for w in shift_warnings(change, changed, {})}
    assert set(coming) == {
        "the rules' answers empty tier 'valuable' (有价值客户)",
        "the rules' answers empty level 'proactive' (能动型)",
    }
    warning = coming["the rules' answers empty tier 'valuable' (有价值客户)"]
    assert (warning.code, warning.line) == ("group-emptied", line)
    assert warning.message == (
        f"the rules' answers empty tier 'valuable' (有价值客户): {held} → 0 of 2,000 customers"
        f" since run {first.run_id} of 2026-11-28; 'hold:' keeps them where they are for 1"
        " more run"
    )
    assert warning.hint == (
        "the rules changed since that run; check its condition and the tier rules above it;"
        " act before they move: their on_leave/on_fall steps are planned then"
    )
    report = classify(store, changed, AFTER)
    # proactive is the level of valuable customers (levels.yaml): it empties with them
    found = {(w.code, w.message.split(" held")[0]): w for w in shift_warnings(report, changed, {})}
    assert set(found) == {
        ("group-emptied", "tier 'valuable' (有价值客户)"),
        ("group-emptied", "level 'proactive' (能动型)"),
    }
    warning = found["group-emptied", "tier 'valuable' (有价值客户)"]
    assert (warning.code, warning.severity, warning.line) == ("group-emptied", "warning", line)
    assert warning.message == (
        f"tier 'valuable' (有价值客户) held {held} of 2,000 customers ({held / 2000:.1%}) at the"
        f" last classification (run {change.run_id} of 2026-11-29); it holds none of the 2,000"
        " now"
    )
    assert warning.hint == (
        f"the rules changed at run {change.run_id}, 'hold:' kept them until now; check its"
        f" condition and the tier rules above it; the one that grew most: 'low_value' (+{held})"
    )
    assert shift_warnings(classify(store, changed, LAST), changed, {}) == []  # empty by now


@pytest.mark.every_store
def test_a_threshold_ten_times_too_high_shrinks_a_tier(
    store: Store, ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    shrinks_a_tier(store, ruleset, demo, tmp_path, classify)


def test_a_tier_shrinks_alike_on_the_duckdb_engine(
    store: Store, ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    def on_duckdb(store: Store, ruleset: RuleSet, now: dt.datetime) -> RunReport:
        return classify_snapshot(store, ruleset, now, demo)

    shrinks_a_tier(store, ruleset, demo, tmp_path, on_duckdb)


def shrinks_a_tier(
    store: Store,
    ruleset: RuleSet,
    demo: Path,
    tmp_path: Path,
    classify: Callable[[Store, RuleSet, dt.datetime], RunReport],
) -> None:
    """valuable keeps a few customers once 万 is typed on amounts already in 万: warned when
    the hold is over, at the valuable rule, and not again."""
    load_customers(store, ruleset, demo, NOW)
    held = classify(store, ruleset, NOW).groups()["tier"]["valuable"]
    changed = load_ruleset(edited(tmp_path, "tiers.yaml", TEN_TIMES))
    line = line_number(Path(changed.root) / "tiers.yaml", "  - name: valuable")
    change = classify(store, changed, NEXT)
    left = change.groups()["tier"]["valuable"]
    assert 0 < left <= held / 10 and change.assigned()["tier"]["valuable"] == held
    [coming] = [w for w in shift_warnings(change, changed, {}) if "'valuable'" in w.message]
    assert (coming.code, coming.line) == ("group-shrinks", line)
    assert coming.message == (
        f"the rules' answers shrink tier 'valuable' (有价值客户): {held} → {left} of 2,000"
        f" customers since run {change.run_id - 1} of 2026-11-28 ({1 - left / held:.1%} would"
        " leave); 'hold:' keeps them where they are for 1 more run"
    )
    assert coming.hint == (
        "the rules changed since that run; check its condition and the tier rules above it: a"
        " threshold 10 times too high?; act before they move: their on_leave/on_fall steps are"
        " planned then"
    )
    report = classify(store, changed, AFTER)
    assert report.groups()["tier"]["valuable"] == left
    found = {w.code: w for w in shift_warnings(report, changed, {}) if "'valuable'" in w.message}
    warning = found["group-shrinks"]
    assert warning.line == line
    assert warning.message == (
        f"tier 'valuable' (有价值客户) held {held} of 2,000 customers ({held / 2000:.1%}) at the"
        f" last classification (run {report.run_id - 1} of 2026-11-29); {left} of the 2,000 now"
        f" ({left / 2000:.1%}): {1 - left / held:.1%} of them left"
    )
    assert (warning.hint or "").startswith(
        f"the rules changed at run {report.run_id - 1}, 'hold:' kept them until now; check its"
        " condition and the tier rules above it: a threshold 10 times too high?; the one that"
        " grew most: 'low_value' (+"
    )
    assert shift_warnings(classify(store, changed, LAST), changed, {}) == []


def test_same_rules_point_at_the_data(
    store: Store, ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    """No customer transacts any more (a column left out of the load): the rules are the
    same, so the hint points at the data, not at a rule; the load to check is the one
    before the run the hold began at."""
    load_customers(store, ruleset, demo, NOW)
    classify(store, ruleset, NOW)
    store.execute("UPDATE customers SET monthly_txn_count = 0")
    change = classify(store, ruleset, NEXT)
    coming = {w.message.split(":")[0]: w for w in shift_warnings(change, ruleset, {})}
    assert (coming["the rules' answers empty tier 'valuable' (有价值客户)"].hint or "").startswith(
        "the rules are the same as at that run: the customers' data changed; check the last load"
    )
    report = classify(store, ruleset, AFTER)
    found = {w.message.split(" held")[0]: w for w in shift_warnings(report, ruleset, {})}
    assert "tier 'valuable' (有价值客户)" in found
    hint = found["tier 'valuable' (有价值客户)"].hint or ""
    assert hint.startswith(
        f"the rules are the same: the data changed at run {change.run_id}, 'hold:' kept them"
        " until now; check that load (a column missing or empty, amounts in other units)"
    )


def classified(store: str, rules: Path, now: dt.datetime, *more: str) -> Result:
    arguments = ["classify", "--rules", str(rules), "--store", store, "--now", now.isoformat()]
    return run(*arguments, *more)


@pytest.mark.parametrize("engine", ["sqlite", "duckdb-snapshot"])
def test_classify_warns_at_the_rule_on_either_engine(
    engine: str, demo: Path, tmp_path: Path
) -> None:
    """Levels: every rule but partner's asks for a ratio nobody has, so basic (the rule for
    everyone left) takes nine in ten customers and passive empties, once the hold is over;
    shown at the rule on standard error, with the source line, and in --json; not again at
    the run after."""
    store = str(tmp_path / "store" / "guanxi.db")
    (tmp_path / "store").mkdir()
    loaded = run("load", "customers", str(demo), "--rules", str(RULES), "--store", store)
    assert loaded.exit_code == 0, loaded.output
    more = ["--engine", "sqlite"] if engine == "sqlite" else ["--input", str(demo)]
    assert classified(store, RULES, NOW, *more).exit_code == 0
    rules = edited(tmp_path, "levels.yaml", LEVELS)
    change = json.loads(classified(store, rules, NEXT, *more, "--json").stdout)
    assert change["held"] > 0  # nobody moved yet: the rules' answers are warned
    basic = line_number(rules / "levels.yaml", "  - name: basic")
    coming = {(w["code"], w["line"]): w["message"] for w in change["warnings"]}
    assert coming["group-swallows", basic].startswith("the rules' answers put ")
    assert " in level 'basic' (基本型): " in coming["group-swallows", basic]
    assert coming["group-swallows", basic].endswith(
        " at run 1 of 2026-11-28; 'hold:' keeps them where they are for 1 more run"
    )
    shutil.copytree(tmp_path / "store", tmp_path / "copy")  # the same night, in --json
    result = classified(store, rules, AFTER, *more)
    assert result.exit_code == 0, result.output
    shown = f"{rules}/levels.yaml:{basic}:11: warning[group-swallows]: level 'basic' (基本型)"
    assert shown in result.stderr
    assert f"  {basic} |   - name: basic\n" in result.stderr
    assert f"the rules changed at run {change['run_id']}, 'hold:' kept them until now" in (
        result.stderr
    )
    assert "warning[group-emptied]: level 'passive' (被动型) held" in result.stderr
    copy = str(tmp_path / "copy" / "guanxi.db")
    as_json = json.loads(classified(copy, rules, AFTER, *more, "--json").stdout)
    assert as_json["previous"]["run_id"] == change["run_id"]
    found = {(w["code"], w["file"], w["line"]) for w in as_json["warnings"]}
    assert ("group-swallows", f"{rules}/levels.yaml", basic) in found
    again = json.loads(classified(store, rules, LAST, *more, "--json").stdout)
    assert again["warnings"] == []  # moved already: not every night


def test_in_chinese(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = str(tmp_path / "guanxi.db")
    run("load", "customers", str(demo), "--rules", str(RULES), "--store", store)
    classified(store, RULES, NOW)
    monkeypatch.setenv("GUANXI_LANG", "zh_CN")
    rules = edited(tmp_path, "tiers.yaml", {VALUABLE: NOBODY_VALUABLE})
    change = classified(store, rules, NEXT)
    assert (
        "警告[group-emptied]: 按规则的结果，层级 'valuable'（有价值客户）将被清空" in change.stderr
    )
    assert "防抖（hold:）让客户在原处再保留 1 次运行" in change.stderr
    assert "在客户移动之前处理" in change.stderr
    result = classified(store, rules, AFTER)
    assert "警告[group-emptied]: 层级 'valuable'（有价值客户）上次分类" in result.stderr
    assert "本次 2,000 位客户中一位也没有" in result.stderr
    assert "提示: 规则在第 2 次运行时已修改，防抖（hold:）让客户保留到本次" in result.stderr
    emptied = (
        "警告[group-emptied]: 关系水平 'proactive'（能动型）上次分类（2026-11-29 第 2 次运行）有"
    )
    assert emptied in result.stderr


def test_simulate_says_which_night(demo: Path, tmp_path: Path) -> None:
    """The first simulated night is the rule change, the customers held: warned that the
    rules' answers empty the tier; warned again the night they move; in the run's notes and
    in --json."""
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
    assert "  night of 2026-11-30: " in simulated.stdout
    assert "warning[group-emptied]: the rules' answers empty tier 'valuable'" in simulated.stdout
    assert "warning[group-emptied]: tier 'valuable' (有价值客户) held" in simulated.stdout
    as_json = run(
        "simulate", "--rules", str(rules), "--store", store, "--start", "2026-11-29",
        "--days", "2", "--json",
    )  # fmt: skip
    found = {(w["code"], w["night"][:10]) for w in json.loads(as_json.stdout)["rules"]["warnings"]}
    assert found == {("group-emptied", night) for night in ("2026-11-29", "2026-11-30")}


def test_the_daemon_logs_the_warning(
    ruleset: RuleSet, demo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    load_customers(store, ruleset, demo, NOW)
    classify(store, ruleset, NOW)
    rules = edited(tmp_path, "tiers.yaml", {VALUABLE: NOBODY_VALUABLE})
    clock = FixedClock(NEXT)
    daemon = Daemon(rules, load_ruleset(rules), store, clock, folder=tmp_path, port=None)
    try:
        with caplog.at_level(logging.WARNING, logger="guanxi.daemon"):
            daemon._classify()  # held: the rules' answers are warned
            clock.at = AFTER
            daemon._classify()  # they move
            clock.at = LAST
            daemon._classify()  # nothing more
    finally:
        daemon.running.adapters.close()
        store.close()
    moved = [
        r.diagnostic for r in caplog.records if r.getMessage() == "classification moved customers"
    ]
    assert len(moved) == 4  # the tier, and the level of its customers, at either run
    assert "warning[group-emptied]: the rules' answers empty tier 'valuable'" in moved[1]
    assert "warning[group-emptied]: the rules' answers empty level 'proactive'" in moved[0]
    assert "warning[group-emptied]: tier 'valuable' (有价值客户) held" in moved[3]
    assert "warning[group-emptied]: level 'proactive' (能动型) held" in moved[2]
