"""`guanxi report` on demo data: every figure checked against a direct calculation in Python
over the same store, and the HTML page rendered in headless Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.errors import ReportError
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.report import ReportRequest, build_report, render_html
from guanxi.engine.report.svg import PALETTE
from guanxi.engine.report.workload import Workload
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)
MONTH = dt.timedelta(days=30)
NUMBER = "CAST(substr(customer_id, 2) AS INTEGER)"

State = dict[str, tuple[str | None, str | None]]  # customer -> (tier, level)


@dataclass
class Demo:
    path: Path
    store: SQLiteStore
    states: dict[int, State]  # run id -> every customer's tier and level after that run


def assignments(store: Store) -> State:
    rows = store.execute("SELECT customer_id, tier, level FROM current_assignments")
    return {r["customer_id"]: (r["tier"], r["level"]) for r in rows}


def classify_and_remember(demo: Demo, ruleset: RuleSet, now: dt.datetime) -> None:
    run = classify(demo.store, ruleset, now)
    demo.states[run.run_id] = assignments(demo.store)


@pytest.fixture(scope="module")
def ruleset(unheld: RuleSet) -> RuleSet:
    """The default rules without their hold: each run here stands for a month of nights, so
    a month's moves show in it."""
    return unheld


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, ruleset: RuleSet) -> Iterator[Demo]:
    """600 demo customers with their events planned, classified three times a month apart:
    in between, some customers' contribution grows, some fall dormant, new ones arrive."""
    folder = tmp_path_factory.mktemp("report")
    write_demo_data(folder, 600, 7, NOW.date())
    store = SQLiteStore(folder / "guanxi.db")
    found = Demo(folder / "guanxi.db", store, {})
    load_customers(store, ruleset, folder / "customers.csv", NOW)
    classify_and_remember(found, ruleset, NOW)
    load_events(store, ruleset, folder / "events.jsonl", NOW)
    plan_new_events(store, ruleset, NOW)
    store.execute(
        "UPDATE customers SET annual_contribution = annual_contribution * 40,"
        f" products_held = 4 WHERE {NUMBER} % 7 = 0"
    )
    store.execute(
        "UPDATE customers SET balance = 0, wealth_balance = 0, last_txn_date = '2025-01-02',"
        f" annual_contribution = 0.5 WHERE {NUMBER} % 11 = 0"
    )
    newcomers = [
        {"customer_id": f"N{i}", "name": f"新客户{i}", "balance": 1000.0 * i} for i in range(1, 4)
    ]
    store.upsert_customers(newcomers)
    classify_and_remember(found, ruleset, NOW + MONTH)
    store.execute(
        "UPDATE customers SET annual_contribution = annual_contribution / 40"
        f" WHERE {NUMBER} % 14 = 0"
    )
    classify_and_remember(found, ruleset, NOW + 2 * MONTH)
    yield found
    store.close()


def report_of(demo: Demo, ruleset: RuleSet, **asked: Any) -> Any:
    return build_report(demo.store, ruleset, ReportRequest(**asked))


def customers(store: Store, *fields: str) -> list[dict[str, Any]]:
    return store.execute(f"SELECT customer_id, {', '.join(fields)} FROM customers")


# --- distribution and order -----------------------------------------------------------------


def test_distribution_counts_every_customer_in_their_cell(demo: Demo, ruleset: RuleSet) -> None:
    found = report_of(demo, ruleset).distribution
    expected = Counter(demo.states[3].values())
    assert {(t, v): found.count(t, v) for t, v in expected} == dict(expected)
    loaded = demo.store.execute("SELECT COUNT(*) AS n FROM customers")[0]["n"]
    assert found.customers == len(demo.states[3]) == loaded == 600 - 4 + 3  # 4 quarantined
    counted = "SELECT COUNT(*) AS n FROM current_assignments WHERE gold = 1"
    gold = demo.store.execute(counted)[0]["n"]
    assert found.gold == gold > 0


