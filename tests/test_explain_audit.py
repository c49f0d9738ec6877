"""`guanxi explain` and `guanxi report` audited against what this file counts by itself.

A crafted bank of 160 customers (and a row the load quarantines on its age): 100 persons, 9
of them without a contribution, a tie at the 5 % gold line and one customer exactly at the
70th percentile that makes a customer valuable; companies of two industries and of none,
each kind and industry a gold market of its own (tiers.yaml `gold: within: [kind,
industry]`), with a tie at an industry's top and a customer just past its line; a dormant
customer, and institutions. A second load moves one person above another (both held back a
run by `hold: 2 runs`) and makes another's service cost so high that only their level moves,
held back too. Both loads are classified in the store (SQLite) and through DuckDB.

Every expectation comes from the CSV cells, counted here in plain Python after the rule
files' meaning (DOMAIN.md, rules/tiers.yaml and levels.yaml): no code of the engine's is
called to compute them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli

RULES = Path(__file__).parent.parent / "rules"
ENGINES = ("sqlite", "duckdb")
NIGHTS = ("2026-12-02T02:00", "2026-12-03T02:00")  # run 1 and run 2
SEEN = ("2026-12-02T10:00", "2026-12-03T10:00")  # explain, the morning after each run
TODAY = (dt.date(2026, 12, 2), dt.date(2026, 12, 3))
GOLD_PERCENT = 5
FIELDS = [
    "customer_id", "name", "kind", "industry", "rm_id", "opened_on", "age", "balance",
    "wealth_balance", "loan_balance", "monthly_txn_count", "last_txn_date", "products_held",
    "annual_contribution", "cost_to_serve", "acquisition_cost", "expected_years", "annual_income",
]  # fmt: skip
QUARANTINED = "QBAD"  # age 200: above the schema's max of 150
RISER, FALLER, LEVEL_ONLY = "P028", "P027", "P050"
AUDITED = (  # the edge cases explained on every engine
    "P001", "P005", "P006", "P007", "P026", "P027", "P028", "P050", "P088", "P089", "PN1",
    "CM01", "CM02", "CM03", "CF02", "CF03", "CX1", "CX4", "CX5", "I1", "I8", "D1", "H1",
)  # fmt: skip


def customer(cid: str, kind: str, contribution: Any, **cells: Any) -> dict[str, Any]:
    row = {
        "customer_id": cid, "name": f"客户{cid}", "kind": kind, "industry": "",
        "rm_id": "RM1", "opened_on": "2020-01-01", "age": 40, "balance": 300000,
        "wealth_balance": 0, "loan_balance": 0, "monthly_txn_count": 12,
        "last_txn_date": "2026-11-30", "products_held": 2, "annual_contribution": contribution,
        "cost_to_serve": 1000, "acquisition_cost": 500, "expected_years": 5,
        "annual_income": 100000,
    }  # fmt: skip
    return row | cells


def first_load() -> list[dict[str, Any]]:
    rows = []
    # 100 persons (D1 and H1 below among them), 91 known contributions; the 5th and 6th tie
    # at the gold line (4 above them: 4 < 5 % of 100, both gold), the 7th has 6 above; the
    # 28th (P027) has 63 of the 90 others below it: percentile 0.7 exactly, valuable; the
    # 29th (P028) 62/90, low value
    persons = [900000, 800000, 700000, 600000, 500000, 500000, 400000]
    persons += [300000 - 3000 * i for i in range(80)] + [0, -2000]
    rows += [customer(f"P{i + 1:03d}", "personal", v, rm_id=f"RM{i % 3 + 1}")
             for i, v in enumerate(persons)]  # fmt: skip
    rows += [customer(f"PN{j + 1}", "personal", "", rm_id="RM2") for j in range(9)]
    # 20 manufacturers: a tie at the top (no one above either: both gold; the line is 1)
    makers = [5000000, 5000000] + [3000000 - 100000 * i for i in range(18)]
    rows += [customer(f"CM{i + 1:02d}", "corporate", v, industry="manufacturing", rm_id="RM3")
             for i, v in enumerate(makers)]  # fmt: skip
    # 21 in finance: the line is 1.05, so the first two are gold, the third not
    finance = [9000000, 8000000, 7000000] + [1000000 - 10000 * i for i in range(18)]
    rows += [customer(f"CF{i + 1:02d}", "corporate", v, industry="finance")
             for i, v in enumerate(finance)]  # fmt: skip
    # companies of no industry: a segment of their own, with a NULL, a 0 and 10 yuan
    rows += [customer(f"CX{i + 1}", "corporate", v, rm_id="RM2")
             for i, v in enumerate([2000000, 100000, 50000, "", 0, 10])]  # fmt: skip
    institutions = [700000, 600000, 500000, 400000, 300000, 200000, 100000, ""]
    rows += [customer(f"I{i + 1}", "institutional", v, rm_id="RM3")
             for i, v in enumerate(institutions)]  # fmt: skip
    rows.append(customer("D1", "personal", 50, balance=0, last_txn_date="2025-01-02"))
    rows.append(customer("H1", "personal", 310000, products_held=5))
    return rows


def second_load() -> list[dict[str, Any]]:
    rows = first_load()
    for row in rows:
        if row["customer_id"] == RISER:
            row["annual_contribution"] = 250000  # passes FALLER: both change tier, held
        if row["customer_id"] == LEVEL_ONLY:
            row["cost_to_serve"] = 80000  # value ratio below 3: responsible -> passive
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow(customer(QUARANTINED, "personal", 123456, age=200))


# --- the expectations, by hand, from the CSV --------------------------------------------------


def read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = [r for r in csv.DictReader(file) if int(r["age"]) <= 150]
    for row in rows:
        for name in FIELDS[7:]:
            if name != "last_txn_date":
                row[name] = None if row[name] == "" else float(row[name])
        row["industry"] = row["industry"] or None
    return rows


def ranks(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each customer's percentile within the kind and gold within kind and industry."""
    found = {}
    for row in rows:
        mine = row["annual_contribution"]
        kind = [r["annual_contribution"] for r in rows if r["kind"] == row["kind"]]
        known = [v for v in kind if v is not None]
        market = [r["annual_contribution"] for r in rows
                  if (r["kind"], r["industry"]) == (row["kind"], row["industry"])]  # fmt: skip
        above = None if mine is None else sum(1 for v in market if v is not None and v > mine)
        below = None if mine is None else sum(1 for v in known if v < mine)
        gold = mine is not None and mine > 0 and above * 100 < len(market) * GOLD_PERCENT
        found[row["customer_id"]] = {
            "below": below, "others": len(known) - 1, "above": above,
            "population": len(market), "gold": gold,
            "percentile": None if below is None else below / (len(known) - 1),
        }  # fmt: skip
    return found


