"""`guanxi report` audited section by section against what this file counts by itself.

A crafted bank of 40 customers: deposits and contributions tied at the 5, 10 and 20 % cut-offs,
unknown (NULL) values, losses (contribution below 0); two classification nights (02:00 in
Asia/Shanghai, the evening before in UTC) between which some customers move. Follow-ups are
written into the store as planning would leave them: statuses of several steps and channels,
managers' tasks late at night in UTC (the next day in Shanghai), on a public holiday and on a
调休 make-up Saturday, and two experiments: a holdout with a group whose goal windows are all
still open (n = 0), and variants with one customer (n = 1) who always succeed.

Every expectation is counted here in plain Python from the CSV cells and the rows written; the
only engine answers read back are the tiers and levels each night left (the migration's input).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import math
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from tests.conftest import unheld_rules

ZONE = ZoneInfo("Asia/Shanghai")
NIGHTS = ("2026-12-02T02:00", "2026-12-03T02:00")
SEEN = "2026-12-03T10:00"  # the report, the morning after the second night
SEEN_UTC = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)
LANGUAGES = ("en", "zh")
TOPS = (1, 5, 10, 20)
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
FIELDS = [
    "customer_id", "name", "kind", "rm_id", "age", "balance", "wealth_balance", "loan_balance",
    "monthly_txn_count", "last_txn_date", "products_held", "annual_contribution",
    "cost_to_serve", "acquisition_cost", "expected_years",
]  # fmt: skip


def customer(number: int, balance: Any, contribution: Any) -> dict[str, Any]:
    return {
        "customer_id": f"C{number:02d}", "name": f"客户{number}", "kind": "personal",
        "rm_id": f"RM{number % 3 + 1}", "age": 40, "balance": balance, "wealth_balance": 0,
        "loan_balance": 0, "monthly_txn_count": 12, "last_txn_date": "2026-11-30",
        "products_held": 2 + number % 4, "annual_contribution": contribution,
        "cost_to_serve": 1000, "acquisition_cost": 500, "expected_years": 5,
    }  # fmt: skip


def first_load() -> list[dict[str, Any]]:
    """40 customers, 38 with a known balance: ceil(38 · 5 %) = 2 and ceil(38 · 10 %) = 4 fall
    inside ties; 36 with a known contribution, 3 of them losses and one 0."""
    balances: list[Any] = [900000, 900000, 900000, 500000, 500000, 400000, 400000, 400000]
    balances += [300000 - 7000 * i for i in range(30)] + ["", ""]
    contributions: list[Any] = [80000, 80000, 60000, 60000, 60000, 40000, 40000, 40000]
    contributions += [20000 - 500 * i for i in range(24)] + [0, -3000, -3000, -500]
    contributions += ["", "", "", ""]
    return [
        customer(i + 1, b, c) for i, (b, c) in enumerate(zip(balances, contributions, strict=True))
    ]


def second_load() -> list[dict[str, Any]]:
    """Some customers rise, some fall: the migration has moves both ways."""
    rows = first_load()
    for row in rows:
        number = int(row["customer_id"][1:])
        if number in (20, 21, 22):
            row["annual_contribution"] = 90000
            row["products_held"] = 5
        if number in (1, 6):
            row["last_txn_date"] = "2025-01-02"
            row["balance"] = 0
        if number == 3:
            row["cost_to_serve"] = 50000
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for name in ("balance", "annual_contribution"):
            row[name] = None if row[name] == "" else float(row[name])
    return rows


# --- follow-ups, tasks and events, as planning and delivery leave them ----------------------

STEP_ROWS = [  # (step, kind, channel, status, how many)
    ("responsible_post_sale_call", "task", "rm_task", "pending", 3),
    ("responsible_post_sale_call", "task", "rm_task", "sent", 2),
    ("responsible_post_sale_call", "task", "rm_task", "cancelled", 1),
    ("passive_invite_feedback", "message", "sms", "sent", 4),
    ("passive_invite_feedback", "message", "email", "sent", 2),
    ("passive_invite_feedback", "message", "wechat", "suppressed", 3),
    ("passive_invite_feedback", "message", "sms", "failed", 1),
]
# managers' tasks: (owner, due instant in UTC, status); 2026-10-06 is a day off (National
# Day), 2026-10-10 a Saturday worked (调休); 16:30 UTC is half past midnight in Shanghai
TASKS = [
    ("RM1", "2026-10-05T16:30:00Z", "pending"),  # 10-06 in Shanghai, a holiday
    ("RM1", "2026-10-06T01:00:00Z", "sent"),  # 10-06
    ("RM1", "2026-10-10T01:00:00Z", "pending"),  # the make-up Saturday
    ("RM1", "2026-10-10T01:00:00Z", "claimed"),
    ("RM1", "2026-10-10T01:30:00Z", "pending"),
    ("RM1", "2026-10-09T15:59:00Z", "pending"),  # 23:59 on 10-09 in Shanghai
    ("RM2", "2026-10-09T16:00:00Z", "pending"),  # midnight: 10-10
    ("RM2", "2026-10-10T02:00:00Z", "suppressed"),  # not work
    ("RM2", "2026-10-10T02:00:00Z", "failed"),  # not work
    (None, "2026-10-12T02:00:00Z", "pending"),  # no manager
]
# experiments, goal `sale within 30 days`: (step, arm, variant, planned due, sold, how many)
CLOSED, OPEN = "2026-10-20T02:00:00Z", "2026-11-20T02:00:00Z"  # window closed by SEEN or not
EXPERIMENT_ROWS = [
    ("proactive_product_news", "held_out", None, CLOSED, True, 2),
    ("proactive_product_news", "held_out", None, CLOSED, False, 9),
    ("proactive_product_news", "treated", None, CLOSED, True, 7),
    ("proactive_product_news", "treated", None, CLOSED, False, 8),
    ("proactive_product_news", "treated", None, OPEN, True, 3),  # still open: not counted
    ("growth_wealth_service", "treated", "growth_wealth_service", CLOSED, True, 1),  # n = 1
    ("growth_wealth_service", "treated", "growth_wealth_story", OPEN, False, 2),  # n = 0
]
TASK_OUTCOMES = [("open", None), ("open", None), ("done", "reached"), ("done", "reached"),
                 ("done", "no_answer")]  # fmt: skip


def followup(number: int, step: str, kind: str, channel: str, status: str) -> dict[str, Any]:
    return {
        "key": f"k{number}", "customer_id": f"C{number % 40 + 1:02d}", "step_id": step,
        "kind": kind, "channel": channel, "template": "t", "priority": 10, "purpose": "service",
        "owner": None, "occurrence": "o", "planned_due_at": CLOSED, "due_at": CLOSED,
        "status": status, "batch": "b", "ruleset_hash": "h", "created_at": CLOSED,
        "updated_at": CLOSED, "arm": None, "variant": None,
    }  # fmt: skip


def planned_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for step, kind, channel, status, count in STEP_ROWS:
        for _ in range(count):
            rows.append(followup(len(rows), step, kind, channel, status))
    for owner, due, status in TASKS:
        row = followup(len(rows), "proactive_check_in_call", "task", "rm_task", status)
        rows.append(row | {"owner": owner, "due_at": due, "planned_due_at": due})
    for step, arm, variant, due, _sold, count in EXPERIMENT_ROWS:
        for _ in range(count):
            row = followup(len(rows), step, "message", "sms", "sent")
            rows.append(row | {"arm": arm, "variant": variant, "planned_due_at": due})
    return rows


def sales(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A sale ten days after each follow-up of a customer who buys: one customer per row."""
    sold = []
    flags = [sold for *_, sold, count in EXPERIMENT_ROWS for _ in range(count)]
    experimental = [r for r in rows if r["step_id"] in ("proactive_product_news",
                                                         "growth_wealth_service")]  # fmt: skip
    for row, buys in zip(experimental, flags, strict=True):
        if buys:
            at = dt.datetime.fromisoformat(row["planned_due_at"]) + dt.timedelta(days=10)
            sold.append({"id": f"e{row['key']}", "type": "sale", "customer_id": row["customer_id"],
                         "at": at.strftime("%Y-%m-%dT%H:%M:%SZ")})  # fmt: skip
    return sold


