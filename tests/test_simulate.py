"""`guanxi simulate`: the real pipeline over a copy of a demo store, on a virtual clock.

The demo store is built once; every simulation copies it and must leave it byte for byte as
it was. The two rule changes of the issue (the responsible level's call delay, the gold
threshold) are checked against what the test works out for itself: which customers change,
which deliveries move, and that nobody else does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.demo import run_demo
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate import Request
from guanxi.engine.simulate import simulate as run_simulation
from guanxi.engine.simulate.copy import copy_store
from guanxi.engine.simulate.feed import HISTORY, draw
from guanxi.engine.simulate.results import verdicts
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"
ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=ZONE)  # when the demo store was made
FIRST = dt.date(2026, 11, 29)  # the first simulated day (a Sunday)
DAYS = 14
WINDOW = [FIRST + dt.timedelta(days=n) for n in range(DAYS)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, ruleset: RuleSet) -> Path:
    """A demo store: 600 customers, half a year of events, classified and planned."""
    folder = tmp_path_factory.mktemp("live")
    run_demo(folder, ruleset, 600, 1, NOW)
    return folder / "guanxi.db"


def simulate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["simulate", "--start", FIRST.isoformat(), *args])


def fingerprints(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def rules_with(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the default rules with one edit."""
    folder = tmp_path / "changed-rules"
    shutil.copytree(RULES, folder)
    text = (folder / file).read_text(encoding="utf-8")
    assert text.count(old) == 1
    (folder / file).write_text(text.replace(old, new), encoding="utf-8")
    return folder


def sent(copy: Path) -> dict[str, tuple[str, str, dt.date]]:
    """From a kept copy's deliveries ledger: key -> (customer, channel, local day sent)."""
    with sqlite3.connect(copy) as db:
        rows = db.execute(
            "SELECT d.key, f.customer_id, f.channel, d.at FROM deliveries d"
            " JOIN followups f ON f.id = d.followup_id WHERE d.outcome = 'sent'"
            " AND d.at >= '2026-11-28T16:00:00Z'"
        ).fetchall()
    return {key: (c, ch, _local_day(at)) for key, c, ch, at in rows}


def _local_day(instant: str) -> dt.date:
    return dt.datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZONE).date()


def business_days_after(day: dt.date, count: int) -> dt.date:
    """Weekdays after `day`: the test window has no Chinese public holiday (checked below)."""
    while count:
        day += dt.timedelta(days=1)
        count -= day.weekday() < 5
    return day


def test_the_window_has_no_public_holiday(ruleset: RuleSet) -> None:
    days = [FIRST + dt.timedelta(days=n) for n in range(DAYS + 7)]
    assert [ruleset.calendar.is_business_day(d) for d in days] == [d.weekday() < 5 for d in days]


# --- the live store ---------------------------------------------------------------------------


def test_the_live_store_is_byte_identical_afterwards_and_no_channel_is_called(
    live: Path, tmp_path: Path
) -> None:
    before = fingerprints(live.parent)
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"id": "X1", "type": "complaint", "customer_id": "C0000010",'
        ' "at": "2026-11-30T15:00:00+08:00", "category": "服务态度", "severity": 2}\n',
        encoding="utf-8",
    )
    result = simulate(
        "--days", "7", "--store", str(live), "--baseline", str(RULES), "--synthetic-events",
        "--events", str(events), "--json", "--csv", str(tmp_path / "csv"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rules"]["counts"]["sent"] > 0
    assert data["difference"]["affected"] == 0  # the same rules: nothing differs
    assert fingerprints(live.parent) == before  # no outbox file, no task in the store, no -wal
    written = {p.name for p in (tmp_path / "csv").iterdir()}
    assert {"rules_volumes.csv", "baseline_workload.csv", "difference_steps.csv"} <= written


def test_a_copy_has_what_a_running_writer_committed_and_leaves_its_files_alone(
    live: Path, tmp_path: Path
) -> None:
    running = tmp_path / "running.db"
    copy_store(live, running)
    writer = SQLiteStore(running)  # a daemon holding the store open, a commit still in the WAL
    try:
        writer.execute("UPDATE customers SET name = '新名字' WHERE customer_id = 'C0000001'")
        wal = running.with_name("running.db-wal")
        before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (running, wal)]
        copy_store(running, tmp_path / "copy.db")
        assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in (running, wal)] == before
    finally:
        writer.close()
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        names = copy.execute("SELECT name FROM customers WHERE customer_id = 'C0000001'")
        assert names.fetchall() == [("新名字",)]


