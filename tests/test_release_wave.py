"""A release that moves most customers is loud before it goes live: `release show`, `propose`
and `approve` give the share of the customers it moves and the follow-ups it adds, warn (in
English and Chinese) when that is a wave, and approval then takes an explicit --yes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.releases import ledger
from guanxi.engine.releases.files import read_files
from guanxi.engine.releases.impact import impact_of
from guanxi.engine.store.base import Store
from tests.daemon_helpers import plan_due
from tests.test_cli_release import NOW, guanxi, project, replace

WHERE = ("--now", NOW)
# no balance counts as an empty account: every customer loaded without one becomes dormant
EVERYONE_DORMANT = ("balance = 0 AND", "COALESCE(balance, 0) = 0 AND")


def propose_and_approve_a_base(store: Store, rules: Path) -> None:
    plan_due(store, 5, dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC))  # customers to simulate
    base = guanxi("li.na", "release", "propose", str(rules), "--days", "1", "--store",
                  store.location, *WHERE)  # fmt: skip
    assert base.exit_code == 0, base.output
    approved = guanxi("wang", "release", "approve", "1", "--rules", str(rules), "--store",
                      store.location, *WHERE)  # fmt: skip
    assert approved.exit_code == 0, approved.output  # nothing to compare with: no prompt


def test_a_release_moving_most_customers_warns_and_needs_confirming(
    store: Store, tmp_path: Path
) -> None:
    rules = project(tmp_path)
    propose_and_approve_a_base(store, rules)
    replace(rules / "tiers.yaml", *EVERYONE_DORMANT)
    where = ["--rules", str(rules), "--store", store.location]
    proposed = guanxi("li.na", "release", "propose", str(rules), "--days", "1", *where[2:], *WHERE)
    assert proposed.exit_code == 0, proposed.output
    assert "5 of 5 customers (100 %) classified differently" in proposed.stdout
    assert "warning: release 2 classifies 5 of 5 customers (100 %) differently" in proposed.stderr

    shown = guanxi("wang", "release", "show", "2", *where)
    assert "5 of 5 customers (100 %) classified differently" in shown.stdout
    assert "warning: release 2 classifies 5 of 5 customers (100 %) differently" in shown.stderr
    assert f"guanxi simulate --rules {rules.resolve()} --baseline DIR" in shown.stderr
    assert "guanxi release approve 2 --yes" in shown.stderr
    zh = guanxi("wang", "--lang", "zh", "release", "show", "2", *where)
    assert "警告：发布 2 使 5 位客户中的 5 位（100 %）分类改变" in zh.stderr
    assert "guanxi simulate --rules" in zh.stderr

    refused = guanxi("wang", "release", "approve", "2", *where, *WHERE)
    assert refused.exit_code == 1
    assert "warning: release 2 classifies 5 of 5 customers (100 %) differently" in refused.stderr
    assert (
        "Error: release 2 not approved: it moves many customers at once; once its moves are"
        " reviewed, approve it with: guanxi release approve 2 --yes"
    ) in refused.stderr
    refused_zh = guanxi("wang", "--lang", "zh", "release", "approve", "2", *where, *WHERE)
    assert refused_zh.exit_code == 1
    assert (
        "发布 2 未批准" in refused_zh.stderr
        and "guanxi release approve 2 --yes" in refused_zh.stderr
    )
    assert ledger.get(store, 2).status == "proposed"

    approved = guanxi("wang", "release", "approve", "2", "--yes", "--json", *where, *WHERE)
    assert approved.exit_code == 0, approved.output
    impact = json.loads(approved.stdout)["impact"]
    assert (impact["classified_differently"], impact["customers"], impact["share"]) == (5, 5, 1.0)
    assert impact["loud"] is True
    assert ledger.get(store, 2).status == "live"


def test_answering_yes_at_the_prompt_approves_a_loud_release(store: Store, tmp_path: Path) -> None:
    rules = project(tmp_path)
    propose_and_approve_a_base(store, rules)
    replace(rules / "tiers.yaml", *EVERYONE_DORMANT)
    ledger.propose(store, read_files(rules), "h2", dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                   source=str(rules), checks={}, simulation=kept(moved=5, customers=5),
                   base_id=1, actor="li.na")  # fmt: skip
    where = ["--rules", str(rules), "--store", store.location, *WHERE]
    own = guanxi_with_input("y\n", "li.na", "release", "approve", "2", *where)
    assert "another person must approve it" in own.stderr  # refused before any question
    assert "all the same?" not in own.stderr and "warning" not in own.stderr
    no = guanxi_with_input("n\n", "wang", "release", "approve", "2", *where)
    assert no.exit_code == 1 and "approve release 2 all the same? [y/N]" in no.stderr
    assert "release 2 not approved" in no.stderr
    yes = guanxi_with_input("y\n", "wang", "release", "approve", "2", *where)
    assert yes.exit_code == 0, yes.output
    assert "release 2 approved by wang and live" in yes.stdout


def test_an_older_proposal_without_the_total_shows_it_unknown(store: Store, tmp_path: Path) -> None:
    rules = project(tmp_path)
    old = kept(moved=40, customers=None, step_added=None)
    ledger.propose(store, read_files(rules), "h1", dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                   source=str(rules), checks={}, simulation=old, base_id=None,
                   actor="li.na")  # fmt: skip
    where = ["--rules", str(rules), "--store", store.location]
    shown = guanxi("wang", "release", "show", "1", *where)
    assert shown.exit_code == 0, shown.output
    assert "40 customer(s) classified differently, of a total unknown" in shown.stdout
    assert "3 more follow-ups" in shown.stdout and "of which" not in shown.stdout
    assert "warning" not in shown.stderr
    zh = guanxi("wang", "--lang", "zh", "release", "show", "1", *where)
    assert "40 位客户分类不同，总数未知" in zh.stdout
    as_json = json.loads(guanxi("wang", "release", "show", "1", "--json", *where).stdout)
    assert as_json["impact"]["customers"] is None and as_json["impact"]["loud"] is False


def test_a_small_change_neither_warns_nor_asks(store: Store, tmp_path: Path) -> None:
    rules = project(tmp_path)
    propose_and_approve_a_base(store, rules)
    ledger.propose(store, read_files(rules), "h2", dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                   source=str(rules), checks={}, simulation=kept(moved=19, customers=100),
                   base_id=1, actor="li.na")  # fmt: skip
    where = ["--rules", str(rules), "--store", store.location]
    shown = guanxi("wang", "release", "show", "2", *where)
    assert "19 of 100 customers (19 %) classified differently" in shown.stdout
    assert "3 more follow-ups; of which welcome_sms 3" in shown.stdout
    zh = guanxi("wang", "--lang", "zh", "release", "show", "2", *where)
    assert "100 位客户中的 19 位（19 %）分类不同" in zh.stdout
    assert "warning" not in shown.stderr and "警告" not in zh.stderr
    approved = guanxi("wang", "release", "approve", "2", *where, *WHERE)
    assert approved.exit_code == 0, approved.output
    assert "warning" not in approved.stderr


def test_a_release_adding_a_wave_of_followups_warns(store: Store, tmp_path: Path) -> None:
    rules = project(tmp_path)
    propose_and_approve_a_base(store, rules)
    wave = kept(moved=2, customers=100, deliveries=100, baseline=70, step_added=30)
    ledger.propose(store, read_files(rules), "h2", dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                   source=str(rules), checks={}, simulation=wave, base_id=1,
                   actor="li.na")  # fmt: skip
    where = ["--rules", str(rules), "--store", store.location]
    shown = guanxi("wang", "release", "show", "2", *where)
    assert "2 of 100 customers (2 %) classified differently" in shown.stdout
    assert "30 more follow-ups; of which welcome_sms 30" in shown.stdout
    assert (
        "warning: release 2 adds 30 follow-ups in 7 days, 3.0 times a normal day under the"
        " live release"
    ) in shown.stderr
    zh = guanxi("wang", "--lang", "zh", "release", "show", "2", *where)
    assert "跟进多 30 条；其中 welcome_sms 30" in zh.stdout
    assert "警告：发布 2 在 7 天内多出 30 条跟进，是现行发布下平常一天的 3.0 倍" in zh.stderr
    refused = guanxi("wang", "release", "approve", "2", *where, *WHERE)
    assert refused.exit_code == 1 and "guanxi release approve 2 --yes" in refused.stderr


@pytest.mark.parametrize(
    ("moved", "customers", "deliveries", "loud"),
    [
        (19, 100, 70, False),  # under a fifth, follow-ups as usual
        (20, 100, 70, True),  # a fifth of the customers
        (0, 100, 89, False),  # 19 more in 7 days: under two normal days (2 × 10)
        (0, 100, 90, True),  # 20 more: two normal days' worth
        (40, None, 70, False),  # the total unknown: judged on the follow-ups alone
    ],
)
def test_the_bars_a_release_must_stay_under(
    moved: int, customers: int | None, deliveries: int, loud: bool
) -> None:
    summary = kept(moved, customers, deliveries=deliveries, baseline=70)
    impact = impact_of(summary)
    assert impact is not None and impact.loud is loud


def test_a_first_release_has_nothing_to_be_compared_with() -> None:
    assert impact_of({"start": "2026-12-02", "days": 7, "deliveries": 900}) is None


# --- helpers -------------------------------------------------------------------------------


def kept(
    moved: int,
    customers: int | None,
    deliveries: int = 73,
    baseline: int = 70,
    step_added: int | None = 3,
) -> dict[str, Any]:
    """A simulation summary as a proposal keeps it (`customers` and the steps' `added`
    missing, as in one kept before they were)."""
    step: dict[str, Any] = {"step": "welcome_sms", "gained": 3, "lost": 0, "changed": 0}
    if step_added is not None:
        step["added"] = step_added
    summary: dict[str, Any] = {
        "start": "2026-12-02",
        "days": 7,
        "deliveries": deliveries,
        "baseline_deliveries": baseline,
        "classified_differently": moved,
        "delivered_differently": 3,
        "steps": [step],
        "moves": [],
    }
    if customers is not None:
        summary["customers"] = customers
    return summary


def guanxi_with_input(answer: str, actor: str, *args: str) -> Result:
    """`guanxi` as `actor`, with `answer` typed at its prompt."""
    runner = CliRunner(env={"COLUMNS": "200", "GUANXI_ACTOR": actor})
    return runner.invoke(cli, list(args), input=answer, prog_name="guanxi")