def fill(db_path: Path) -> None:
    """Each experimental follow-up gets a customer of its own, so a sale counts once."""
    rows = planned_rows()
    for number, row in enumerate(r for r in rows if r["arm"] is not None):
        row["customer_id"] = f"X{number:03d}"
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM followups")  # what classify planned: only the rows written here
        columns = list(rows[0])
        db.executemany(
            f"INSERT INTO followups ({', '.join(columns)}) VALUES"
            f" ({', '.join(':' + c for c in columns)})",
            rows,
        )
        db.executemany(
            "INSERT INTO events (id, type, customer_id, at) VALUES (:id, :type, :customer_id, :at)",
            sales(rows),
        )
        db.executemany(
            "INSERT INTO tasks (key, step_id, status, outcome) VALUES (?, ?, ?, ?)",
            [(f"t{i}", "responsible_post_sale_call", s, o) for i, (s, o) in
             enumerate(TASK_OUTCOMES)],
        )  # fmt: skip


# --- the runs ---------------------------------------------------------------------------------


def run_cli(*args: str, lang: str = "en") -> Result:
    result = CliRunner(env={"COLUMNS": "250", "GUANXI_LANG": lang}).invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def store_args(bank: dict[str, Any], name: str = "bank.db") -> list[str]:
    return ["--rules", str(bank["rules"]), "--store", str(bank["folder"] / name)]


