"""`guanxi plan` and `guanxi followups list`: windows, counts, filters, local due times."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.plan.followups import Followup, insert_followups
from guanxi.engine.plan.recurring import insert_recurring
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

RULES = Path(__file__).parent.parent / "rules"
NOW = "2026-11-28T10:00"  # in the project's zone (Asia/Shanghai)
UTC_NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.every_store  # planning and listing through the commands, both stores


def customer(store: Store, ruleset: RuleSet, customer_id: str, level: str, **fields: Any) -> None:
    store.upsert_customers([{"customer_id": customer_id, "name": customer_id, "rm_id": "RM5",
                             "consent_marketing": True, **fields}])  # fmt: skip
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, 'valuable', :level, NULL, FALSE, 1, :h, :at)",
        {"c": customer_id, "level": level, "h": ruleset.hash, "at": UTC_NOW.isoformat()},
    )


@pytest.fixture
def db(store: Store, ruleset: RuleSet) -> str:
    """Two proactive customers and a partner, in a store file the commands open."""
    customer(store, ruleset, "P1", "proactive", consent_app=True, preferred_channel="app")
    customer(store, ruleset, "P2", "proactive")
    customer(store, ruleset, "Q1", "partner")
    return store.location


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args], env={"COLUMNS": "200"})


def plan(db: str, *args: str) -> Result:
    return run("plan", "--rules", str(RULES), "--store", db, "--now", NOW, *args)


def test_plan_defaults_to_a_month_from_today_and_counts_each_step(db: str) -> None:
    result = plan(db, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["window"] == {"from": "2026-11-28T00:00:00+08:00",
                                "to": "2026-12-28T00:00:00+08:00"}  # fmt: skip
    steps = {s["step"]: s for s in report["steps"]}
    news = steps["proactive_product_news"]
    assert (news["occurrences"], news["new"], news["already_planned"]) == (["2026-12"], 2, 0)
    assert sum(news["outcomes"].values()) == 2  # whatever the contact policy decided
    assert steps["partner_quarterly_review"]["occurrences"] == []
    again = json.loads(plan(db, "--json").stdout)
    counts = {s["step"]: (s["new"], s["already_planned"]) for s in again["steps"]}
    assert counts["proactive_product_news"] == (0, 2)
    assert all(new == 0 for new, _ in counts.values())


def test_plan_says_which_occurrences_already_due_it_did_not_plan(db: str) -> None:
    """Planning from September on 28 Nov: of the monthly news already due, November's (the
    latest) is planned (and recorded expired: past its bound), the two before are not."""
    result = plan(db, "--from", "2026-09-01", "--to", "2026-12-01")
    assert result.exit_code == 0, result.output
    assert (
        "proactive_product_news: 2 occurrence(s) due before the latest one not planned"
        " (2026-09 to 2026-10): only the latest is sent"
    ) in result.stdout


def test_plan_prints_a_table_of_steps(db: str) -> None:
    result = plan(db, "--from", "2027-01-01", "--to", "2027-04-01")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "recurring steps from 2027-01-01T00:00:00+08:00 to 2027-04-01T00:00:00+08:00" in lines[0]
    rows = {cells[0]: cells[1:5] for cells in map(cells_of, lines) if cells}
    assert rows["step"] == ["level", "occurrences", "new", "already planned"]
    assert rows["partner_quarterly_review"] == ["partner", "2027-Q1", "1", "0"]
    assert rows["proactive_product_news"] == ["proactive", "2027-01, 2027-02, 2027-03", "6", "0"]
    assert rows["proactive_check_in_call"] == ["proactive", "2027-Q1", "2", "0"]
    assert "9 new follow-up(s) in batch" in result.stdout


def cells_of(line: str) -> list[str]:
    """The cells of a table row as rich draws it (│, or ┃ in the header, between cells); []
    for other lines."""
    return [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]


def test_plan_refuses_an_empty_window_and_a_date_it_cannot_read(db: str) -> None:
    empty = plan(db, "--from", "2026-12-10", "--to", "2026-12-01")
    assert empty.exit_code == 1
    assert empty.stderr == (
        "Error: the window from 2026-12-10T00:00:00+08:00 to 2026-12-01T00:00:00+08:00 is"
        " empty: it must end after it starts\n"
    )
    unreadable = plan(db, "--from", "tomorrow")
    assert unreadable.exit_code == 2
    assert unreadable.stderr.endswith(
        "Error: Invalid value for --from: 'tomorrow' is not a date or time: write the date"
        " YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or YYYY年M月D日, then the time if any\n"
    )


@pytest.fixture
def planned(store: Store, ruleset: RuleSet, db: str) -> str:
    """Follow-ups as planned, before any policy (the customer's own channel is chosen while
    inserting): December's and January's news and January's call for P1 and P2, the first
    quarter's review for Q1, and a cancelled call for P2."""
    zone = ruleset.calendar.zone
    start, end = dt.datetime(2026, 11, 28, tzinfo=zone), dt.datetime(2027, 1, 28, tzinfo=zone)
    insert_recurring(store, ruleset, start, end, UTC_NOW, "b1")
    call = Followup(
        customer_id="P2", step_id="retention_call", level="proactive", kind="task",
        channel="rm_task", template="retention_call", priority=85, mandatory=False,
        purpose="marketing", owner="RM5", occurrence="run-3",
        due_at=dt.datetime(2026, 11, 30, 2, tzinfo=dt.UTC), expires_at=None,
        ruleset_hash=ruleset.hash, status="cancelled", policy="unless",
        reason="unless: do_not_contact",
    )  # fmt: skip
    insert_followups(store, [call], "b2", UTC_NOW)
    return db