def test_tiers_and_levels_run_from_the_highest_mean_contribution_down(
    demo: Demo, ruleset: RuleSet
) -> None:
    found = report_of(demo, ruleset).distribution
    contribution = {
        r["customer_id"]: r["annual_contribution"]
        for r in customers(demo.store, "annual_contribution")
    }

    def mean_of(index: int, name: str) -> float:
        values = [
            contribution[c]
            for c, state in demo.states[3].items()
            if state[index] == name and contribution[c] is not None
        ]
        return sum(values) / len(values)

    tier_means = [mean_of(0, t) for t in found.tiers]
    level_means = [mean_of(1, v) for v in found.levels]
    assert tier_means == sorted(tier_means, reverse=True)
    assert level_means == sorted(level_means, reverse=True)
    assert found.tiers[0] == "high_value_added" and found.tiers[-1] == "dormant"
    assert found.levels == ("partner", "proactive", "responsible", "passive", "basic")


# --- concentration ---------------------------------------------------------------------------


def held_by_top(values: list[float], percent: int) -> float:
    ranked = sorted(values, reverse=True)
    return sum(ranked[: math.ceil(len(ranked) * percent / 100)]) / sum(ranked)


def fewest_holding(values: list[float], part: float) -> int:
    running = 0.0
    for count, value in enumerate(sorted(values, reverse=True), start=1):
        running += value
        if running >= part * sum(values):
            return count
    raise AssertionError("never reached")


@pytest.mark.parametrize("field", ["balance", "annual_contribution"])
def test_pareto_shares_match_a_direct_calculation(demo: Demo, ruleset: RuleSet, field: str) -> None:
    values = [r[field] for r in customers(demo.store, field) if r[field] is not None]
    curves = {c.field: c for c in report_of(demo, ruleset).concentration.curves}
    curve = curves[field]
    assert curve.customers == len(values)
    assert curve.total == pytest.approx(sum(values))
    for percent in (1, 5, 10, 20):
        assert curve.top[percent] == pytest.approx(held_by_top(values, percent), rel=1e-9)
    assert curve.holders == fewest_holding(values, 0.8)
    assert curve.points[0] == (0.0, 0.0) and curve.points[-1] == (1.0, pytest.approx(1.0))
    assert curve.points[10] == (0.1, pytest.approx(held_by_top(values, 10)))


def test_concentration_of_another_field_and_a_misspelt_one(demo: Demo, ruleset: RuleSet) -> None:
    found = report_of(demo, ruleset, pareto_fields=("loan_balance",)).concentration
    assert [c.field for c in found.curves] == ["loan_balance"]
    with pytest.raises(
        ReportError, match="no numeric customer field 'balanse'; did you mean 'balance'"
    ):
        report_of(demo, ruleset, pareto_fields=("balanse",))
    with pytest.raises(ReportError, match="the customer field 'kind' is not a number"):
        report_of(demo, ruleset, pareto_fields=("kind",))


# --- migration -------------------------------------------------------------------------------


def expected_moves(
    demo: Demo, earlier: int, later: int, side: int
) -> tuple[Counter[Any], Counter[Any]]:
    before, after = demo.states[earlier], demo.states[later]
    moves = Counter((before[c][side], after[c][side]) for c in after if c in before)
    arrivals = Counter(after[c][side] for c in after if c not in before)
    return moves, arrivals


@pytest.mark.parametrize(
    ("asked", "earlier", "later"),
    [
        ({}, 2, 3),
        ({"from_run": 1}, 1, 3),
        ({"from_run": 1, "to_run": 2}, 1, 2),
        ({"to_run": 2}, 1, 2),
    ],
)
def test_migration_matches_the_assignments_after_each_run(
    demo: Demo, ruleset: RuleSet, asked: dict[str, int], earlier: int, later: int
) -> None:
    found = report_of(demo, ruleset, **asked).migration
    assert [r.id for r in found.compared] == [earlier, later]
    for side, matrix in enumerate((found.tiers, found.levels)):
        moves, arrivals = expected_moves(demo, earlier, later, side)
        assert matrix.moves == {k: n for k, n in moves.items()}
        assert matrix.arrivals == {k: n for k, n in arrivals.items()}