# --- events -------------------------------------------------------------------------------------


def responsible_customers(live: Path, count: int) -> list[str]:
    """Responsible customers who traded lately (no night of the window makes them dormant),
    may be called (not do-not-contact) and have no post-sale call planned yet (so each one's
    calls are the test's own)."""
    with sqlite3.connect(live) as db:
        rows = db.execute(
            "SELECT a.customer_id FROM current_assignments a JOIN customers c USING (customer_id)"
            " WHERE a.level = 'responsible' AND c.last_txn_date >= '2026-11-01'"
            " AND NOT coalesce(c.do_not_contact, 0)"
            " AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.customer_id = a.customer_id"
            " AND f.step_id = 'responsible_post_sale_call' AND f.status = 'pending')"
            " ORDER BY a.customer_id LIMIT ?",
            (count,),
        ).fetchall()
    assert len(rows) == count
    return [r[0] for r in rows]


def sale(event_id: str, customer: str, at: str) -> str:
    fields = {"id": event_id, "type": "sale", "customer_id": customer, "at": at}
    return json.dumps({**fields, "product": "理财产品", "amount": 50000}, ensure_ascii=False)


def test_events_are_replayed_at_their_timestamps(live: Path, tmp_path: Path) -> None:
    [customer] = responsible_customers(live, 1)
    events = tmp_path / "events.jsonl"
    lines = [
        sale("S0", customer, "2026-11-20T10:00:00+08:00"),  # before the start: at the start
        sale("S1", customer, "2026-11-30T11:00:00+08:00"),  # Monday: the call on Thursday 10:00
        sale("S9", customer, "2026-12-20T10:00:00+08:00"),  # after the end: never
        '{"id": "bad", "type": "sale"',
    ]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    keep = tmp_path / "kept"
    result = simulate(
        "--days", "7", "--store", str(live), "--events", str(events), "--keep", str(keep),
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rules"]["counts"]["events_fed"] == 2
    assert (
        data["rules"]["events"]["file"]["loaded"],
        data["rules"]["events"]["file"]["quarantined"],
    ) == (3, 1)
    delivered = sent(keep / "simulation.db")
    assert delivered[f"responsible_post_sale_call:{customer}:S1"][2] == dt.date(2026, 12, 3)
    assert delivered[f"responsible_post_sale_call:{customer}:S0"][2] == FIRST  # overdue: at once
    assert f"responsible_post_sale_call:{customer}:S9" not in delivered
    report = CliRunner().invoke(cli, ["report", "--store", str(keep / "simulation.db"), "--json"])
    assert report.exit_code == 0, report.output


def test_synthetic_events_follow_the_history_and_the_seed(
    live: Path, tmp_path: Path, ruleset: RuleSet
) -> None:
    copy_store(live, tmp_path / "history.db")
    history = SQLiteStore(tmp_path / "history.db")
    start = dt.datetime.combine(FIRST, dt.time(), tzinfo=ZONE)
    drawn = []
    try:
        for n, seed in enumerate((5, 5, 6)):
            staging = SQLiteStore(tmp_path / f"staging{n}.db")
            staging.prepare(ruleset.schema)
            rates = draw(history, staging, ruleset, start, DAYS, seed)
            drawn.append(staging.execute("SELECT * FROM events ORDER BY id"))
            staging.close()
        since = (start - HISTORY).astimezone(dt.UTC).isoformat()
        past = history.execute(
            "SELECT type, customer_id FROM events WHERE at >= :since AND at < :start",
            {"since": since, "start": start.astimezone(dt.UTC).isoformat()},
        )
    finally:
        history.close()
    assert drawn[0] == drawn[1] != drawn[2]
    assert {r.type: r.history for r in rates} == {
        kind: sum(1 for p in past if p["type"] == kind) for kind in ("sale", "complaint")
    }
    assert {r.type: r.drawn for r in rates} == Counter(e["type"] for e in drawn[2])
    buyers = {p["customer_id"] for p in past if p["type"] == "sale"}
    sales = [e for e in drawn[2] if e["type"] == "sale"]
    assert sales and {e["customer_id"] for e in sales} <= buyers
    assert {_local_day(e["at"]) for e in drawn[2]} <= set(WINDOW)


def test_synthetic_events_without_a_history_say_so(live: Path, tmp_path: Path) -> None:
    """A store loaded without its events has nothing to draw from: told, with what to do."""
    copy_store(live, tmp_path / "bare.db")
    bare = SQLiteStore(tmp_path / "bare.db")
    with bare.transaction():
        bare.execute("DELETE FROM events WHERE type = 'complaint'")
    bare.close()
    ran = simulate("--days", "2", "--store", str(tmp_path / "bare.db"), "--synthetic-events")
    assert ran.exit_code == 0, ran.output
    assert (
        "no complaint in the store's last 180 days to draw from: none drawn; load the events"
        " first (guanxi load events FILE) or replay a file with --events FILE"
    ) in " ".join(ran.output.split())
    assert "no sale" not in ran.output


# --- what a rule change changes -------------------------------------------------------------


def test_a_shorter_call_delay_moves_exactly_those_calls(live: Path, tmp_path: Path) -> None:
    """Responsible customers' post-sale calls come 1 business day after a sale instead of 3:
    exactly the customers with such a sale change, by exactly those days."""
    rules = rules_with(
        tmp_path, "playbooks.yaml", "after: 3 business days", "after: 1 business day"
    )
    customers = responsible_customers(live, 8)
    days = [dt.date(2026, 11, 30) + dt.timedelta(days=2 * n) for n in range(len(customers))]
    events = tmp_path / "sales.jsonl"
    events.write_text(
        "".join(
            sale(f"S{n}", c, f"{day}T11:00:00+08:00") + "\n"
            for n, (c, day) in enumerate(zip(customers, days, strict=True))
        ),
        encoding="utf-8",
    )
    keep = tmp_path / "kept"
    result = simulate(
        "--days", str(DAYS), "--store", str(live), "--rules", str(rules), "--baseline",
        str(RULES), "--events", str(events), "--keep", str(keep), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for run in ("rules", "baseline"):
        assert all(v["policy"] != "capacity" for v in data[run]["policy"])  # nobody is full

    soon = {c: business_days_after(d, 1) for c, d in zip(customers, days, strict=True)}
    late = {c: business_days_after(d, 3) for c, d in zip(customers, days, strict=True)}
    expected = {
        (c, "gained" if late[c] not in WINDOW else "changed")
        for c in customers
        if soon[c] in WINDOW
    }
    difference = data["difference"]
    assert {(r["customer_id"], r["change"]) for r in difference["customers"]} == expected
    assert {r["step"] for r in difference["customers"]} == {"responsible_post_sale_call"}
    assert difference["classified_differently"] == []
    assert difference["delivered_differently"] == sorted(c for c, _ in expected)

    deltas: Counter[dt.date] = Counter()
    for c in customers:
        deltas[soon[c]] += soon[c] in WINDOW
        deltas[late[c]] -= late[c] in WINDOW
    volumes = {(r["day"], r["channel"]): r["delta"] for r in difference["volumes"]}
    assert volumes == {(d.isoformat(), "rm_task"): n for d, n in deltas.items() if n}
    assert_ledgers_agree(data, keep)


def gold_customers(live: Path, top_percent: float) -> set[str]:
    """Gold, worked out here: within each kind and industry (customers without one together),
    fewer than `top_percent` % of the customers of that segment have a larger contribution (and
    the customer has one)."""
    with sqlite3.connect(live) as db:
        rows = db.execute(
            "SELECT customer_id, kind, industry, annual_contribution FROM customers"
        ).fetchall()
    gold: set[str] = set()
    for kind, industry in {(k, i) for _, k, i, _ in rows}:
        segment = [(c, v) for c, k, i, v in rows if (k, i) == (kind, industry)]
        values = sorted(v for _, v in segment if v is not None)
        larger = {v: len(values) - values.index(v) - values.count(v) for v in set(values)}
        gold |= {
            c for c, v in segment if v is not None and larger[v] * 100 < len(segment) * top_percent
        }
    return gold


def test_a_higher_gold_threshold_changes_exactly_the_customers_whose_gold_flag_flips(
    live: Path, tmp_path: Path
) -> None:
    rules = rules_with(tmp_path, "tiers.yaml", "top_percent: 5", "top_percent: 10")
    keep = tmp_path / "kept"
    result = simulate(
        "--days", str(DAYS), "--store", str(live), "--rules", str(rules), "--baseline",
        str(RULES), "--synthetic-events", "--seed", "3", "--keep", str(keep), "--json",
        "--sample", "5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    difference = data["difference"]

    flipped = gold_customers(live, 10) - gold_customers(live, 5)
    assert len(flipped) > 10
    assert set(difference["classified_differently"]) == flipped
    assert set(difference["delivered_differently"]) <= flipped
    moves = {(r["what"], r["baseline"], r["rules"]): r["customers"] for r in difference["moves"]}
    assert moves[("gold", "false", "true")] == len(flipped)
    assert {to for what, _, to in moves if what == "level"} == {"partner"}

    with sqlite3.connect(live) as db:
        levels = dict(db.execute("SELECT customer_id, level FROM current_assignments").fetchall())
        # the welcome visit is marketing: not for those who refused contact or marketing
        refusing = "do_not_contact OR NOT coalesce(consent_marketing, FALSE)"
        unwilling = {
            c for (c,) in db.execute(f"SELECT customer_id FROM customers WHERE {refusing}")
        }
    with sqlite3.connect(keep / "simulation.db") as db:
        after = dict(db.execute("SELECT customer_id, level FROM current_assignments").fetchall())
    # gold makes a partner only of a valuable customer worth ten times its cost (levels.yaml)
    new_partners = {c for c in flipped if after[c] == "partner" != levels[c]}
    assert new_partners
    welcome = {
        r["customer_id"] for r in difference["customers"] if r["step"] == "partner_welcome_visit"
    }
    assert welcome == new_partners - unwilling  # two business days after the first night

    ours, theirs = sent(keep / "simulation.db"), sent(keep / "baseline.db")
    unchanged = {(k, v) for k, v in ours.items() if v[0] not in flipped}
    assert unchanged == {(k, v) for k, v in theirs.items() if v[0] not in flipped}
    assert_ledgers_agree(data, keep)
    for affected in data["sample"]["customers"]:
        assert affected["customer_id"] in flipped
        assert any(r.startswith("gold under the rules:") for r in affected["reasons"])


def assert_ledgers_agree(data: dict[str, Any], keep: Path) -> None:
    """What the recording adapter was given is what each copy's deliveries ledger says."""
    for run, file in (("rules", "simulation.db"), ("baseline", "baseline.db")):
        ledger = Counter(
            (day.isoformat(), channel) for _, channel, day in sent(keep / file).values()
        )
        shown = {
            (row["day"], channel): n
            for row in data[run]["volumes"]
            for channel, n in row.items()
            if channel not in ("day", "total") and n
        }
        assert shown == dict(ledger)


# --- mistakes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--store", "nowhere.db"], 1, "Error: no store at 'nowhere.db'"),
        (["--store", "postgresql://crm@db/guanxi"], 1, "simulate copies a SQLite store file"),
        (["--days", "0"], 2, "0 is not in the range 1<=x<=366"),
        (["--events", "missing.jsonl"], 1, "missing.jsonl: no such file"),
    ],
)
def test_mistakes_are_explained(
    live: Path, args: list[str], code: int, message: str, tmp_path: Path
) -> None:
    store = [] if "--store" in args else ["--store", str(live)]
    result = simulate(*store, *args)
    assert result.exit_code == code
    assert message in result.stderr


def test_kept_copies_go_into_a_new_folder(live: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = simulate("--store", str(live), "--days", "1", "--keep", str(tmp_path))
    assert result.exit_code == 1
    assert f"Error: {tmp_path} is not empty; keep the copies in a new folder" in result.stderr


def test_a_failed_run_leaves_the_keep_folder_empty_for_the_same_command(
    live: Path, tmp_path: Path
) -> None:
    """Before: the copies stayed, and the corrected command said the folder was not empty."""
    keep, events = tmp_path / "sim", tmp_path / "december.jsonl"
    command = ["--store", str(live), "--days", "1", "--events", str(events), "--keep", str(keep)]
    failed = simulate(*command)
    assert failed.exit_code == 1
    assert f"Error: {events}: no such file" in failed.stderr
    assert not any(keep.iterdir())
    events.write_text(sale("S1", "C0000001", "2026-11-29T11:00:00+08:00") + "\n", "utf-8")
    again = simulate(*command)
    assert again.exit_code == 0, again.output
    assert (keep / "simulation.db").is_file()


def test_an_interrupted_run_leaves_the_keep_folder_empty(
    live: Path, tmp_path: Path, ruleset: RuleSet
) -> None:
    def ctrl_c(label: str, done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt

    keep = tmp_path / "sim"
    request = Request(FIRST, 3, synthetic_seed=1, keep=keep)
    with pytest.raises(KeyboardInterrupt):
        run_simulation(live, ruleset, request, progress=ctrl_c)
    assert not any(keep.iterdir())


def test_a_kind_of_verdict_shows_its_text_when_its_reasons_are_one(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    """Reasons differing only in their numbers are counted as one kind, shown with '#' for the
    numbers; a kind whose reasons are all the same text shows that text ('10%', not '#%')."""
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    held = "held out of experiment 'news' (10% of customers): planned, never sent"
    capped = "over the cap of {} messages in 30 days"
    rows = [(held, "holdout")] * 3 + [(capped.format(n), "frequency_cap") for n in (2, 3)]
    for number, (reason, policy) in enumerate(rows):
        store.execute(
            "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
            " VALUES (:id, '2026-12-08T02:00:00Z', 'suppressed', :policy, :reason)",
            {"id": number, "policy": policy, "reason": reason},
        )
    found = {
        (v.policy, v.reason, v.followups)
        for v in verdicts(store, dt.datetime(2026, 12, 8, tzinfo=dt.UTC))
    }
    store.close()
    assert found == {
        ("holdout", held, 3),
        ("frequency_cap", "over the cap of # messages in # days", 2),
    }


def test_a_window_in_a_year_whose_make_up_days_are_unknown_says_so(live: Path) -> None:
    """Business days in a year whose make-up working days (调休) the calendar does not know yet
    skip the statutory holidays alone: a run into that year says so, as `guanxi doctor` does
    (2040 stands for such a year, as in test_calendar.py)."""
    known = simulate("--days", "2", "--store", str(live))
    assert known.exit_code == 0, known.output
    assert "make-up working days" not in known.output
    args = ["simulate", "--start", "2040-01-01", "--days", "2", "--store", str(live), "--json"]
    ran = CliRunner().invoke(cli, args)
    assert ran.exit_code == 0, ran.output
    notes = json.loads(ran.stdout)["rules"]["notes"]
    assert (
        "the calendar (CN) does not know the make-up working days (调休) of 2040 yet: business"
        " days in 2040 skip the statutory holidays alone; add that year's notice to the"
        " calendar_overrides file of guanxi.yaml"
    ) in notes