def states(db_path: Path) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT customer_id, tier, level FROM current_assignments").fetchall()
    return {c: (t, lv) for c, t, lv in rows}


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("report_audit")
    found: dict[str, Any] = {"folder": folder, "rules": unheld_rules(folder / "rules")}
    files = [folder / "first.csv", folder / "second.csv"]
    write_csv(files[0], first_load())
    write_csv(files[1], second_load())
    found["files"], found["states"] = files, []
    for night, file in zip(NIGHTS, files, strict=True):
        run_cli("load", "customers", str(file), *store_args(found))
        run_cli("classify", *store_args(found), "--now", night)
        found["states"].append(states(folder / "bank.db"))
    fill(folder / "bank.db")
    for lang in LANGUAGES:
        found["json", lang] = json.loads(
            run_cli("report", *store_args(found), "--json", "--now", SEEN, lang=lang).stdout
        )
        page = folder / f"report.{lang}.html"
        run_cli("report", *store_args(found), "--html", str(page), "--now", SEEN, lang=lang)
        found["html", lang] = page.read_text(encoding="utf-8")
        found["text", lang] = run_cli("report", *store_args(found), "--now", SEEN, lang=lang).stdout
    return found


def query(bank: dict[str, Any], sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bank["folder"] / "bank.db") as db:
        return db.execute(sql).fetchall()


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


# --- concentration ----------------------------------------------------------------------------


def pareto(values: list[float | None]) -> dict[str, Any]:
    """The top k % are the first ceil(n·k/100) known values, largest first; a loss holds 0."""
    held = sorted((max(v, 0.0) for v in values if v is not None), reverse=True)
    total, n = sum(held), len(held)

    def share_of_top(percent: int) -> float:
        return sum(held[: math.ceil(n * percent / 100)]) / total

    holders = next(m for m in range(1, n + 1) if sum(held[:m]) >= 0.8 * total)
    return {
        "customers": n, "total": total, "holders": holders, "holders_share": holders / n,
        "top": {k: share_of_top(k) for k in TOPS},
        "curve": [(0.0, 0.0)] + [(p / 100, share_of_top(p)) for p in range(1, 101)],
        "below_zero": sum(1 for v in values if v is not None and v < 0),
    }  # fmt: skip


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("field", ["balance", "annual_contribution"])
def test_the_concentration_is_the_hand_count(bank: dict[str, Any], field: str, lang: str) -> None:
    rows = read_csv(bank["files"][1])
    want = pareto([r[field] for r in rows])
    shown = bank["json", lang]["concentration"]["fields"]
    [found] = [f for f in shown if f["field"] == field]
    assert (found["customers"], found["below_zero"]) == (want["customers"], want["below_zero"])
    assert found["total"] == pytest.approx(want["total"])
    for k in TOPS:
        assert found["top"][f"top_{k}_percent"] == pytest.approx(want["top"][k]), k
    assert found["holders_of_80_percent"] == want["holders"]
    assert found["holders_of_80_percent_share"] == pytest.approx(want["holders_share"])
    curve = [(p["customers"], p["held"]) for p in found["curve"]]
    assert curve == pytest.approx(want["curve"])
    assert percent(want["top"][10]) in bank["html", lang]


