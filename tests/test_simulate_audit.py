"""`guanxi simulate --baseline` audited against what this file works out by itself.

A crafted bank of 199 customers (and 3 rows the load quarantines), four relationship managers
and one without a manager, two branches, consents given, refused and withdrawn during the run,
some customers without a preferred channel, and a window over China's National Day week of
2026 (1–7 October off, Saturday 10 October a make-up working day). The change under audit
moves the valuable tier's cut-off (20万 → 15万), calls responsible customers two business days
after a sale instead of three, and gives 长沙分行's manager 3 tasks a day instead of 25.

The expectations below come from the rule files' meaning, written out by hand here (tiers,
levels, gold, business days, the order capacity fills a manager's day): nothing of the
engine's planning is called to compute them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.ruleset import RuleSet

RULES = Path(__file__).parent.parent / "rules"
ZONE = ZoneInfo("Asia/Shanghai")
FIRST, DAYS = dt.date(2026, 9, 28), 14
WINDOW = [FIRST + dt.timedelta(days=n) for n in range(DAYS)]
HOLIDAYS = {dt.date(2026, 10, d) for d in range(1, 8)}  # 国庆节 2026
MAKE_UP = {dt.date(2026, 10, 10)}  # a Saturday worked (调休)
SECOND_NIGHT = dt.datetime(2026, 9, 29, 2, 0, tzinfo=ZONE)  # a move takes hold (hold: 2 runs)
WITHDRAWN = dt.datetime(2026, 10, 2, 10, 0, tzinfo=ZONE)  # M02's marketing consent ends
CAPACITY, BRANCH_CAPACITY, BRANCH = 25, 3, "长沙分行"
FIELDS = [
    "customer_id", "name", "kind", "branch", "rm_id", "opened_on", "balance", "wealth_balance",
    "loan_balance", "monthly_txn_count", "last_txn_date", "products_held",
    "annual_contribution", "cost_to_serve", "acquisition_cost", "expected_years",
    "preferred_channel", "consent_marketing", "consent_sms", "consent_email", "consent_app",
    "do_not_contact", "phone",
]  # fmt: skip


# --- the data -------------------------------------------------------------------------------


def customers() -> list[dict[str, Any]]:
    """Customers by group; contributions fall with the order written, so the first ten are
    gold (top 5 % of 199) and the first fifty in the top 30 % a valuable customer needs."""
    rows: list[dict[str, Any]] = []

    def add(cid: str, rm: str, assets: int, txn: int, ratio: float, **extra: Any) -> None:
        contribution = extra.pop("contribution", 1_000_000 - 1000 * (len(rows) + 1))
        rows.append({
            "customer_id": cid, "name": f"客户{cid}", "kind": "personal",
            "branch": extra.pop("branch", "总行营业部"), "rm_id": rm, "opened_on": "2015-03-01",
            "balance": assets, "wealth_balance": 0, "loan_balance": 0,
            "monthly_txn_count": txn, "last_txn_date": extra.pop("last", "2026-09-20"),
            "products_held": 2, "annual_contribution": contribution,
            "cost_to_serve": round(contribution / ratio, 2) if contribution else 1000,
            "acquisition_cost": 0, "expected_years": 1,
            "preferred_channel": extra.pop("pref", "app"),
            "consent_marketing": extra.pop("marketing", True), "consent_sms": True,
            "consent_email": False, "consent_app": True,
            "do_not_contact": extra.pop("dnc", False), "phone": f"1380000{len(rows):04d}",
        })  # fmt: skip

    for n in range(6):  # gold, valuable, worth 20 times their cost: partner
        add(f"P{n:02d}", "RM02", 300_000, 12, 20)
    for n in range(4):  # gold, 18万: low value now, valuable (partner) from 15万
        add(f"M{n:02d}", "RM02", 180_000, 12, 20, marketing=n != 3)
    for n in range(26):  # valuable responsible: one manager's 26 calls after a busy Monday
        add(f"R{n:02d}", "RM01", 300_000, 12, 2)
    for n in range(8):  # valuable proactive; two name no preferred channel, one refuses marketing
        add(f"A{n:02d}", "RM02", 300_000, 12, 7, pref="" if n < 2 else "sms", marketing=n != 7)
    for n in range(6):  # 16万: passive now, responsible from 15万
        add(f"B{n:02d}", "RM02", 160_000, 12, 2, pref="" if n == 0 else "app")
    for n in range(8):  # 长沙分行's responsible low-value customers
        add(f"H{n:02d}", "RM03", 50_000, 3, 4, branch=BRANCH)
    for n in range(120):
        add(f"L{n:03d}", "RM04", 50_000, 3, (4, 2, 0.5)[n % 3],
            pref=("sms", "", "email", "app")[n % 4], dnc=n % 17 == 0)  # fmt: skip
    for n in range(20):
        add(f"D{n:02d}", "RM04", 0, 0, 1, last="2024-01-01", contribution=0)
    add("U00", "", 50_000, 3, 4)
    return rows


QUARANTINED = [
    {"customer_id": "Q01", "name": "", "kind": "personal"},
    {"customer_id": "Q02", "name": "坏类型", "kind": "alien"},
    {"customer_id": "Q03", "name": "负余额", "kind": "personal", "balance": "-5"},
]


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    customer_id: str
    at: dt.datetime

    def line(self) -> str:
        extra = {"product": "理财", "amount": 10000} if self.type == "sale" else {
            "category": "服务", "severity": 2}  # fmt: skip
        fields = {"id": self.id, "type": self.type, "customer_id": self.customer_id}
        return json.dumps({**fields, "at": self.at.isoformat(), **extra}, ensure_ascii=False)


def local(day: str, hour: int) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=ZONE)


def events() -> list[Event]:
    found = []
    for c in customers():
        cid = c["customer_id"]
        if cid[0] in "RH":
            found.append(Event(f"S-{cid}", "sale", cid, local("2026-09-28", 11)))
        if cid[0] in "PMB":
            found.append(Event(f"S-{cid}", "sale", cid, local("2026-09-30", 11)))
    for cid in ("L003", "L017", "U00"):  # on a Saturday of the holiday week
        found.append(Event(f"K-{cid}", "complaint", cid, local("2026-10-03", 11)))
    for cid in ("H00", "H01", "H02", "H03"):  # the calls fall after the period
        found.append(Event(f"S2-{cid}", "sale", cid, local("2026-10-09", 11)))
    return found


def write_project(folder: Path, name: str, edits: dict[str, tuple[str, str]]) -> Path:
    project = folder / name
    shutil.copytree(RULES, project)
    for file, (old, new) in edits.items():
        text = (project / file).read_text(encoding="utf-8")
        assert text.count(old) == 1
        (project / file).write_text(text.replace(old, new), encoding="utf-8")
    return project


VALUABLE_CUTOFF = (
    "  - name: valuable\n    label: 有价值客户\n    label_en: valuable\n    when: >-\n"
    "      (total_assets >= 20万"
)


def run_cli(*args: str) -> Result:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(cli, list(args))
    assert result.exit_code in (0, 3), result.output
    return result


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live store, its rule projects and the events, in one folder."""
    folder = tmp_path_factory.mktemp("bank")
    with (folder / "customers.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, FIELDS)
        writer.writeheader()
        writer.writerows({k: _cell(row.get(k)) for k in FIELDS} for row in customers())
        writer.writerows({k: row.get(k, "") for k in FIELDS} for row in QUARANTINED)
    lines = "".join(e.line() + "\n" for e in events())
    (folder / "events.jsonl").write_text(lines, encoding="utf-8")
    write_project(folder, "baseline", {})
    write_project(folder, "same", {"tiers.yaml": ("# 客户分类", "# 客户分类 (reworded)")})
    write_project(
        folder,
        "changed",
        {
            "tiers.yaml": (VALUABLE_CUTOFF, VALUABLE_CUTOFF.replace("20万", "15万")),
            "playbooks.yaml": ("after: 3 business days", "after: 2 business days"),
        },
    )
    (folder / "changed" / "branches").mkdir()
    overlay = f"capacity:\n  tasks_per_day: {BRANCH_CAPACITY}\n"
    (folder / "changed" / "branches" / f"{BRANCH}.yaml").write_text(overlay, encoding="utf-8")
    live = ["--rules", str(folder / "baseline"), "--store", str(folder / "live.db")]
    run_cli("load", "customers", str(folder / "customers.csv"), *live)
    for night in ("2026-09-26T09:00", "2026-09-27T02:00"):
        run_cli("classify", *live, "--now", night)
    run_cli(
        "consent", "record", "M02", "--purpose", "marketing", "--withdraw", "--source", "call",
        "--at", WITHDRAWN.isoformat(), "--now", "2026-09-27T09:00", *live,
    )  # fmt: skip
    return folder


def _cell(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def simulate(bank: Path, rules: str, *more: str) -> Result:
    return run_cli(
        "simulate", "--start", FIRST.isoformat(), "--days", str(DAYS), "--store",
        str(bank / "live.db"), "--rules", str(bank / rules), "--baseline", str(bank / "baseline"),
        "--events", str(bank / "events.jsonl"), *more,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shown(bank: Path) -> dict[str, Any]:
    """The change simulated: its JSON, its text, and the live folder's files before and
    after both runs."""
    before = fingerprints(bank)
    data = json.loads(simulate(bank, "changed", "--json").stdout)
    text = simulate(bank, "changed").stdout
    return {"json": data, "text": text, "before": before, "after": fingerprints(bank)}


def fingerprints(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if p.is_file()}  # fmt: skip


# --- the expectations, by hand ----------------------------------------------------------------


def is_business_day(day: dt.date) -> bool:
    return day in MAKE_UP or (day.weekday() < 5 and day not in HOLIDAYS)


def next_business_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def business_days_after(day: dt.date, count: int) -> dt.date:
    for _ in range(count):
        day = next_business_day(day)
    return day


def level_of(row: dict[str, Any], rows: list[dict[str, Any]], cutoff: int) -> str:
    """tiers.yaml and levels.yaml, for these customers (all personal, no industry, no loan,
    wealth or high-value-added customer)."""
    contribution = row["annual_contribution"]
    larger = sum(1 for r in rows if r["annual_contribution"] > contribution)
    top_30 = larger <= 0.3 * (len(rows) - 1)
    gold = contribution > 0 and larger < 0.05 * len(rows)
    ratio = contribution / row["cost_to_serve"]
    idle = (FIRST - dt.date.fromisoformat(row["last_txn_date"])).days
    if row["balance"] == 0 and idle >= 180:
        return "basic"  # dormant
    valuable = row["balance"] >= cutoff and row["monthly_txn_count"] >= 10 and top_30
    if valuable and gold and ratio >= 10:
        return "partner"
    if valuable and ratio >= 5:
        return "proactive"
    if (valuable and ratio >= 1) or ratio >= 3:
        return "responsible"
    return "passive" if ratio >= 1 else "basic"


@dataclass
class Task:
    customer_id: str
    step: str
    key: str
    owner: str
    priority: int
    mandatory: bool
    due: dt.datetime
    planned: dt.datetime  # when the daemon plans it: its batch
    limit: int

    @property
    def rank(self) -> tuple[bool, int, dt.datetime, str]:
        return (not self.mandatory, -self.priority, self.due, self.key)


@dataclass
class Expected:
    tasks: dict[tuple[str, dt.date], int]  # (manager, day) -> tasks delivered in the window
    delivered: dict[tuple[str, str], list[dt.date]]  # (step, customer) -> days delivered
    after: Counter[str]  # step -> tasks falling after the period


def expected(changed: bool) -> Expected:
    rows = customers()
    by_id = {r["customer_id"]: r for r in rows}
    start = {r["customer_id"]: level_of(r, rows, 200_000) for r in rows}
    end = {r["customer_id"]: level_of(r, rows, 150_000 if changed else 200_000) for r in rows}
    calls_after = 2 if changed else 3
    tasks: list[Task] = []
    messages: dict[tuple[str, str], list[dt.date]] = defaultdict(list)

    def task(cid: str, step: str, key: str, priority: int, due: dt.datetime,
             planned: dt.datetime, mandatory: bool = False) -> None:  # fmt: skip
        row = by_id[cid]
        limit = BRANCH_CAPACITY if changed and row["branch"] == BRANCH else CAPACITY
        if not is_business_day(due.date()):
            due = dt.datetime.combine(next_business_day(due.date()), due.timetz())
        tasks.append(Task(cid, step, key, row["rm_id"], priority, mandatory, due, planned, limit))

    at_start = dt.datetime.combine(FIRST, dt.time(), tzinfo=ZONE)
    for cid, level in start.items():  # the quarter's review, planned ahead at the start
        if level == "partner" and by_id[cid]["consent_marketing"]:
            due = local("2026-10-10", 10)
            task(cid, "partner_quarterly_review", f"r:{cid}", 75, due, at_start)
    for cid in start:  # entering partner at the second night: the welcome visit, and the
        # quarter's review planned before for the partners of then
        due = dt.datetime.combine(business_days_after(SECOND_NIGHT.date(), 2), dt.time(10),
                                  tzinfo=ZONE)  # fmt: skip
        review = local("2026-10-10", 10)
        for step, key, priority, when in (
            ("partner_welcome_visit", "w", 80, due),
            ("partner_quarterly_review", "r", 75, review),
        ):
            consents = by_id[cid]["consent_marketing"] and not (
                cid == "M02" and when >= WITHDRAWN)  # fmt: skip
            if end[cid] == "partner" != start[cid] and consents:
                task(cid, step, f"{key}:{cid}", priority, when, SECOND_NIGHT)
    for e in events():
        level = (end if e.at >= SECOND_NIGHT else start)[e.customer_id]
        ten = dt.time(10, tzinfo=ZONE)
        if e.type == "complaint":
            due = e.at + dt.timedelta(hours=2)
            task(e.customer_id, "complaint_callback", e.id, 95, due, e.at, mandatory=True)
        elif level == "responsible":
            due = dt.datetime.combine(business_days_after(e.at.date(), calls_after), ten)
            task(e.customer_id, "responsible_post_sale_call", e.id, 60, due, e.at)
        elif level == "partner":
            due = dt.datetime.combine(business_days_after(e.at.date(), 1), ten)
            task(e.customer_id, "partner_post_sale_call", e.id, 70, due, e.at)
        elif level == "passive":
            day = e.at.date() + dt.timedelta(days=1)
            messages["passive_invite_feedback", e.customer_id].append(day)
    fill_capacity(tasks)
    shown = Counter((t.owner or "(no manager)", t.due.date()) for t in tasks)
    delivered = defaultdict(list, messages)
    for t in tasks:
        if t.due.date() in WINDOW:
            delivered[t.step, t.customer_id].append(t.due.date())
    after = Counter(t.step for t in tasks if t.due.date() > WINDOW[-1])
    in_window = {key: n for key, n in shown.items() if key[1] in WINDOW}
    return Expected(in_window, dict(delivered), after)


def fill_capacity(tasks: list[Task]) -> None:
    """policies.yaml's capacity, batch by batch in the order they are planned: a manager's
    tasks already on a day stand; the batch's take the free places by rank (mandatory ones
    always), the rest move to the next business day."""
    booked: Counter[tuple[str, dt.date]] = Counter()
    batches: dict[dt.datetime, list[Task]] = defaultdict(list)
    for t in tasks:
        batches[t.planned].append(t)
    for planned in sorted(batches):
        waiting = [t for t in batches[planned] if t.owner]
        while waiting:
            day = min(t.due.date() for t in waiting)
            today = sorted((t for t in waiting if t.due.date() == day), key=lambda t: t.rank)
            for t in today:
                waiting.remove(t)
                if t.mandatory or booked[t.owner, day] < t.limit:
                    booked[t.owner, day] += 1
                    continue
                t.due = dt.datetime.combine(next_business_day(day), t.due.timetz())
                waiting.append(t)


def step_changes(ours: Expected, theirs: Expected) -> set[tuple[str, str, str]]:
    found = set()
    for step, customer in set(ours.delivered) | set(theirs.delivered):
        a, b = ours.delivered.get((step, customer)), theirs.delivered.get((step, customer))
        if a != b:
            change = "gained" if b is None else "lost" if a is None else "changed"
            found.add((step, customer, change))
    return found


# --- the checks -------------------------------------------------------------------------------


def test_the_calendar_is_the_one_written_here(ruleset: RuleSet) -> None:
    days = [FIRST + dt.timedelta(days=n) for n in range(30)]
    assert [ruleset.calendar.is_business_day(d) for d in days] == [is_business_day(d) for d in days]


def test_each_managers_tasks_per_day_are_the_ones_worked_out_by_hand(
    shown: dict[str, Any],
) -> None:
    """Capacity (25 a day; 3 for 长沙分行 under the change) moves the overflow to the next
    business day; calls due in the holiday week land on 8 October; the worked Saturday keeps
    its reviews."""
    data = shown["json"]
    for run, changed in (("rules", True), ("baseline", False)):
        per_day = {(r["owner"], dt.date.fromisoformat(r["day"])): r["tasks"]
                   for r in data[run]["workload_by_day"]}  # fmt: skip
        assert per_day == expected(changed).tasks, run
    rules = expected(True).tasks
    assert rules["RM01", dt.date(2026, 9, 30)] == CAPACITY  # one of 26 calls overflows
    assert rules["RM03", dt.date(2026, 10, 9)] == 2  # 3 + 3 + 2 under the branch's capacity


def test_who_gains_or_loses_each_step_is_what_the_hand_count_says(shown: dict[str, Any]) -> None:
    difference = shown["json"]["difference"]
    found = {(r["step"], r["customer_id"], r["change"]) for r in difference["customers"]}
    assert found == step_changes(expected(True), expected(False))
    by_manager = {(r["owner"], r["day"]): r["delta"] for r in difference["workload_by_day"]}
    ours, theirs = Counter(expected(True).tasks), Counter(expected(False).tasks)
    assert by_manager == {
        (owner, day.isoformat()): ours[owner, day] - theirs[owner, day]
        for owner, day in set(ours) | set(theirs)
        if ours[owner, day] != theirs[owner, day]
    }


def test_a_manager_whose_calls_only_move_days_is_shown_as_differing(shown: dict[str, Any]) -> None:
    """RM01 has 26 calls under both, at most 25 a day: before, the table of managers 'where
    they differ' left them out though every one of their calls moved by a week."""
    workload = {r["owner"]: r for r in shown["json"]["difference"]["workload"]}
    assert (workload["RM01"]["tasks_rules"], workload["RM01"]["tasks_baseline"]) == (26, 26)
    assert "RM04" not in workload  # the same complaint call-backs on the same day


def test_what_falls_after_the_period_is_counted_there(shown: dict[str, Any]) -> None:
    for run, changed in (("rules", True), ("baseline", False)):
        after = {r["step"]: r["followups"] for r in shown["json"][run]["after"]}
        step = "售后回访电话 responsible_post_sale_call"
        assert after[step] == expected(changed).after["responsible_post_sale_call"] == 4


def test_consent_refused_and_withdrawn_during_the_run_stop_the_welcome_visit(
    shown: dict[str, Any],
) -> None:
    """M02 withdraws marketing consent on 2 October, before the visit is due (8 October) and
    the review (10 October); M03 never gave it; both still get the post-sale call, a service."""
    changes = {(r["step"], r["customer_id"]) for r in shown["json"]["difference"]["customers"]}
    visits = {c for step, c in changes if step == "partner_welcome_visit"}
    assert visits == {"M00", "M01"}
    # and the quarter's review, planned before they became partners (10 October)
    assert {c for step, c in changes if step == "partner_quarterly_review"} == visits
    assert {("partner_post_sale_call", c) for c in ("M02", "M03")} <= changes
    reasons = [r["reason"] for r in shown["json"]["rules"]["policy"]
               if r["policy"] == "marketing_consent"]  # fmt: skip
    assert any("withdrawn by consent record" in r for r in reasons)


def test_the_text_says_what_the_json_says(shown: dict[str, Any]) -> None:
    data, text = shown["json"], shown["text"]
    said = re.findall(r"delivered: (\d+) \((\d+) tasks, (\d+) messages\)", text)
    for run, (delivered, tasks, messages) in zip(("rules", "baseline"), said, strict=True):
        volumes = data[run]["volumes"]
        assert int(delivered) == sum(r["total"] for r in volumes)
        assert int(tasks) == sum(r.get("rm_task", 0) for r in volumes)
        assert int(tasks) == sum(r["tasks"] for r in data[run]["workload"])
        assert int(delivered) - int(tasks) == int(messages)
        assert (
            f"delivered: {delivered} ({tasks} tasks, {messages} messages)" in data[run]["notes"][3]
        )
    affected = re.search(r"(\d+) customers affected", text)
    assert affected is not None and int(affected.group(1)) == data["difference"]["affected"]
    for row in data["rules"]["workload"]:  # the manager table of the first run, as shown
        cells = [row["owner"], str(row["tasks"]), str(row["busiest_day"])]
        assert re.search(r"│\s+" + r"\s+│\s+".join(map(re.escape, cells)) + r"\s+│", text)


def test_a_change_that_changes_nothing_says_nothing_changes(bank: Path) -> None:
    data = json.loads(simulate(bank, "same", "--json").stdout)
    difference = data["difference"]
    assert difference["affected"] == 0
    for table in ("steps", "customers", "volumes", "workload", "workload_by_day", "moves"):
        assert difference[table] == [], table
    assert data["rules"]["ruleset"] != data["baseline"]["ruleset"]  # another file, same meaning
    assert data["rules"]["workload_by_day"] == data["baseline"]["workload_by_day"]


def test_quarantined_customers_are_said_to_be_left_out(shown: dict[str, Any]) -> None:
    """The three rows the load quarantined are in no table: the run says so."""
    data = shown["json"]
    assert data["rules"]["quarantined_customers"] == len(QUARANTINED)
    cells = sum(r["end"] for r in data["rules"]["tiers_levels"])
    assert cells == len(customers())
    told = (
        "not simulated: 3 customer rows quarantined when loaded (not in the store); see guanxi"
        " quarantine list --kind customers"
    )
    assert told in data["rules"]["notes"]
    assert told in " ".join(shown["text"].split())


def test_the_live_store_is_untouched_and_nothing_is_sent(shown: dict[str, Any]) -> None:
    """No byte of the store changes, no -wal, outbox or other file appears beside it."""
    assert shown["after"] == shown["before"]


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "tasks fall on days that are not business days (weekends, holidays): 2026-10-08"),
        ("zh", "有任务落在非工作日（周末、节假日）：2026-10-08"),
    ],
)
def test_tasks_on_a_day_the_rules_make_a_holiday_are_marked_as_the_report_marks_them(
    bank: Path, tmp_path: Path, lang: str, said: str
) -> None:
    """The live store's post-sale calls are due on 8 October; the rules simulated make it a
    branch holiday (calendar_overrides). Before: simulate's workload marked no day, where
    `guanxi report`'s marks the days that are not business days."""
    shutil.copy(bank / "live.db", tmp_path / "live.db")
    sales = "".join(e.line() + "\n" for e in events() if e.at.date() == dt.date(2026, 9, 28))
    (tmp_path / "sales.jsonl").write_text(sales, encoding="utf-8")
    live = ["--rules", str(bank / "baseline"), "--store", str(tmp_path / "live.db")]
    run_cli("load", "events", str(tmp_path / "sales.jsonl"), *live, "--now", "2026-09-28T12:00")
    rules = shutil.copytree(bank / "baseline", tmp_path / "rules")
    (rules / "days.csv").write_text("date,status,name\n2026-10-08,holiday,分行庆典\n", "utf-8")
    with (rules / "guanxi.yaml").open("a", encoding="utf-8") as settings:
        settings.write("calendar_overrides: days.csv\n")
    store = ["--store", str(tmp_path / "live.db"), "--rules", str(rules)]
    period = ["--start", "2026-10-01", "--days", "10"]
    data = json.loads(run_cli("--lang", lang, "simulate", *period, *store, "--json").stdout)
    by_day = data["rules"]["workload_by_day"]
    assert {(r["day"], r["business_day"]) for r in by_day} >= {
        ("2026-10-08", False), ("2026-10-09", True), ("2026-10-10", True),  # 10-10: 调休
    }  # fmt: skip
    off = Counter(r["owner"] for r in by_day if not r["business_day"])
    assert off and {m["owner"]: m["days_off"] for m in data["rules"]["workload"]} == {
        m["owner"]: off[m["owner"]] for m in data["rules"]["workload"]
    }
    assert said in data["rules"]["notes"]
    assert said in run_cli("--lang", lang, "simulate", *period, *store).stdout
