"""`guanxi demo`: the whole pipeline on demo customers, from a fresh folder, and again."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.demo_outcomes import HISTORY_ADAPTER
from guanxi.engine.store.sqlite import SQLiteStore

NOW = "2026-11-28T09:00:00"


def test_the_demo_loads_classifies_and_plans(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--customers", "400", "--dir", str(out), "--now", NOW, "--json"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["customers"]["loaded"] + report["customers"]["quarantined"] == 400
    assert report["classification"]["customers"] == report["customers"]["loaded"]
    steps = {row["step_id"] for row in report["followups"]}
    assert {"responsible_post_sale_call", "proactive_product_news"} <= steps
    tier, level, gold = _tier_level_and_gold(out, report["example_customer"])
    assert (tier in ("valuable", "high_value_added"), level, gold) == (True, "partner", 1)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["followups"] == report["followups"]


def _tier_level_and_gold(folder: Path, customer_id: str) -> tuple[object, ...]:
    store = SQLiteStore(folder / "guanxi.db")
    try:
        [row] = store.execute(
            "SELECT tier, level, gold FROM current_assignments WHERE customer_id = :id",
            {"id": customer_id},
        )
        return row["tier"], row["level"], row["gold"]
    finally:
        store.close()


def test_the_demo_leaves_a_folder_with_other_files_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path), "--now", NOW])
    assert result.exit_code == 1
    assert "holds other files; choose another folder with --dir" in result.stderr
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_run_delivers_the_demos_due_followups_to_the_outbox_and_the_task_inbox(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo"
    made = CliRunner().invoke(cli, ["demo", "--customers", "400", "--dir", str(out), "--now", NOW])
    assert made.exit_code == 0, made.output
    db = str(out / "guanxi.db")
    later = "2026-12-05T11:00:00"  # calls still in time, the monthly product news of the 5th
    run = CliRunner().invoke(cli, ["run", "--once", "--store", db, "--now", later, "--json"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert report["sent"] > 0
    messages = (out / "outbox.jsonl").read_text("utf-8").splitlines()
    store = SQLiteStore(out / "guanxi.db")
    try:
        tasks = store.execute("SELECT count(*) AS n FROM tasks")[0]["n"]
        sent = store.execute(  # not the months of experiment history the demo writes
            "SELECT f.kind, count(*) AS n FROM followups AS f JOIN deliveries AS d"
            " ON d.followup_id = f.id AND d.outcome = 'sent'"
            f" WHERE d.adapter <> '{HISTORY_ADAPTER}' GROUP BY f.kind"
        )
        dead = store.execute("SELECT DISTINCT reason FROM followups WHERE status = 'dead'")
    finally:
        store.close()
    by_kind = {r["kind"]: r["n"] for r in sent}
    assert by_kind["task"] == tasks > 0
    assert by_kind["message"] == len(messages) > 0
    assert by_kind["task"] + by_kind["message"] == report["sent"]
    # The demo's history is half a year of events: what old sales called for is too late
    # to act on and was never planned; nothing failed.
    assert dead == []