def test_moves_up_and_down_the_pyramid_are_told_apart(demo: Demo, ruleset: RuleSet) -> None:
    tiers = report_of(demo, ruleset, to_run=2).migration.tiers
    assert tiers.direction("valuable", "dormant") == "down"
    assert tiers.direction("low_value", "high_value_added") == "up"
    moves, arrivals = expected_moves(demo, 1, 2, 0)
    down = sum(n for (a, b), n in moves.items() if b == "dormant" and a != "dormant")
    summary = tiers.summary()
    assert summary["down"] >= down > 0 and summary["up"] > 0
    assert summary["new"] == sum(arrivals.values()) == 3
    assert summary["up"] + summary["down"] + summary["same"] == sum(moves.values())


def test_unknown_or_backward_runs_are_clear_errors(demo: Demo, ruleset: RuleSet) -> None:
    with pytest.raises(ReportError, match=r"no classification run 9; the store's runs: 1, 2, 3"):
        report_of(demo, ruleset, from_run=9)
    with pytest.raises(ReportError, match="run 3 is not earlier than run 2"):
        report_of(demo, ruleset, from_run=3, to_run=2)


def test_one_run_is_not_enough_for_a_migration(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([{"customer_id": "C1", "name": "王伟", "balance": 10.0}])
    classify(store, ruleset, NOW)
    found = build_report(store, ruleset, ReportRequest(sections=("migration",))).migration
    assert found.compared is None and found.tables() == []
    assert found.notes() == ["needs two classification runs; the store has 1"]


def test_an_empty_store_gives_an_empty_report_not_an_error(store: Store, ruleset: RuleSet) -> None:
    report = build_report(store, ruleset, ReportRequest())
    assert report.latest_run is None and report.distribution.customers == 0
    assert [c.customers for c in report.concentration.curves] == [0, 0]
    html = render_html(report)
    assert 'data-chart="distribution"' in html and 'data-chart="pareto"' not in html


# --- scorecard, follow-ups, workload ---------------------------------------------------------


def test_scorecard_means_and_shares_by_tier(demo: Demo, ruleset: RuleSet) -> None:
    fields = ("satisfaction", "loyalty", "annual_contribution")
    rows = {r["customer_id"]: r for r in customers(demo.store, *fields)}
    data = report_of(demo, ruleset).scorecard.to_dict()
    total = sum(r["annual_contribution"] or 0 for c, r in rows.items() if c in demo.states[3])
    for entry in data["by_tier"]:
        members = [rows[c] for c, (tier, _) in demo.states[3].items() if tier == entry["tier"]]
        assert entry["customers"] == len(members)
        for name in fields:
            known = [m[name] for m in members if m[name] is not None]
            assert entry[f"mean_{name}"] == pytest.approx(sum(known) / len(known))
        contributed = sum(m["annual_contribution"] or 0 for m in members)
        assert entry["contribution_share"] == pytest.approx(contributed / total)


def test_segments_by_industry_system_and_group(demo: Demo, ruleset: RuleSet) -> None:
    fields = ("industry", "system", "group_id", "balance", "annual_contribution")
    rows = {r["customer_id"]: r for r in customers(demo.store, *fields)}
    tiers = {c: tier for c, (tier, _) in demo.states[3].items()}
    data = report_of(demo, ruleset, sections=("segments",)).segments.to_dict()
    assert data["fields"] == {"industry": "industry", "system": "system", "group": "group_id"}
    for kind, name in data["fields"].items():
        for entry in data[f"by_{kind}"]:
            members = [r for c, r in rows.items() if c in tiers and r[name] == entry["value"]]
            assert entry["customers"] == len(members) > 0
            assert entry["tier_valuable"] == sum(
                tiers[m["customer_id"]] == "valuable" for m in members
            )
            assert entry["deposits"] == pytest.approx(sum(m["balance"] or 0 for m in members))
            contribution = sum(m["annual_contribution"] or 0 for m in members)
            assert entry["contribution"] == pytest.approx(contribution)
    groups = [g["contribution"] for g in data["by_group"]]
    assert len(groups) >= 3 and groups == sorted(groups, reverse=True)
    assert None not in [g["value"] for g in data["by_group"]]
    assert sum(e["customers"] for e in data["by_industry"]) == len(tiers)


def test_followup_statuses_by_step(demo: Demo, ruleset: RuleSet) -> None:
    found = report_of(demo, ruleset).followups
    rows = demo.store.execute("SELECT step_id, status FROM followups")
    assert found.statuses == dict(Counter((r["step_id"], r["status"]) for r in rows))
    assert found.tasks == {}  # the demo delivered nothing to the task inbox
    assert "no task outcomes" in found.notes()[0]


def test_task_outcomes_by_step_when_the_store_keeps_tasks(store: Store, ruleset: RuleSet) -> None:
    outcomes = [("open", None)] * 2 + [("done", "reached")] * 3 + [("done", "no_answer")]
    store.execute_many(
        "INSERT INTO tasks (key, step_id, status, outcome) VALUES (:key, :step, :status, :outcome)",
        [
            {"key": f"k{i}", "step": "responsible_post_sale_call", "status": s, "outcome": o}
            for i, (s, o) in enumerate([*outcomes, ("done", "complaint")])
        ],
    )
    found = build_report(store, ruleset, ReportRequest(sections=("followups",))).followups
    table = found.tables()[1]
    assert table.name == "task_outcomes_by_step"
    assert table.records() == [
        {
            "step": "售后回访电话 responsible_post_sale_call",
            "open": 2,
            "done": 5,
            "done_reached": 3,
            "done_no_answer": 1,
            "done_complaint": 1,
        }
    ]


def test_workload_counts_tasks_per_manager_per_local_day(demo: Demo, ruleset: RuleSet) -> None:
    found = report_of(demo, ruleset).workload
    zone = ZoneInfo("Asia/Shanghai")
    rows = demo.store.execute(
        "SELECT owner, due_at FROM followups WHERE kind = 'task'"
        " AND status IN ('pending', 'claimed', 'sent')"
    )
    expected = Counter(
        (
            r["owner"] or "(no manager)",
            dt.datetime.fromisoformat(r["due_at"]).astimezone(zone).date(),
        )
        for r in rows
    )
    assert found.per_day == dict(expected) and expected
    busiest = found.managers()[0]
    assert busiest.busiest == max(expected.values())
    assert found.capacity == 25
    assert sum(m.tasks for m in found.managers()) == len(rows)


def test_days_over_capacity_are_days_with_more_tasks_than_allowed() -> None:
    day, next_day = dt.date(2026, 12, 1), dt.date(2026, 12, 2)
    per_day = {("RM1", day): 30, ("RM1", next_day): 10, ("RM2", day): 25, ("RM2", next_day): 26}
    loads = Workload(per_day, 25, "Asia/Shanghai").managers()
    assert [(m.owner, m.busiest, m.tasks, m.over_capacity) for m in loads] == [
        ("RM1", 30, 40, 1),
        ("RM2", 26, 51, 1),
    ]
    assert loads[1].mean == 25.5
    assert Workload(per_day, None, "Asia/Shanghai").managers()[0].over_capacity == 0


# --- the command -----------------------------------------------------------------------------


def invoke(*args: str, lang: str = "en") -> Any:
    return CliRunner().invoke(cli, ["--lang", lang, "report", "--rules", str(RULES), *args])


ENGLISH_TITLES = (
    "Customers by tier and relationship level",
    "Concentration (Pareto)",
    "Migration between classification runs",
    "Satisfaction, loyalty and contribution",
    "Customers by industry, system and corporate group",
    "Follow-up outcomes by step",
    "Relationship-manager workload (tasks per day)",
)
CHINESE_TITLES = (
    "客户分布",
    "集中度",
    "客户迁移",
    "满意度",
    "行业、系统与集团",
    "跟进结果",
    "客户经理工作量",
)


def test_the_command_prints_every_section(demo: Demo) -> None:
    result = invoke("--store", str(demo.path))
    assert result.exit_code == 0, result.output
    for title in ENGLISH_TITLES:
        assert title in result.stdout
    assert "run 2 (2026-12-28) → run 3 (2027-01-27)" in result.stdout
    # the time in the project's zone, named once; amounts in yuan
    assert "latest classification: run 3, 2027-01-27 09:00 (Asia/Shanghai)" in result.stdout
    assert re.search(r"│ +¥[0-9,]+ │", result.stdout)


def test_the_report_speaks_chinese_with_lang_zh(demo: Demo, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    args = ["--lang", "zh", "report", "--rules", str(RULES), "--store", str(demo.path)]
    result = CliRunner().invoke(cli, [*args, "--html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and "<h1>客户关系报告" in html
    assert "<h2>客户分布（按客户层级与关系水平）</h2>" in html
    assert all(title in html for title in CHINESE_TITLES)
    assert not any(title in html for title in ENGLISH_TITLES)
    assert ">已发送</th>" in html  # a status word as a column heading


def test_json_has_the_sections_asked_for(demo: Demo) -> None:
    result = invoke(
        "--store", str(demo.path), "--json", "--section", "migration", "--from-run", "1"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"ruleset_hash", "latest_run", "timezone", "labels", "migration"}
    assert data["timezone"] == "Asia/Shanghai"
    assert data["migration"]["from_run"]["id"] == 1 and data["migration"]["to_run"]["id"] == 3
    assert data["labels"]["tiers"]["valuable"] == "有价值客户 valuable"


def test_csv_writes_one_file_per_table_for_excel(demo: Demo, tmp_path: Path) -> None:
    result = invoke("--store", str(demo.path), "--csv", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "distribution.csv" in names and "workload_by_day.csv" in names
    assert "segments_by_group.csv" in names
    raw = (tmp_path / "out" / "concentration.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:2] == ["measure", "customers"]
    assert [r[0] for r in rows[1:]] == ["存款余额 deposit balance", "年贡献度 yearly contribution"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-run", "7"], "Error: no classification run 7; the store's runs: 1, 2, 3\n"),
        (
            ["--by", "balanse"],
            "Error: no numeric customer field 'balanse'; did you mean 'balance'?\n",
        ),
    ],
)
def test_mistakes_are_messages(demo: Demo, args: list[str], message: str) -> None:
    result = invoke("--store", str(demo.path), *args)
    assert result.exit_code == 1
    assert result.stderr == message


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    result = invoke("--store", str(tmp_path / "nowhere.db"))
    assert result.exit_code == 1
    assert "no store at" in result.stderr
    assert not (tmp_path / "nowhere.db").exists()


# --- the page --------------------------------------------------------------------------------

CHARTS = ("distribution", "pareto", "migration-tiers", "migration-levels")


@pytest.fixture(scope="module")
def page(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    result = invoke("--store", str(demo.path), "--html", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_the_page_in_chinese(demo: Demo, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    result = invoke("--store", str(demo.path), "--html", str(path), lang="zh")
    assert result.exit_code == 0, result.output
    html = path.read_text(encoding="utf-8")
    assert "集中度" in html and "Concentration" not in html


def test_the_page_needs_nothing_from_outside(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    for outside in ("<script", "<link", "src=", "url(", "@import", "https://"):
        assert outside not in html
    assert html.count('xmlns="http://www.w3.org/2000/svg"') == len(CHARTS)
    for label in ("有价值客户", "valuable", "伙伴型", "partner", "Concentration"):
        assert label in html
    header = html.split("<header>")[1].split("</header>")[0]
    assert "2027-01-27 09:00 (Asia/Shanghai)" in header and "UTC" not in header
    assert re.search(r'<td class="n">¥[0-9,]+</td>', html)  # the concentration's totals


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Debian's headless Chromium, with no network and a throw-away profile."""
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium package is needed: apt-get install chromium"
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_chromium_renders_the_charts(page: Path, demo: Demo, tmp_path: Path) -> None:
    dom = chromium("--dump-dom", page.as_uri(), tmp=tmp_path).stdout
    for chart in CHARTS:
        assert f'data-chart="{chart}"' in dom
    bars = dom.count("data-level=")
    assert bars == len(Counter(demo.states[3].values()))  # one bar segment per nonempty cell
    assert dom.count("<polyline") == 2  # deposits and contribution


def pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG (as Chromium writes them): width, bytes a pixel, rows."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, data, header = 8, b"", b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, body = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        header = body if kind == b"IHDR" else header
        data += body if kind == b"IDAT" else b""
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(data), width * size
    rows, previous = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = unfilter(raw[start], raw[start + 1 : start + 1 + stride], previous, size)
        rows.append(line)
        previous = line
    return width, size, rows


def unfilter(kind: int, line: bytes, up: bytes, size: int) -> bytes:
    """Undo one PNG row filter (none, sub, up, average, Paeth)."""
    if kind == 0:
        return line
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, up, strict=True))
    out = bytearray(line)
    for x in range(len(out)):
        left = out[x - size] if x >= size else 0
        if kind == 1:
            out[x] = (out[x] + left) & 0xFF
        elif kind == 3:
            out[x] = (out[x] + (left + up[x]) // 2) & 0xFF
        else:
            corner = up[x - size] if x >= size else 0
            guess = left + up[x] - corner
            far_left, far_up, far_corner = (
                abs(guess - left),
                abs(guess - up[x]),
                abs(guess - corner),
            )
            if far_left <= far_up and far_left <= far_corner:
                near = left
            else:
                near = up[x] if far_up <= far_corner else corner
            out[x] = (out[x] + near) & 0xFF
    return bytes(out)


def test_the_screenshot_shows_the_charts_colours(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    chromium("--window-size=960,600", f"--screenshot={shot}", page.as_uri(), tmp=tmp_path)
    width, size, rows = pixels(shot.read_bytes())
    seen = {row[x : x + 3] for row in rows for x in range(0, width * size, size)}
    assert len(seen) > 50  # not blank
    drawn = {bytes.fromhex(colour[1:]) for colour in PALETTE[:5]}
    assert drawn <= seen  # every level's colour of the distribution chart is on screen


def test_render_html_is_the_same_for_the_same_store(demo: Demo, ruleset: RuleSet) -> None:
    assert render_html(report_of(demo, ruleset)) == render_html(report_of(demo, ruleset))


def test_scorecard_shows_the_assessed_satisfaction_and_loyalty(
    demo: Demo, ruleset: RuleSet
) -> None:
    """The default project's assessments (`scorecard: true`) are computed for every customer
    from their events as of the latest classification's day, as the Python evaluator computes
    them, and their means shown by tier; the demo's complaints lower satisfaction."""
    names = [m.name for m in ruleset.measures if m.scorecard]
    assert names == ["satisfaction_assessed", "loyalty_assessed"]
    today = (NOW + 2 * MONTH).astimezone(ZoneInfo("Asia/Shanghai")).date()
    history: dict[str, list[dict[str, Any]]] = {}
    for event in demo.store.execute("SELECT customer_id, type, at, payload FROM events"):
        history.setdefault(event["customer_id"], []).append(event)
    rows = demo.store.execute("SELECT * FROM customers")
    python = {r["customer_id"]: r for r in classify_records(ruleset, rows, today, history)}
    data = report_of(demo, ruleset).scorecard.to_dict()
    for entry in data["by_tier"]:
        members = [python[c] for c, (tier, _) in demo.states[3].items() if tier == entry["tier"]]
        for name in names:
            known = [m[name] for m in members if m[name] is not None]
            assert entry[f"mean_{name}"] == pytest.approx(sum(known) / len(known))
    unhappy = [r for r in python.values() if r["complaints_365d"]]
    content = [r for r in python.values() if not r["complaints_365d"]]
    assert len(unhappy) > 20 and len(content) > 20
    assert _mean_satisfaction(unhappy) < _mean_satisfaction(content) - 0.5
    table = report_of(demo, ruleset).scorecard.tables()[0]
    labels = [column.label for column in table.columns]
    assert "满意度评估 assessed satisfaction (1-5) mean" in labels
    assert "忠诚度评估 assessed loyalty (0-100) mean" in labels


def _mean_satisfaction(found: list[dict[str, Any]]) -> float:
    return sum(r["satisfaction_assessed"] for r in found) / len(found)