def tier_of(row: dict[str, Any], percentile: float | None, today: dt.date) -> str:
    idle = (today - dt.date.fromisoformat(row["last_txn_date"])).days
    empty = row["balance"] == 0 and not row["wealth_balance"] and not row["loan_balance"]
    if empty and idle >= 180:
        return "dormant"
    assets = (row["balance"] or 0) + (row["wealth_balance"] or 0)
    big = assets >= 200000 or (row["loan_balance"] or 0) >= 200000
    big = big or (row["kind"] != "personal" and (row["annual_income"] or 0) >= 5e7)
    valuable = big and row["monthly_txn_count"] >= 10 and (percentile or 0) >= 0.7
    if valuable and row["products_held"] >= 4:
        return "high_value_added"
    return "valuable" if valuable else "low_value"


def level_of(row: dict[str, Any], tier: str, gold: bool) -> str:
    years = row["expected_years"]
    ratio = (
        (row["annual_contribution"] or 0)
        * years
        / (row["acquisition_cost"] + row["cost_to_serve"] * years)
    )
    high = tier in ("high_value_added", "valuable")
    if (tier == "high_value_added" or (gold and tier == "valuable")) and ratio >= 10:
        return "partner"
    if high and ratio >= 5:
        return "proactive"
    if (high and ratio >= 1) or (tier == "low_value" and ratio >= 3):
        return "responsible"
    return "passive" if tier == "low_value" and ratio >= 1 else "basic"


def expected(path: Path, today: dt.date) -> dict[str, dict[str, Any]]:
    rows = read_csv(path)
    found = ranks(rows)
    for row in rows:
        mine = found[row["customer_id"]]
        mine["row"] = row
        mine["tier"] = tier_of(row, mine["percentile"], today)
        mine["level"] = level_of(row, mine["tier"], mine["gold"])
    return found


# --- the runs ---------------------------------------------------------------------------------


def run_cli(*args: str, lang: str = "en") -> Result:
    env = {"COLUMNS": "250", "GUANXI_LANG": lang}
    result = CliRunner(env=env).invoke(cli, list(args))
    assert result.exit_code in (0, 3), result.output
    return result


def store(bank: Path, engine: str) -> list[str]:
    return ["--rules", str(RULES), "--store", str(bank / f"{engine}.db")]


