"""Every way a daemon tick (or its start) can fail shows in `guanxi health` as failing, with
the stage and a reason a bank operator can act on, and the next good tick (or start) turns
it back to ok: a daemon that cannot start (no live release, an adapter that cannot start),
rules that cannot be taken while it runs (a broken edit, a release that does not load or
whose files in the store are damaged), a channel on which every send fails (a gateway
answering 500, the outbox's folder gone, its disk full), an event that cannot be planned.
Real daemon processes (or `run --once`) on each store."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.releases import ledger
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import (
    KeyReceiver,
    free_port,
    invitation,
    plan_due,
    post,
    rules_copy,
    start_daemon,
    stop,
    wait_for,
)
from tests.test_hardening_events import customer
from tests.test_releases import AT, edit_template, propose, releases_mode

pytestmark = [pytest.mark.every_store, pytest.mark.takes_minutes]

HOST = socket.gethostname()
WIDE = {"COLUMNS": "300"}  # the table's details unwrapped


def health(store: Store, rules: Path, *options: str) -> Result:
    return CliRunner().invoke(
        cli, ["health", "--rules", str(rules), "--store", store.location, *options], env=WIDE
    )


def reported(store: Store, rules: Path) -> dict[str, dict[str, Any]]:
    """`guanxi health --json`: each daemon's row by its name."""
    found = json.loads(health(store, rules, "--json").stdout)
    return {d["worker"]: d for d in found["daemons"]}