def listed(db: str, *args: str) -> dict[str, Any]:
    result = run("followups", "list", "--rules", str(RULES), "--store", db, "--json", *args)
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_followups_list_shows_the_soonest_first_with_local_due_times(planned: str) -> None:
    result = run("followups", "list", "--rules", str(RULES), "--store", planned)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "follow-ups: 8 of 8 (due times in Asia/Shanghai)"
    rows = [cells for cells in map(cells_of, lines) if cells]
    header = ["due", "customer", "step", "kind", "channel", "owner", "status", "reason", "id"]
    assert rows[0] == header
    assert [row[:-1] for row in rows[1:3]] == [
        ["2026-11-30 10:00", "P2", "retention_call 客户挽留电话", "task", "rm_task", "RM5",
         "cancelled", "unless: do_not_contact"],
        ["2026-12-05 10:00", "P1", "proactive_product_news 每月新产品资讯", "message", "app",
         "RM5", "pending", ""],
    ]  # fmt: skip
    assert [r[1:3] for r in rows[3:]] == [
        ["P2", "proactive_product_news 每月新产品资讯"],
        ["P1", "proactive_product_news 每月新产品资讯"],
        ["P2", "proactive_product_news 每月新产品资讯"],
        ["Q1", "partner_quarterly_review 季度联合回顾"],
        ["P1", "proactive_check_in_call 能动型定期回访电话"],
        ["P2", "proactive_check_in_call 能动型定期回访电话"],
    ]


def test_followups_list_at_80_columns_cuts_no_date_or_id(planned: str) -> None:
    where = ["--rules", str(RULES), "--store", planned]
    result = CliRunner().invoke(cli, ["followups", "list", *where], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert "2026-11-30 10:00" in result.stdout and "partner_quarterly_review" in result.stdout
    assert "left out to fit the terminal: kind, channel, owner" in result.stdout
    wide = CliRunner().invoke(cli, ["followups", "list", *where], env={"COLUMNS": "120"})
    assert "rm_task" in wide.stdout and "RM5" in wide.stdout and "…" not in wide.stdout
    assert "owner" not in wide.stdout.splitlines()[-1]  # only the least useful may go


def test_followups_list_as_csv_opens_in_excel(planned: str) -> None:
    result = run("followups", "list", "--rules", str(RULES), "--store", planned, "--csv")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(codecs.BOM_UTF8)  # Excel reads it as UTF-8
    header, *rows = csv.reader(result.stdout_bytes.decode("utf-8-sig").splitlines())
    assert header[:6] == ["id", "due_at", "customer_id", "customer_name", "step_id", "step_label"]
    first = dict(zip(header, rows[0], strict=True))
    assert first["due_at"] == "2026-11-30T10:00:00+08:00"  # local, ISO, with its offset
    assert (first["step_id"], first["step_label"]) == ("retention_call", "客户挽留电话")
    assert (first["status"], first["reason"]) == ("cancelled", "unless: do_not_contact")
    assert first["id"].isdigit() and len(rows) == 8


def test_followups_list_filters(planned: str) -> None:
    def keys(*args: str) -> list[str]:
        return [row["key"] for row in listed(planned, *args)["followups"]]

    assert keys("--customer", "Q1") == ["partner_quarterly_review:Q1:2027-Q1"]
    assert keys("--status", "cancelled") == ["retention_call:P2:run-3"]
    assert len(keys("--status", "cancelled", "--status", "pending")) == 8
    assert keys("--step", "proactive_product_news", "--customer", "P1") == [
        "proactive_product_news:P1:2026-12",
        "proactive_product_news:P1:2027-01",
    ]
    # due strictly before: 5 Dec 10:00 in Shanghai is not before itself
    assert keys("--due-before", "2026-12-05T10:00") == ["retention_call:P2:run-3"]
    assert len(keys("--due-before", "2026-12-05T02:00:01+00:00")) == 3
    first = listed(planned, "--limit", "1")
    assert (first["total"], len(first["followups"])) == (8, 1)


def test_followups_list_rejects_an_unknown_status(planned: str) -> None:
    result = run("followups", "list", "--rules", str(RULES), "--store", planned,
                 "--status", "done")  # fmt: skip
    assert result.exit_code == 2
    assert "Error: Invalid value for '--status': 'done' is not one of" in result.stderr