def explained(bank: Path, engine: str, run: int, lang: str = "en") -> dict[str, str]:
    return {
        c: run_cli("explain", c, *store(bank, engine), "--now", SEEN[run], lang=lang).stdout
        for c in AUDITED
    }


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("audit")
    files = [folder / "first.csv", folder / "second.csv"]
    write_csv(files[0], first_load())
    write_csv(files[1], second_load())
    shown: dict[str, Any] = {"folder": folder, "files": files}
    for run, file in enumerate(files):
        for engine in ENGINES:
            loaded = run_cli("load", "customers", str(file), *store(folder, engine))
            assert loaded.exit_code == 3  # the row of age 200 is quarantined
            run_cli("classify", *store(folder, engine), "--engine", engine, "--now", NIGHTS[run])
            shown[engine, run] = explained(folder, engine, run)
    shown["zh"] = explained(folder, "sqlite", 1, lang="zh")
    report = run_cli("report", *store(folder, "sqlite"), "--json", "--now", SEEN[1]).stdout
    shown["report"] = json.loads(report)
    return shown


def query(bank: dict[str, Any], engine: str, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bank["folder"] / f"{engine}.db") as db:
        return db.execute(sql).fetchall()


# --- what explain says, read back -------------------------------------------------------------

PERCENTILE = re.compile(
    r"^contribution_pct: \S+ — (\d+) of the other (\d+) customers with kind = (\w+) whose"
    r" annual_contribution is known have less: percentile ([\d.]+)$",
    re.M,
)
GOLD = re.compile(
    r"^gold: (True|False) — number (\d+) of the (\d+) customers with kind = (\w+),"
    r" industry (= \w+|IS NULL): (\d+) have a larger annual_contribution; gold needs fewer"
    r" than 5% of them \(([\d.]+)\): (gold|not gold)$",
    re.M,
)
NEVER = re.compile(
    r"^gold: False — annual_contribution is (NULL|-?[\d.]+)(, 0 or less)?: never", re.M
)


def decided(text: str, kind: str) -> str:
    """The rule explain names as the one that decided, and checks it is the one ticked."""
    [head] = re.findall(rf"^{kind}: (\w+) \S+ \(hit policy first\)$", text, re.M)
    section = text.split(f"\n{kind}: ", 1)[1].split("\n\n", 1)[0]
    ticked = re.findall(r"^  ✓ (\w+) \(", section, re.M)
    assert ticked == [head], (kind, head, ticked)
    return head


@pytest.mark.parametrize("run", [0, 1])
@pytest.mark.parametrize("engine", ENGINES)
def test_every_number_explain_prints_is_the_hand_count(
    bank: dict[str, Any], engine: str, run: int
) -> None:
    want = expected(bank["files"][run], TODAY[run])
    for cid, text in bank[engine, run].items():
        mine = want[cid]
        if mine["below"] is None:
            assert "annual_contribution is NULL, so the percentile is NULL" in text, cid
            assert NEVER.search(text), cid
            continue
        [(below, others, kind, percentile)] = PERCENTILE.findall(text)
        assert (int(below), int(others), kind) == (
            mine["below"],
            mine["others"],
            mine["row"]["kind"],
        )
        assert float(percentile) == pytest.approx(mine["percentile"], abs=5e-5), cid
        if mine["row"]["annual_contribution"] <= 0:
            assert NEVER.search(text), cid
            continue
        [found] = GOLD.findall(text)
        gold, position, population, kind, industry, above, limit, verdict = found
        industry_said = (
            "IS NULL" if mine["row"]["industry"] is None else f"= {mine['row']['industry']}"
        )
        assert (kind, industry, int(population), int(above)) == (
            mine["row"]["kind"], industry_said, mine["population"], mine["above"],
        ), cid  # fmt: skip
        assert int(position) == mine["above"] + 1, cid
        assert float(limit) == pytest.approx(mine["population"] * GOLD_PERCENT / 100)
        assert (gold == "True", verdict == "gold") == (mine["gold"], mine["gold"]), cid


def test_the_gold_line_and_the_percentile_line_fall_where_the_hand_count_puts_them(
    bank: dict[str, Any],
) -> None:
    want = expected(bank["files"][0], TODAY[0])
    gold = sorted(c for c, m in want.items() if m["gold"])
    # persons tied at the line are both gold; an industry's tied top both; finance's second
    persons = [f"P00{i}" for i in range(1, 7)]
    assert gold == ["CF01", "CF02", "CM01", "CM02", "CX1", "I1", *persons]
    assert want[FALLER]["percentile"] == 0.7 and want[FALLER]["tier"] == "valuable"
    assert want[RISER]["tier"] == "low_value"
    stored = dict(query(bank, "sqlite", "SELECT customer_id, gold FROM current_assignments"))
    assert stored == {c: int(m["gold"]) for c, m in want.items()}


