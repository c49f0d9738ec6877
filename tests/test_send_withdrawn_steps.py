"""A step the bank takes out of its rules sends nothing more, also what was planned for it
before: a deleted step, a renamed one (its old id gone) and one a branch overlay switches off
for its customers. The daemon runs the edited rules and dispatches for real, on each store;
each follow-up ends 'cancelled' (policy `withdrawn`) with a reason that names the step, which
`guanxi followups list` and `guanxi explain` show in Chinese. And what the edited rules keep is
rendered with their templates, whichever rules planned it."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.dispatch.dispatch import dispatch_once
from guanxi.engine.i18n import language
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.releases import ledger
from guanxi.engine.releases.live import live_ruleset
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store import Store
from tests.daemon_helpers import LostAnswer, rules_copy
from tests.test_releases import propose, releases_mode
from tests.test_send_staleness import NEWS, NEWS_DAY, PLANNED, at_level

BRANCH = "长沙分行"
NEWS_STEP = re.compile(r"(?ms)^    - id: proactive_product_news\n.*?(?=^    - id: )")
GONE = f"步骤 {NEWS} 已不在现行规则中（已删除或改名）"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """The default rules without their scenario tests, which name the steps edited here."""
    folder = rules_copy(tmp_path)
    shutil.rmtree(folder / "tests")
    return folder


@pytest.fixture
def daemon(tmp_path: Path, rules: Path, store: Store) -> Iterator[Daemon]:
    """The daemon on the test's store, its clock at the planning of December's news."""
    running = Daemon(
        rules, load_ruleset(rules), store, FixedClock(PLANNED), folder=tmp_path, port=None
    )
    yield running
    running.running.adapters.close()
    running.leadership.release()  # PostgreSQL: the lead's own connection


def plan_news(daemon: Daemon, branches: list[str | None]) -> None:
    """A proactive customer for each of `branches` is planned December's product news (in
    the version of their branch)."""
    store, ruleset = daemon.store, daemon.running.ruleset
    for number, branch in enumerate(branches):
        at_level(store, ruleset, number, "proactive", branch=branch)
    end = PLANNED + dt.timedelta(days=31)
    plan_recurring(store, ruleset, PLANNED, end, PLANNED, only=[NEWS, f"{NEWS}@{BRANCH}"])
    pending = store.execute("SELECT id FROM followups WHERE status = 'pending'")
    assert len(pending) == len(branches)


def edit(rules: Path, name: str, change: Any) -> None:
    path = rules / name
    text = path.read_text("utf-8")
    changed = change(text)
    assert changed != text, f"the edit of {name} changed nothing"
    path.write_text(changed, "utf-8")


def delete_news(text: str) -> str:
    return NEWS_STEP.sub("", text, count=1)


def dispatch_news_day(daemon: Daemon) -> list[dict[str, Any]]:
    """The daemon takes the edited rules, then ticks on the news day (in Chinese); what the
    outbox received."""
    assert daemon.reload_if_changed() is True
    return tick_news_day(daemon)


def tick_news_day(daemon: Daemon) -> list[dict[str, Any]]:
    """The daemon ticks on the news day (in Chinese); what the outbox received."""
    daemon.clock.advance(NEWS_DAY - PLANNED)  # type: ignore[attr-defined]
    with language("zh"):
        daemon.dispatch_tick()
    path = daemon.folder / "outbox.jsonl"
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def news_of(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.execute(
        "SELECT customer_id, status, policy, reason FROM followups WHERE step_id = :s",
        {"s": NEWS},
    )
    return {row["customer_id"]: row for row in rows}


def run_zh(*args: str) -> Result:
    env = {"GUANXI_LANG": "zh", "LC_ALL": None, "LC_MESSAGES": None, "LANG": None,
           "COLUMNS": "250"}  # fmt: skip
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.mark.every_store
def test_a_deleted_step_sends_nothing_of_what_was_planned_for_it(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    plan_news(daemon, [None, None])
    edit(rules, "playbooks.yaml", delete_news)
    assert dispatch_news_day(daemon) == []
    for row in news_of(store).values():
        assert (row["status"], row["policy"], row["reason"]) == ("cancelled", "withdrawn", GONE)
    decisions = store.execute("SELECT status, policy FROM followup_decisions")
    assert decisions == [{"status": "cancelled", "policy": "withdrawn"}] * 2
    ledger = store.execute("SELECT outcome, attempt, error FROM deliveries ORDER BY id")
    assert ledger == [{"outcome": "cancelled", "attempt": 0, "error": GONE}] * 2


@pytest.mark.every_store
def test_a_renamed_step_sends_nothing_under_its_old_id(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """The renamed step is planned afresh under its new id when the daemon takes it: the
    customer gets December's news once, under that id, not again under the old one."""
    plan_news(daemon, [None])
    renamed = "proactive_monthly_news"
    edit(rules, "playbooks.yaml", lambda text: text.replace(f"id: {NEWS}", f"id: {renamed}"))
    assert [m["key"] for m in dispatch_news_day(daemon)] == [f"{renamed}:C0000:2026-12"]
    [row] = news_of(store).values()
    assert (row["status"], row["policy"], row["reason"]) == ("cancelled", "withdrawn", GONE)