def row_of(store: Store, rules: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    return reported(store, rules).get(f"{HOST}:{process.pid}", {})


def sending_at_any_hour(rules: Path) -> Path:
    """The rules without quiet hours: a daemon on the real clock sends whatever the hour in
    Shanghai (from 21:00 it would defer every message, and no send could fail)."""
    policies = rules / "policies.yaml"
    text = policies.read_text("utf-8")
    quiet = 'quiet_hours: {start: "21:00", end: "08:30"}\n'
    assert quiet in text
    policies.write_text(text.replace(quiet, ""), "utf-8")
    return rules


def wait_until(
    store: Store, rules: Path, process: subprocess.Popen[bytes], status: str, **expected: str
) -> dict[str, Any]:
    """The daemon's row, once `guanxi health` shows it `status` with each `expected` text in
    its field of that name (`failed_jobs` as JSON)."""

    def shown() -> bool:
        row = row_of(store, rules, process)
        texts = {k: json.dumps(v, ensure_ascii=False) for k, v in row.items()}
        return row.get("status") == status and all(
            text in texts.get(field, "") for field, text in expected.items()
        )

    assert process.poll() is None, "the daemon ended"
    # each look is a whole `guanxi health` (milliseconds once its rules are cached): five a
    # second see a change within a tick and still leave the daemon the machine
    wait_for(shown, 120, f"health to show {status} {expected}", every=0.2)
    return row_of(store, rules, process)


def daemon(rules: Path, store: Store, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return start_daemon(
        rules, store.location, "--port", str(free_port()), *args, log=tmp_path / "daemon.log"
    )


def approved(store: Store, folder: Path, minutes: int = 0) -> ledger.Release:
    release = propose(store, folder, minutes=minutes)
    return ledger.approve(store, release.id, AT + dt.timedelta(minutes=minutes), actor="wang")


@pytest.fixture
def files_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A daemon on PostgreSQL keeps its files (the outbox, the releases' cache) in its
    working folder: the test's own."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_daemon_without_a_live_release_is_failing_until_one_starts(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    rules = releases_mode(tmp_path)
    refused = daemon(rules, store, tmp_path)
    assert refused.wait(60) == 1
    row = row_of(store, rules, refused)
    assert (row["status"], row["failed_stage"]) == ("failing", "release")
    assert "no release is live in the store: propose one" in row["error"]
    shown = health(store, rules)
    assert shown.exit_code == 1 and f"{HOST}:{refused.pid} failing" in shown.stderr

    approved(store, rules)
    running = daemon(rules, store, tmp_path)
    try:
        wait_until(store, rules, running, "ok")
        assert set(reported(store, rules)) == {f"{HOST}:{running.pid}"}  # the failed one gone
        assert health(store, rules).exit_code == 0
    finally:
        assert stop(running) == 0


def test_a_release_that_cannot_be_used_is_failing_until_a_usable_one_is_live(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    rules = releases_mode(tmp_path)
    first = approved(store, rules)
    broken = tmp_path / "broken"
    shutil.copytree(rules, broken)
    (broken / "tiers.yaml").write_text("tiers: [\n", "utf-8")
    running = daemon(rules, store, tmp_path)
    try:
        wait_until(store, rules, running, "ok")
        second = approved(store, broken, minutes=1)
        row = wait_until(
            store, rules, running, "failing", failed_jobs=f"release {second.id} is live but"
        )
        assert "does not validate" in row["failed_jobs"]["reload"]
        assert f"the daemon still runs release {first.id}" in row["failed_jobs"]["reload"]

        ledger.rollback(store, AT + dt.timedelta(minutes=2), "tiers.yaml broken", "wang")
        wait_until(store, rules, running, "ok")

    finally:
        assert stop(running) == 0


def test_a_run_once_in_releases_mode_is_failing_until_a_release_loads(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    rules = releases_mode(tmp_path)
    once = ["run", "--once", "--rules", str(rules), "--store", store.location]
    refused = CliRunner().invoke(cli, once)
    assert refused.exit_code == 1 and "no release is live" in refused.stderr
    [row] = reported(store, rules).values()
    assert (row["worker"], row["status"], row["failed_stage"]) == (
        f"{HOST}:once",
        "failing",
        "release",
    )
    first = approved(store, rules)
    damage_files(store, first.id)
    damaged = CliRunner().invoke(cli, once)
    assert damaged.exit_code == 1 and "Traceback" not in damaged.output
    assert f"the files of release {first.id} in the store are damaged" in damaged.stderr
    [row] = reported(store, rules).values()
    assert row["failed_stage"] == "release" and "roll it back" in row["error"]

    edit_template(rules)
    approved(store, rules, minutes=1)
    assert CliRunner().invoke(cli, once).exit_code == 0
    assert [r["status"] for r in reported(store, rules).values()] == ["ok"]


def damage_files(store: Store, release_id: int) -> None:
    """The release's files cut short in the store, as a restore that went wrong leaves them
    (past the trigger that keeps a release's files as they were proposed)."""
    damage = "UPDATE releases SET files = '{\"tiers.yaml\": ' WHERE id = :id"
    if isinstance(store, SQLiteStore):
        store.execute("DROP TRIGGER releases_immutable")
        store.execute(damage, {"id": release_id})
    else:
        with store.transaction():
            store.execute("ALTER TABLE releases DISABLE TRIGGER USER")
            store.execute(damage, {"id": release_id})
            store.execute("ALTER TABLE releases ENABLE TRIGGER USER")


def test_a_broken_edit_or_an_adapter_that_cannot_start_is_failing_until_fixed(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    rules = rules_copy(tmp_path)
    settings = rules / "guanxi.yaml"
    good = settings.read_text("utf-8")
    reader = rules_copy(tmp_path / "reader")  # health reads the store with rules that load
    running = daemon(rules, store, tmp_path)
    try:
        wait_until(store, reader, running, "ok")
        settings.write_text(good.replace("timezone:", "timezon:", 1), "utf-8")
        row = wait_until(
            store, reader, running, "failing", failed_jobs="the rule project has 1 error"
        )
        assert "still runs the last good rules" in row["failed_jobs"]["reload"]
        settings.write_text(good, "utf-8")
        wait_until(store, reader, running, "ok")

        webhook = "sms: {adapter: webhook, url: '${GX_UNSET_GATEWAY}'}"
        settings.write_text(good.replace("rm_task: rm_tasks", f"{webhook}\n    rm_task: rm_tasks"))
        wait_until(
            store, reader, running, "failing",
            failed_jobs="the new rules cannot start: channel 'sms': the environment variable",
        )  # fmt: skip
        settings.write_text(good, "utf-8")
        wait_until(store, reader, running, "ok")
    finally:
        assert stop(running) == 0


def test_a_daemon_whose_outbox_cannot_be_made_is_failing_at_its_start(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    rules = rules_copy(tmp_path)
    (tmp_path / "not-a-folder").write_text("", "utf-8")
    refused = daemon(rules, store, tmp_path, "--outbox", str(tmp_path / "not-a-folder" / "o.jsonl"))
    assert refused.wait(60) == 1
    row = row_of(store, rules, refused)
    assert (row["status"], row["failed_stage"]) == ("failing", "start")
    assert "the outbox adapter of channel" in row["error"]

    running = daemon(rules, store, tmp_path)
    try:
        wait_until(store, rules, running, "ok")
        assert f"{HOST}:{refused.pid}" not in reported(store, rules)
    finally:
        assert stop(running) == 0


def test_a_gateway_that_fails_every_send_is_failing_until_a_send_goes_through(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    delivery = "delivery:\n  default: outbox\n  channels:\n    sms: {adapter: webhook, url: URL}"
    with KeyReceiver() as receiver:
        rules = sending_at_any_hour(
            rules_copy(
                tmp_path,
                delivery=delivery.replace("URL", receiver.url),
                retry_after="1 second",
                retry_cap="1 second",
                max_attempts="100",  # none is dead-lettered while the gateway fails
            )
        )
        receiver.mode = "500"
        plan_due(store, 3, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        running = daemon(rules, store, tmp_path)
        try:
            row = wait_until(
                store, rules, running, "failing",
                failed_stage="dispatch", error="channel sms: no send went through",
            )  # fmt: skip
            assert "500" in row["error"]
            shown = health(store, rules)
            assert "dispatch: channel sms: no send went through, the last error:" in shown.stdout
            receiver.mode = "ok"
            wait_until(store, rules, running, "ok")
        finally:
            assert stop(running) == 0
    assert len(receiver.acted) == 3


def test_an_outbox_whose_folder_goes_or_whose_disk_is_full_is_failing_until_it_writes(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    rules = sending_at_any_hour(
        rules_copy(
            tmp_path,
            retry_after="1 second",
            retry_cap="1 second",
            max_attempts="100",  # none is dead-lettered before the folder is back
        )
    )
    folder = tmp_path / "outbox"
    outbox = folder / "outbox.jsonl"
    running = daemon(rules, store, tmp_path, "--outbox", str(outbox))
    try:
        wait_until(store, rules, running, "ok")
        shutil.rmtree(folder)
        due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        plan_due(store, 2, due)
        wait_until(store, rules, running, "failing", error="No such file or directory")
        folder.mkdir()
        wait_until(store, rules, running, "ok")

        outbox.unlink()
        outbox.symlink_to("/dev/full")  # every write: no space left on the device
        more = [invitation(f"C{i:06d}", "E2", due) for i in range(2)]  # same customers
        insert_followups(store, more, "more", due)
        row = wait_until(store, rules, running, "failing", error="No space left on device")
        assert (row["failed_stage"], row["error"][:12]) == ("dispatch", "channel sms:")
        outbox.unlink()
        wait_until(store, rules, running, "ok")
        sent = "SELECT count(*) AS n FROM followups WHERE batch = 'more' AND status = 'sent'"
        wait_for(lambda: store.execute(sent)[0]["n"] == 2, 30, "the retries to be written")
    finally:
        assert stop(running) == 0
    lines = [json.loads(line)["key"] for line in outbox.read_text("utf-8").splitlines()]
    after = [r["key"] for r in store.execute("SELECT key FROM followups WHERE batch = 'more'")]
    assert len(after) == 2 and sorted(lines) == sorted(after)  # each line whole, once


def test_an_event_that_cannot_be_planned_is_failing_until_the_next_tick(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    rules = rules_copy(tmp_path)
    from guanxi.engine.ruleset import load_ruleset

    customer(store, load_ruleset(rules), "C1", "responsible")
    post(store, "E1", "sale", "C1", "2199-12-31T02:00:00+00:00", product="理财", amount=5e4)
    once = ["run", "--once", "--rules", str(rules), "--store", store.location]
    assert CliRunner().invoke(cli, once).exit_code == 0
    [row] = reported(store, rules).values()
    assert (row["status"], row["failed_stage"]) == ("failing", "plan_events")
    assert row["error"].startswith("1 event could not be planned")

    assert CliRunner().invoke(cli, once).exit_code == 0  # nothing new to plan
    assert [r["status"] for r in reported(store, rules).values()] == ["ok"]


def test_a_run_once_whose_gateway_fails_stays_failing_until_a_send_goes_through(
    store: Store, tmp_path: Path, files_here: Path
) -> None:
    """A run that tries no send (the retry waits out its back-off) says nothing new: the
    channel stays failing until a send on it goes through."""
    delivery = "delivery:\n  default: outbox\n  channels:\n    sms: {adapter: webhook, url: URL}"
    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai: no quiet hours

    def run_once(minutes: int) -> dict[str, Any]:
        at = (now + dt.timedelta(minutes=minutes)).isoformat()
        once = ["run", "--once", "--rules", str(rules), "--store", store.location, "--now", at]
        assert CliRunner().invoke(cli, once).exit_code == 0
        [row] = reported(store, rules).values()
        return row

    with KeyReceiver() as receiver:
        rules = rules_copy(tmp_path, delivery=delivery.replace("URL", receiver.url))
        plan_due(store, 1, now)
        receiver.mode = "500"
        failed = run_once(0)
        assert (failed["status"], failed["failed_stage"]) == ("failing", "dispatch")
        assert run_once(0)["error"] == failed["error"]  # the retry is not due yet
        receiver.mode = "ok"
        assert run_once(60)["status"] == "ok"
    assert len(receiver.acted) == 1