@pytest.mark.parametrize("engine", ENGINES)
def test_the_rule_explain_names_is_the_one_that_decided(bank: dict[str, Any], engine: str) -> None:
    """Run 1: the stored answer, explain's ticked rule and the hand count agree for every
    audited customer; run 2 changed the data so that other rules match: explain follows."""
    for run in (0, 1):
        want = expected(bank["files"][run], TODAY[run])
        for cid, text in bank[engine, run].items():
            said = (decided(text, "tier"), decided(text, "level"))
            assert said == (want[cid]["tier"], want[cid]["level"]), (run, cid)
    first, second = bank[engine, 0], bank[engine, 1]
    assert decided(first[RISER], "tier") == "low_value"
    assert decided(second[RISER], "tier") == "valuable"
    assert decided(first[FALLER], "tier") == "valuable"
    assert decided(second[FALLER], "tier") == "low_value"
    assert (decided(first[LEVEL_ONLY], "level"), decided(second[LEVEL_ONLY], "level")) == (
        "responsible",
        "passive",
    )
    assert "H1" in first and decided(first["H1"], "tier") == "high_value_added"
    assert decided(first["D1"], "tier") == "dormant"


@pytest.mark.parametrize("engine", ENGINES)
def test_every_stored_assignment_is_the_hand_count(bank: dict[str, Any], engine: str) -> None:
    """Run 1 is a baseline: every customer's answer at once, the hand count's."""
    want = expected(bank["files"][0], TODAY[0])
    rows = query(bank, engine, "SELECT customer_id, tier, level, gold FROM assignments")
    assert len(rows) == len(want)
    found = {c: (t, lv, bool(g)) for c, t, lv, g in rows}
    assert found == {c: (m["tier"], m["level"], m["gold"]) for c, m in want.items()}


def held_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith(("  tier:", "  level:"))]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_held_back_move_says_it_is_held_and_until_when(bank: dict[str, Any], engine: str) -> None:
    """Run 2 gives the riser, the faller and the level-only mover new answers that `hold: 2
    runs` keeps waiting: run 3, the next night's classification (02:00), makes them count."""
    text = bank[engine, 1]
    assert "stored: low_value / responsible / general (run 1" in text[LEVEL_ONLY]
    assert held_lines(text[LEVEL_ONLY]) == [
        "level: qualifies for passive since run 2, 1 of 2 runs; stays responsible until run 3"
        " gives it too (the scheduled classification of 2026-12-04 02:00)"
    ]
    assert held_lines(text[RISER])[0] == (
        "tier: qualifies for valuable since run 2, 1 of 2 runs; stays low_value until run 3"
        " gives it too (the scheduled classification of 2026-12-04 02:00)"
    )
    assert "held (连续几次分类相同才调整)" in text[FALLER]
    zh = bank["zh"][LEVEL_ONLY]
    assert "第 3 次分类（按计划在 2026-12-04 02:00）仍得出「被动型」才调整" in zh, zh
    stored = query(bank, engine, "SELECT level, pending_level, pending_level_runs FROM"
                   f" current_assignments WHERE customer_id = '{LEVEL_ONLY}'")  # fmt: skip
    assert stored == [("responsible", "passive", 1)]


def test_sqlite_and_duckdb_give_the_same_answers_and_the_same_explanations(
    bank: dict[str, Any],
) -> None:
    columns = "customer_id, tier, level, strategy, gold, " + ", ".join(
        f"pending_{k}, pending_{k}_runs, pending_{k}_since" for k in ("tier", "level", "strategy")
    )
    sql = f"SELECT {columns} FROM current_assignments ORDER BY customer_id"
    assert query(bank, "sqlite", sql) == query(bank, "duckdb", sql)
    for run in (0, 1):
        assert bank["sqlite", run] == bank["duckdb", run]


def test_chinese_explain_gives_the_same_counts(bank: dict[str, Any]) -> None:
    want = expected(bank["files"][1], TODAY[1])["P006"]
    assert (want["above"], want["population"], want["gold"]) == (4, 100, True)
    assert (
        "在 kind = personal, industry IS NULL 的 100 位客户中排第 5：有 4 位的"
        " annual_contribution 更大" in bank["zh"]["P006"]
    )
    finance = expected(bank["files"][1], TODAY[1])["CF03"]
    assert (finance["above"], finance["population"], finance["gold"]) == (2, 21, False)
    assert (
        "在 kind = corporate, industry = finance 的 21 位客户中排第 3：有 2 位"
        in (bank["zh"]["CF03"])
    )