@pytest.mark.every_store
def test_a_step_switched_off_for_a_branch_stops_for_its_customers_only(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """C0000 is of 长沙分行, which switches the news off; C0001 of another branch and C0002
    of none still get theirs."""
    plan_news(daemon, [BRANCH, "北京分行", None])
    (rules / "branches").mkdir()
    overlay = f"steps:\n  {NEWS}:\n    enabled: false\n"
    (rules / "branches" / f"{BRANCH}.yaml").write_text(overlay, "utf-8")
    sent = dispatch_news_day(daemon)
    assert sorted(m["customer_id"] for m in sent) == ["C0001", "C0002"]
    news = news_of(store)
    assert [news[c]["status"] for c in ("C0000", "C0001", "C0002")] == [
        "cancelled", "sent", "sent"
    ]  # fmt: skip
    assert news["C0000"]["policy"] == "withdrawn"
    assert news["C0000"]["reason"] == (
        f"步骤 {NEWS} 已不在{BRANCH}的现行规则中：{rules}/branches/{BRANCH}.yaml:2 将其关闭"
    )


CHANGED_NEWS = f"steps:\n  {NEWS}:\n    priority: 60\n"  # the branch's own version
BRANCH_NEWS = f"{NEWS}@{BRANCH}"


def with_branch_news(daemon: Daemon, rules: Path) -> None:
    """长沙分行 has its own version of the news before anything is planned."""
    (rules / "branches").mkdir()
    (rules / "branches" / f"{BRANCH}.yaml").write_text(CHANGED_NEWS, "utf-8")
    assert daemon.reload_if_changed() is True


def move_to(store: Store, number: int, branch: str | None) -> None:
    store.execute(
        "UPDATE customers SET branch = :b WHERE customer_id = :c",
        {"b": branch, "c": f"C{number:04d}"},
    )


@pytest.mark.every_store
def test_a_customer_who_left_the_branch_gets_the_month_in_the_version_of_where_they_are_now(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """C0000 and C0001 of 长沙分行 are planned December in its version; C0000 moves to 北京分行
    (the head office's rules): the branch's version is not sent to them, December's head
    office news is, once; C0001 still gets the branch's."""
    with_branch_news(daemon, rules)
    plan_news(daemon, [BRANCH, BRANCH])
    move_to(store, 0, "北京分行")
    sent = tick_news_day(daemon)
    assert sorted(m["key"] for m in sent) == [
        f"{NEWS}:C0000:2026-12", f"{BRANCH_NEWS}:C0001:2026-12"
    ]  # fmt: skip
    [left] = store.execute("SELECT status, policy, reason FROM followups WHERE key = :k",
                           {"k": f"{BRANCH_NEWS}:C0000:2026-12"})  # fmt: skip
    assert (left["status"], left["policy"]) == ("cancelled", "withdrawn")
    assert left["reason"] == f"步骤 {BRANCH_NEWS} 是{BRANCH}自己版本的 {NEWS}，客户已不属于{BRANCH}"
    assert tick_news_day(daemon) == sent  # nothing more: one December message each


@pytest.mark.every_store
def test_a_customer_who_moved_into_a_branch_with_its_own_version_gets_that_version_once(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """C0000, of no branch, is planned the head office's December news, then moves to
    长沙分行, which has its own version: December goes out in 长沙分行's version, once."""
    with_branch_news(daemon, rules)
    plan_news(daemon, [None])
    move_to(store, 0, BRANCH)
    sent = tick_news_day(daemon)
    assert [m["key"] for m in sent] == [f"{BRANCH_NEWS}:C0000:2026-12"]
    head = news_of(store)["C0000"]
    assert (head["status"], head["policy"]) == ("cancelled", "withdrawn")
    assert head["reason"] == (
        f"{BRANCH}有自己版本的步骤 {NEWS}（{rules}/branches/{BRANCH}.yaml:2），改由该版本发给其客户"
    )
    january = PLANNED + dt.timedelta(days=31)
    plan_recurring(store, daemon.running.ruleset, PLANNED, january, PLANNED, only=[BRANCH_NEWS])
    assert tick_news_day(daemon) == sent  # December is not planned again


@pytest.mark.every_store
def test_a_month_planned_before_a_branch_changed_the_step_goes_out_in_its_version_once(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """December is planned under the head office's step; then 长沙分行 changes it: its
    customer gets December once, in the branch's version; another branch's, the head's."""
    plan_news(daemon, [BRANCH, "北京分行"])
    (rules / "branches").mkdir()
    (rules / "branches" / f"{BRANCH}.yaml").write_text(CHANGED_NEWS, "utf-8")
    sent = dispatch_news_day(daemon)
    assert sorted(m["key"] for m in sent) == [
        f"{NEWS}:C0001:2026-12", f"{BRANCH_NEWS}:C0000:2026-12"
    ]  # fmt: skip
    assert news_of(store)["C0000"]["status"] == "cancelled"


@pytest.mark.every_store
def test_a_customer_who_moved_into_a_branch_that_switched_the_step_off_is_not_sent_it(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    (rules / "branches").mkdir()
    overlay = f"steps:\n  {NEWS}:\n    enabled: false\n"
    (rules / "branches" / f"{BRANCH}.yaml").write_text(overlay, "utf-8")
    assert daemon.reload_if_changed() is True
    plan_news(daemon, [None])
    move_to(store, 0, BRANCH)
    assert tick_news_day(daemon) == []
    assert news_of(store)["C0000"]["policy"] == "withdrawn"


@pytest.mark.every_store
def test_followups_list_and_explain_show_why_in_chinese(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    plan_news(daemon, [None])
    edit(rules, "playbooks.yaml", delete_news)
    dispatch_news_day(daemon)
    on = ["--rules", str(rules), "--store", store.location]
    listed = run_zh("followups", "list", *on, "--status", "cancelled", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)["followups"]
    assert (row["step_id"], row["policy"], row["reason"]) == (NEWS, "withdrawn", GONE)
    explained = run_zh("explain", "C0000", *on)
    assert explained.exit_code == 0, explained.output
    assert GONE in explained.stdout and "已取消" in explained.stdout


@pytest.mark.every_store
def test_a_corrected_template_reaches_what_was_planned_before_the_correction(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """The news planned under the old text goes out with the corrected one, from a daemon
    that ran the old rules as from one started afresh on the new."""
    plan_news(daemon, [None, None])
    planned_by = daemon.running.ruleset.hash
    corrected = "已上线（利率已更正），"
    edit(rules, "templates.yaml", lambda text: text.replace("已上线，", corrected, 1))
    sent = dispatch_news_day(daemon)
    assert daemon.running.ruleset.hash != planned_by
    assert {row["ruleset_hash"] for row in store.execute("SELECT ruleset_hash FROM followups")} == {
        planned_by
    }
    assert len(sent) == 2
    assert all(corrected in str(message["body"]) for message in sent)


def test_a_message_whose_template_was_renamed_gets_the_one_its_step_names_now(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    plan_news(daemon, [None])
    edit(rules, "templates.yaml", lambda text: text.replace("  product_news:", "  news_v2:", 1))
    edit(
        rules,
        "playbooks.yaml",
        lambda text: text.replace("template: product_news", "template: news_v2", 1),
    )
    [message] = dispatch_news_day(daemon)
    assert message["metadata"]["template"] == "news_v2"
    assert str(message["body"]).startswith("客户0您好，本月为您精选的新产品")


@pytest.mark.every_store
def test_a_release_that_deletes_a_step_stops_what_was_planned_for_it(
    store: Store, tmp_path: Path
) -> None:
    """In releases mode the step goes when two people approve the release without it."""
    rules = releases_mode(tmp_path)
    shutil.rmtree(rules / "tests")
    cache = tmp_path / "cache"
    ledger.approve(store, propose(store, rules).id, PLANNED, actor="wang")
    release, ruleset = live_ruleset(store, cache)
    daemon = Daemon(
        rules, ruleset, store, FixedClock(PLANNED), folder=tmp_path, release=release,
        cache=cache, port=None,
    )  # fmt: skip
    try:
        plan_news(daemon, [None])
        edit(rules, "playbooks.yaml", delete_news)
        ledger.approve(store, propose(store, rules, minutes=1).id, PLANNED, actor="wang")
        assert dispatch_news_day(daemon) == []
        [row] = news_of(store).values()
        assert (row["status"], row["policy"], row["reason"]) == ("cancelled", "withdrawn", GONE)
    finally:
        daemon.running.adapters.close()
        daemon.leadership.release()


def tick_at(daemon: Daemon, instant: dt.datetime) -> list[dict[str, Any]]:
    """The daemon ticks at `instant` (in Chinese); what the outbox received in all."""
    daemon.clock.advance(instant - daemon.clock.now())  # type: ignore[attr-defined]
    with language("zh"):
        daemon.dispatch_tick()
    path = daemon.folder / "outbox.jsonl"
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def every_step_planned_until(daemon: Daemon, end: dt.datetime) -> None:
    """The windows a daemon leading since `PLANNED` would have planned: every recurring
    step until `end` (so that its ticks plan nothing again before then)."""
    for step in daemon.running.ruleset.steps:
        daemon.store.execute(
            "INSERT INTO recurring_windows (step_id, window_start, window_end, batch,"
            " ruleset_hash, planned_at) VALUES (:s, :start, :end, 'test', 'test', :start)",
            {"s": step.id, "start": iso(PLANNED), "end": iso(end)},
        )


QUIET_NIGHT = NEWS_DAY.replace(hour=22)  # inside the quiet hours (21:00–08:30)
MORNING_AFTER = NEWS_DAY + dt.timedelta(days=1)


@pytest.mark.every_store
def test_a_customer_who_moves_away_and_back_before_the_month_goes_out_gets_it_once(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """C0000 of 长沙分行 is planned December in its version, moves to 北京分行: at the
    night's tick the branch's version is withdrawn and the head office's planned in its
    place, deferred by the quiet hours to the morning; the move is undone before then. In the
    morning the head office's is withdrawn in turn, and December goes out once, in
    长沙分行's version."""
    with_branch_news(daemon, rules)
    plan_news(daemon, [BRANCH])
    every_step_planned_until(daemon, PLANNED + dt.timedelta(days=31))
    move_to(store, 0, "北京分行")
    assert tick_at(daemon, QUIET_NIGHT) == []
    move_to(store, 0, BRANCH)
    sent = tick_at(daemon, MORNING_AFTER)
    assert [m["key"] for m in sent] == [f"{BRANCH_NEWS}:C0000:2026-12"]
    assert tick_at(daemon, MORNING_AFTER + dt.timedelta(hours=1)) == sent


@pytest.mark.every_store
def test_a_customer_moving_to_and_fro_between_ticks_gets_the_month_once_in_the_last_version(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """Each tick that claims December finds C0000 in another branch than the last did (the
    quiet hours defer what it plans in place): December goes out once, in the version of
    where they are when it is sent, before it expires (two days after the news day)."""
    with_branch_news(daemon, rules)
    plan_news(daemon, [BRANCH])
    every_step_planned_until(daemon, PLANNED + dt.timedelta(days=31))
    move_to(store, 0, "北京分行")
    assert tick_at(daemon, QUIET_NIGHT) == []
    move_to(store, 0, BRANCH)
    assert tick_at(daemon, QUIET_NIGHT + dt.timedelta(days=1)) == []
    move_to(store, 0, None)
    sent = tick_at(daemon, NEWS_DAY + dt.timedelta(days=2, minutes=-30))
    assert [m["key"] for m in sent] == [f"{NEWS}:C0000:2026-12"]
    december = "SELECT key FROM followups WHERE status = 'pending' AND occurrence = '2026-12'"
    assert store.execute(december) == []


@pytest.mark.every_store
def test_a_deleted_branch_overlay_sends_its_customers_the_head_offices_version_once(
    daemon: Daemon, rules: Path, store: Store
) -> None:
    """长沙分行's customers are planned December in its version; then the branch's rule file is
    deleted: they get the head office's December news, once, as every other customer."""
    with_branch_news(daemon, rules)
    plan_news(daemon, [BRANCH, BRANCH, None])
    every_step_planned_until(daemon, PLANNED + dt.timedelta(days=31))
    (rules / "branches" / f"{BRANCH}.yaml").unlink()
    sent = dispatch_news_day(daemon)
    assert sorted(m["key"] for m in sent) == [
        f"{NEWS}:C0000:2026-12", f"{NEWS}:C0001:2026-12", f"{NEWS}:C0002:2026-12"
    ]  # fmt: skip
    withdrawn = store.execute("SELECT status, policy FROM followups WHERE step_id = :s",
                              {"s": BRANCH_NEWS})  # fmt: skip
    assert withdrawn == [{"status": "cancelled", "policy": "withdrawn"}] * 2
    assert tick_news_day(daemon) == sent


@pytest.mark.every_store
@pytest.mark.parametrize("moved_to", ["北京分行", "杭州分行"])
def test_december_planned_again_after_a_move_plans_no_other_version_of_what_was_sent(
    daemon: Daemon, rules: Path, store: Store, moved_to: str
) -> None:
    """C0000 of 长沙分行 is sent December in its version, then moves to a branch with the
    head office's rules or one with a version of its own; December is planned again (an
    overlapping window): no other version of December goes to them."""
    (rules / "branches").mkdir()
    for branch in (BRANCH, "杭州分行"):
        (rules / "branches" / f"{branch}.yaml").write_text(CHANGED_NEWS, "utf-8")
    assert daemon.reload_if_changed() is True
    plan_news(daemon, [BRANCH])
    every_step_planned_until(daemon, PLANNED + dt.timedelta(days=31))
    sent = tick_news_day(daemon)
    assert [m["key"] for m in sent] == [f"{BRANCH_NEWS}:C0000:2026-12"]
    move_to(store, 0, moved_to)
    ruleset, end = daemon.running.ruleset, PLANNED + dt.timedelta(days=31)
    assert plan_recurring(store, ruleset, PLANNED, end, PLANNED).new == 0
    assert tick_at(daemon, NEWS_DAY + dt.timedelta(hours=1)) == sent


@pytest.mark.every_store
@pytest.mark.parametrize("change", ["move", "delete the overlay"])
def test_a_version_waiting_for_its_retry_is_retried_not_replaced_by_another(
    daemon: Daemon, rules: Path, store: Store, change: str
) -> None:
    """December in 长沙分行's version was attempted and the gateway's answer lost (it may
    have reached C0000); then C0000 moves away, or the branch's overlay is deleted. The retry
    goes under its key, which the gateway knows: one message, not a second version."""
    with_branch_news(daemon, rules)
    plan_news(daemon, [BRANCH])
    gateway = LostAnswer(NEWS_DAY)
    assert dispatch_once(store, daemon.running.ruleset, {"sms": gateway}, NEWS_DAY).retried == 1
    if change == "move":
        move_to(store, 0, "北京分行")
    else:
        (rules / "branches" / f"{BRANCH}.yaml").unlink()
        assert daemon.reload_if_changed() is True
    for hours in (2, 3):
        dispatch_once(store, daemon.running.ruleset, {"sms": gateway},
                      NEWS_DAY + dt.timedelta(hours=hours))  # fmt: skip
    assert [m.key for m in gateway.messages] == [f"{BRANCH_NEWS}:C0000:2026-12"]
    assert store.execute("SELECT status FROM followups WHERE occurrence = '2026-12'") == [
        {"status": "sent"}
    ]


@pytest.mark.every_store
@pytest.mark.parametrize("change", ["move", "delete the overlay"])
def test_a_version_waiting_for_its_retry_is_not_sent_where_the_step_is_switched_off(
    daemon: Daemon, rules: Path, store: Store, change: str
) -> None:
    """December in 长沙分行's version was attempted, its answer lost; then C0000 moves to
    杭州分行, which switched the step off (or moves there and 长沙分行's overlay is deleted):
    no version of the step is in force for them, so the retry is withdrawn, not sent."""
    with_branch_news(daemon, rules)
    off = f"steps:\n  {NEWS}:\n    enabled: false\n"
    (rules / "branches" / "杭州分行.yaml").write_text(off, "utf-8")
    assert daemon.reload_if_changed() is True
    plan_news(daemon, [BRANCH])
    gateway = LostAnswer(NEWS_DAY)
    assert dispatch_once(store, daemon.running.ruleset, {"sms": gateway}, NEWS_DAY).retried == 1
    move_to(store, 0, "杭州分行")
    if change == "delete the overlay":
        (rules / "branches" / f"{BRANCH}.yaml").unlink()
        assert daemon.reload_if_changed() is True
    for hours in (2, 3):
        dispatch_once(store, daemon.running.ruleset, {"sms": gateway},
                      NEWS_DAY + dt.timedelta(hours=hours))  # fmt: skip
    assert [m.key for m in gateway.messages] == [f"{BRANCH_NEWS}:C0000:2026-12"]  # the attempt
    december = store.execute("SELECT status, policy FROM followups WHERE occurrence = '2026-12'")
    assert december == [{"status": "cancelled", "policy": "withdrawn"}]