def test_the_ties_fall_inside_the_cut_offs() -> None:
    """The crafted values put a cut-off inside a tie, so a rank off by one would show."""
    balances = sorted((r["balance"] for r in first_load() if r["balance"] != ""), reverse=True)
    assert len(balances) == 38
    for k in (5, 10, 20):
        last = math.ceil(38 * k / 100)
        assert balances[last - 1] == balances[last - 2] or balances[last - 1] == balances[last]


def test_the_concentration_sentence_in_both_languages(bank: dict[str, Any]) -> None:
    want = pareto([r["annual_contribution"] for r in read_csv(bank["files"][1])])
    top, holders = percent(want["top"][10]), percent(want["holders_share"])
    assert (
        f"年贡献度 yearly contribution: the top 10 % hold {top}; {holders} of customers hold 80 %"
        " (3 customers below 0 count as 0)" in bank["text", "en"]
    )
    assert f"前 10% 的客户持有 {top}；{holders} 的客户持有 80%" in bank["html", "zh"]


# --- migration --------------------------------------------------------------------------------


def moves(bank: dict[str, Any], side: int) -> Counter[tuple[str, str]]:
    before, after = bank["states"]
    return Counter((before[c][side], after[c][side]) for c in after if c in before)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_migration_is_the_count_of_each_nights_states(bank: dict[str, Any], lang: str) -> None:
    found = bank["json", lang]["migration"]
    assert (found["from_run"]["id"], found["to_run"]["id"]) == (1, 2)
    for side, kind in enumerate(("tiers", "levels")):
        want = moves(bank, side)
        matrix = found[kind]
        shown = {(m["from"], m["to"]): m["customers"] for m in matrix["moves"]}
        assert shown == dict(want), kind
        order = matrix["order"]
        up = sum(n for (a, b), n in want.items() if order.index(b) < order.index(a))
        down = sum(n for (a, b), n in want.items() if order.index(b) > order.index(a))
        same = sum(n for (a, b), n in want.items() if a == b)
        assert (matrix["up"], matrix["down"], matrix["same"], matrix["new"]) == (up, down, same, 0)
    assert (
        moves(bank, 0)[("valuable", "dormant")] or moves(bank, 0)[("high_value_added", "dormant")]
    )
    assert sum(n for (a, b), n in moves(bank, 0).items() if a != b) >= 3


def test_the_migration_notes_say_the_counts_and_the_local_days(bank: dict[str, Any]) -> None:
    want = moves(bank, 0)
    order = bank["json", "en"]["migration"]["tiers"]["order"]
    up = sum(n for (a, b), n in want.items() if order.index(b) < order.index(a))
    down = sum(n for (a, b), n in want.items() if order.index(b) > order.index(a))
    same = sum(n for (a, b), n in want.items() if a == b)
    assert f"tiers: up {up} · down {down} · same {same} · new 0" in bank["html", "en"]
    assert f"层级：上升 {up} · 下降 {down} · 不变 {same} · 新客户 0" in bank["html", "zh"]
    assert "run 1 (2026-12-02) → run 2 (2026-12-03)" in bank["text", "en"]
    assert "第 1 次分类（2026-12-02） → 第 2 次分类（2026-12-03）" in bank["text", "zh"]