def test_a_gold_customer_ranked_past_the_line_in_percent_is_not_said_to_be_above_it(
    bank: dict[str, Any],
) -> None:
    """Gold counts the customers ahead: with 21 in a segment the limit is 1.05, so the second
    is gold though 2 of 21 is 9.5 %; explain gives the position, not a share above 5 %."""
    want = expected(bank["files"][1], TODAY[1])
    past = [
        cid for cid, mine in want.items()
        if mine["gold"] and 100 * (mine["above"] + 1) / mine["population"] > GOLD_PERCENT
    ]  # fmt: skip
    assert past, "the crafted bank should hold such a customer"
    for cid in past:
        [found] = GOLD.findall(bank["sqlite", 1][cid])
        assert (found[0], found[1], found[-1]) == ("True", str(want[cid]["above"] + 1), "gold")


def test_explain_of_a_quarantined_row_names_no_customer(bank: dict[str, Any]) -> None:
    result = CliRunner(env={"GUANXI_LANG": "en"}).invoke(
        cli, ["explain", QUARANTINED, *store(bank["folder"], "sqlite"), "--now", SEEN[1]]
    )
    assert result.exit_code == 1 and f"no customer '{QUARANTINED}'" in result.output
    [(field, value)] = query(bank, "sqlite", "SELECT field, value FROM quarantine "
                             "GROUP BY row_number")  # fmt: skip
    assert (field, value) == ("age", "200")


def test_the_report_totals_are_the_store_counts(bank: dict[str, Any]) -> None:
    report = bank["report"]
    distribution = report["distribution"]
    [(customers, gold)] = query(
        bank, "sqlite", "SELECT COUNT(*), SUM(gold) FROM current_assignments"
    )
    assert (distribution["customers"], distribution["gold"]) == (customers, gold)
    cells = query(
        bank, "sqlite", "SELECT tier, level, COUNT(*), SUM(gold) FROM current_assignments"
        " GROUP BY tier, level"
    )  # fmt: skip
    shown = {(c["tier"], c["level"]): (c["customers"], c["gold"]) for c in distribution["cells"]}
    assert shown == {(t, lv): (n, g) for t, lv, n, g in cells}
    industries = query(
        bank, "sqlite", "SELECT c.industry, COUNT(*), SUM(a.gold), SUM(c.balance),"
        " SUM(c.annual_contribution) FROM customers c JOIN current_assignments a"
        " ON a.customer_id = c.customer_id GROUP BY c.industry"
    )  # fmt: skip
    by_industry = {
        r["value"]: (r["customers"], r["gold"], r["deposits"], r["contribution"])
        for r in report["segments"]["by_industry"]
    }
    assert by_industry == {i: (n, g, d, c) for i, n, g, d, c in industries}
    by_tier = {r["tier"]: (r["customers"], r["gold"]) for r in report["scorecard"]["by_tier"]}
    tiers = query(bank, "sqlite", "SELECT tier, COUNT(*), SUM(gold) FROM current_assignments"
                  " GROUP BY tier")  # fmt: skip
    assert by_tier == {t: (n, g) for t, n, g in tiers}


def test_the_report_concentration_is_the_hand_count(bank: dict[str, Any]) -> None:
    """The share of the contribution the top 1, 5, 10 and 20 % hold, counted from the CSV as
    the report says it counts: among the customers whose contribution is known, a loss as 0."""
    rows = read_csv(bank["files"][1])
    known = [r["annual_contribution"] for r in rows if r["annual_contribution"] is not None]
    values = sorted((max(v, 0) for v in known), reverse=True)
    field = next(
        f for f in bank["report"]["concentration"]["fields"] if f["field"] == "annual_contribution"
    )
    assert (field["customers"], field["below_zero"]) == (len(values), 1)
    assert field["total"] == pytest.approx(sum(values))
    for top in (1, 5, 10, 20):
        held = sum(values[: math.ceil(len(values) * top / 100)]) / sum(values)
        assert field["top"][f"top_{top}_percent"] == pytest.approx(held), top


def test_the_report_dates_the_runs_it_compares_in_the_project_zone(bank: dict[str, Any]) -> None:
    """Both nights ran at 02:00 in Asia/Shanghai, the evening before in UTC."""
    text = run_cli("report", *store(bank["folder"], "sqlite"), "--now", SEEN[1]).stdout
    assert "latest classification: run 2, 2026-12-03 02:00 (Asia/Shanghai)" in text
    assert "run 1 (2026-12-02) → run 2 (2026-12-03)" in text