# --- scorecard --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("side", [0, 1])
def test_the_scorecard_is_the_hand_count(bank: dict[str, Any], side: int, lang: str) -> None:
    contribution = {r["customer_id"]: r["annual_contribution"] for r in read_csv(bank["files"][1])}
    gold = dict(query(bank, "SELECT customer_id, gold FROM current_assignments"))
    groups: dict[str, list[str]] = {}
    for cid, state in bank["states"][1].items():
        groups.setdefault(state[side], []).append(cid)
    total = sum(v for v in contribution.values() if v is not None)
    key = ("tier", "level")[side]
    shown = {r[key]: r for r in bank["json", lang]["scorecard"][f"by_{key}"]}
    assert set(shown) == set(groups)
    for name, members in groups.items():
        known = [contribution[c] for c in members if contribution[c] is not None]
        row = shown[name]
        assert (row["customers"], row["gold"]) == (len(members), sum(gold[c] for c in members))
        mean = sum(known) / len(known) if known else None
        assert row["mean_annual_contribution"] == pytest.approx(mean), name
        assert row["contribution_share"] == pytest.approx(sum(known) / total), name


# --- follow-ups -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_followups_by_step_and_status_are_the_rows_written(
    bank: dict[str, Any], lang: str
) -> None:
    want = Counter((r["step_id"], r["status"]) for r in planned_rows())
    found = bank["json", lang]["followups"]
    assert {(s["step"], s["status"]): s["followups"] for s in found["statuses"]} == dict(want)
    tasks = Counter(TASK_OUTCOMES)
    assert {(t["status"], t["outcome"]): t["tasks"] for t in found["tasks"]} == dict(tasks)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_followups_by_channel_and_status_are_the_rows_written(
    bank: dict[str, Any], lang: str
) -> None:
    want = Counter((r["channel"], r["status"]) for r in planned_rows())
    found = bank["json", lang]["followups"]["channels"]
    assert {(c["channel"], c["status"]): c["followups"] for c in found} == dict(want)


# --- workload ---------------------------------------------------------------------------------


def workload_by_hand(no_owner: str) -> dict[tuple[str, str], int]:
    work = [(r["owner"], r["due_at"]) for r in planned_rows()
            if r["kind"] == "task" and r["status"] in ("pending", "claimed", "sent")]  # fmt: skip
    return dict(Counter(
        (owner or no_owner, dt.datetime.fromisoformat(due).astimezone(ZONE).date().isoformat())
        for owner, due in work
    ))  # fmt: skip


@pytest.mark.parametrize(("lang", "no_owner"), [("en", "(no manager)"), ("zh", "（无客户经理）")])
def test_the_workload_is_tasks_per_manager_per_shanghai_day(
    bank: dict[str, Any], lang: str, no_owner: str
) -> None:
    want = workload_by_hand(no_owner)
    assert want[("RM1", "2026-10-06")] == 2  # the holiday: one task due 00:30 in Shanghai
    assert want[("RM1", "2026-10-10")] == 3 and want[("RM2", "2026-10-10")] == 1  # 调休
    assert want[("RM1", "2026-10-09")] == 1
    found = bank["json", lang]["workload"]
    assert {(r["owner"], r["day"]): r["tasks"] for r in found["per_day"]} == want
    for manager in found["managers"]:
        days = [n for (owner, _day), n in want.items() if owner == manager["owner"]]
        assert (manager["days"], manager["tasks"], manager["busiest"]) == (
            len(days), sum(days), max(days),
        )  # fmt: skip
        assert manager["mean_per_day"] == pytest.approx(sum(days) / len(days))
        assert manager["over_capacity"] == sum(1 for n in days if n > 25)


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "tasks fall on days that are not business days (weekends, holidays): 2026-10-06"),
        ("zh", "有任务落在非工作日（周末、节假日）：2026-10-06"),
    ],
)
def test_a_managers_tasks_on_a_day_off_are_marked_as_such(
    bank: dict[str, Any], lang: str, said: str
) -> None:
    """The holiday (10-06) is a day off; the make-up Saturday worked (10-10, 调休) is not.
    Before: both read as any other day."""
    found = bank["json", lang]["workload"]
    off = {(r["owner"], r["day"]) for r in found["per_day"] if not r["business_day"]}
    assert off == {("RM1", "2026-10-06")}
    assert {m["owner"]: m["days_off"] for m in found["managers"]} == {
        "RM1": 1, "RM2": 0, "（无客户经理）" if lang == "zh" else "(no manager)": 0,
    }  # fmt: skip
    assert said in bank["text", lang] and said in bank["html", lang]
    folder = bank["folder"] / f"workload.{lang}"
    run_cli("report", *store_args(bank), "--csv", str(folder), "--now", SEEN, lang=lang)
    with (folder / "workload_by_day.csv").open(encoding="utf-8-sig") as file:
        _header, *rows = list(csv.reader(file))
    business_day = {(owner, day): marked for owner, day, _tasks, marked in rows}
    assert (business_day["RM1", "2026-10-06"], business_day["RM1", "2026-10-10"]) == (
        "False", "True",
    )  # fmt: skip


# --- experiments ------------------------------------------------------------------------------


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson's score interval of one proportion, without continuity correction."""
    centre = (successes + Z95**2 / 2) / (n + Z95**2)
    half = Z95 * math.sqrt(successes * (n - successes) / n + Z95**2 / 4) / (n + Z95**2)
    return centre - half, centre + half


def newcomb(treated: tuple[int, int], control: tuple[int, int]) -> tuple[float, float]:
    """Newcomb's hybrid score interval (his method 10) of p1 − p2: the interval the report
    uses; each side combines the two Wilson intervals' distances from their rates."""
    (x1, n1), (x2, n2) = treated, control
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt(
        (u1 - p1) ** 2 + (p2 - l2) ** 2
    )


def arms_by_hand(step: str) -> dict[str, tuple[int, int, int]]:
    """group -> (customers whose window closed, their successes, still open)."""
    found: dict[str, tuple[int, int, int]] = {}
    for name, arm, variant, due, sold, count in EXPERIMENT_ROWS:
        if name != step:
            continue
        group = arm if arm == "held_out" else (variant or arm)
        size, successes, pending = found.get(group, (0, 0, 0))
        if due == OPEN:
            found[group] = (size, successes, pending + count)
        else:
            found[group] = (size + count, successes + count * sold, pending)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_experiments_are_the_hand_count(bank: dict[str, Any], lang: str) -> None:
    steps = {s["step"]: s for s in bank["json", lang]["experiments"]["steps"]}
    news = steps["proactive_product_news"]
    want = arms_by_hand("proactive_product_news")
    control, treated = want["held_out"], want["treated"]
    assert (news["control"]["size"], news["control"]["successes"]) == control[:2]
    [arm] = news["arms"]
    assert (arm["name"], arm["size"], arm["successes"]) == ("treated", *treated[:2])
    assert news["pending"] == sum(p for *_, p in want.values()) == 3
    lift = arm["uplift"]
    rates = treated[1] / treated[0], control[1] / control[0]
    assert lift["absolute"] == pytest.approx(rates[0] - rates[1])
    low, high = newcomb((treated[1], treated[0]), (control[1], control[0]))
    assert (lift["absolute_low"], lift["absolute_high"]) == pytest.approx((low, high))
    assert lift["relative"] == pytest.approx(rates[0] / rates[1] - 1)
    assert lift["cost_per_success"] == pytest.approx(1 / (rates[0] - rates[1]))
    shown = f"{100 * low:+.1f} … {100 * high:+.1f}"
    assert shown in bank["html", lang] and shown in bank["text", lang]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_group_of_one_and_a_group_with_every_window_open(bank: dict[str, Any], lang: str) -> None:
    """The first variant is the control: one customer, who bought; the second has no closed
    window yet (n = 0): no rate and no uplift, in the JSON, the page and the CSV files."""
    [growth] = [
        s
        for s in bank["json", lang]["experiments"]["steps"]
        if s["step"] == "growth_wealth_service"
    ]
    assert (growth["control"]["name"], growth["control"]["size"]) == ("growth_wealth_service", 1)
    assert growth["control"]["successes"] == 1 and growth["pending"] == 2
    [arm] = growth["arms"]
    assert (arm["name"], arm["size"], arm["successes"], arm["uplift"]) == (
        "growth_wealth_story", 0, 0, None,
    )  # fmt: skip
    folder = bank["folder"] / f"csv.{lang}"
    run_cli("report", *store_args(bank), "--csv", str(folder), "--now", SEEN, lang=lang)
    with (folder / "experiments_detail.csv").open(encoding="utf-8-sig") as file:
        rows = list(csv.reader(file))
    assert len({len(r) for r in rows}) == 1, rows  # every row as wide as the header


@pytest.mark.parametrize(
    ("treated", "control"),
    [((1, 1), (0, 1)), ((1, 1), (1, 1)), ((10, 10), (10, 10)), ((10, 10), (4, 10)),
     ((0, 5), (5, 5)), ((3, 40), (1, 30))],
)  # fmt: skip
def test_the_uplift_interval_is_newcombs_at_the_edges(
    treated: tuple[int, int], control: tuple[int, int]
) -> None:
    """n = 1 and every customer a success: the interval stays Newcomb's, inside [−1, 1];
    a relative interval is given only where it has a width."""
    from guanxi.engine.report.experiments import Arm, uplift

    lift = uplift(Arm("treated", treated[1], treated[0]), Arm("held_out", control[1], control[0]))
    assert lift is not None
    low, high = newcomb(treated, control)
    assert (lift.absolute_low, lift.absolute_high) == pytest.approx((low, high))
    assert -1 <= lift.absolute_low <= lift.absolute <= lift.absolute_high <= 1
    if lift.relative_low is not None and lift.relative_high is not None:
        assert lift.relative_low < lift.relative_high
    everyone = treated[0] == treated[1] and control[0] == control[1]
    assert (lift.relative_low is None) == (everyone or not treated[0] or not control[0])


def test_an_empty_group_has_no_uplift() -> None:
    from guanxi.engine.report.experiments import Arm, uplift

    assert uplift(Arm("treated", 0, 0), Arm("held_out", 5, 1)) is None
    assert uplift(Arm("treated", 5, 1), Arm("held_out", 0, 0)) is None


# --- stores with little in them ---------------------------------------------------------------

SMALL = {
    "no_run": ([customer(1, 1000, 50)], 0),
    "one_run": ([customer(1, 1000, 50), customer(2, 500, -20)], 1),
    "all_null": ([customer(i, "", "") for i in range(1, 4)], 2),
    "one_customer": ([customer(1, 1000, 50)], 2),
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("case", list(SMALL))
def test_a_store_with_little_in_it_gives_a_report_that_says_what_is_missing(
    bank: dict[str, Any], case: str, lang: str
) -> None:
    rows, nights = SMALL[case]
    folder = bank["folder"] / f"{case}.{lang}"
    folder.mkdir()
    write_csv(folder / "customers.csv", rows)
    args = ["--rules", str(bank["rules"]), "--store", str(folder / "store.db")]
    run_cli("load", "customers", str(folder / "customers.csv"), *args)
    for night in NIGHTS[:nights]:
        run_cli("classify", *args, "--now", night)
    found = json.loads(run_cli("report", *args, "--json", "--now", SEEN, lang=lang).stdout)
    run_cli("report", *args, "--csv", str(folder / "csv"), "--now", SEEN, lang=lang)
    run_cli("report", *args, "--html", str(folder / "page.html"), "--now", SEEN, lang=lang)
    text = run_cli("report", *args, "--now", SEEN, lang=lang).output
    page = html.unescape((folder / "page.html").read_text(encoding="utf-8"))
    missing = {
        "en": ("needs two classification runs; the store has {n}", "no customer has been"
               " classified yet: run 'guanxi classify'", "no customer has a value"),
        "zh": ("需要两次分类；数据库中只有 {n} 次", "还没有客户被分类", "没有客户有此项的值"),
    }[lang]  # fmt: skip
    if nights < 2:
        assert missing[0].format(n=nights) in page and found["migration"]["from_run"] is None
    if nights == 0:
        assert missing[1] in page and missing[1] in text
        assert found["distribution"]["customers"] == 0
    curves = found["concentration"]["fields"]
    if case == "all_null":
        assert [c["customers"] for c in curves] == [0, 0]
        assert all(v is None for c in curves for v in c["top"].values())
        assert page.count(missing[2]) == 2
    if case == "one_customer":
        assert all(v == 1.0 for c in curves for v in c["top"].values())
        assert [c["holders_of_80_percent"] for c in curves] == [1, 1]
    assert "Traceback" not in text and "NaN" not in json.dumps(found)
