"""Status and group words are stored in English and shown in the reader's language: a
Chinese table shows no 'treated', 'deferred' or 'held_out'."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import cast

from guanxi.cli.plan import _outcome_word
from guanxi.engine.demo_outcomes import write_experiment_history
from guanxi.engine.i18n import language
from guanxi.engine.report.experiments import experiments
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.results import RunResult, RunSection, Verdict
from guanxi.engine.store import Store
from tests.test_experiments import _customers


def test_the_chinese_experiments_table_names_the_treated_group_in_chinese(
    store: Store, ruleset: RuleSet
) -> None:
    _customers(store, ruleset)
    now = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
    write_experiment_history(store, ruleset, now, 7)
    with language("zh"):
        [table] = [t for t in experiments(store, ruleset, now).tables() if not t.detail]
    groups = {row[1] for row in table.rows}
    assert {"留出（不发送）", "实验组（发送）"} <= groups
    assert not groups & {"treated", "held_out", "held out"}


def test_the_chinese_verdict_table_shows_the_status_in_chinese_and_json_as_stored() -> None:
    verdict = Verdict("deferred", "quiet_hours", "quiet hours", 3)
    section = RunSection(cast(RunResult, SimpleNamespace(label="rules", verdicts=[verdict])))
    with language("zh"):
        assert section.verdicts().rows == (("已推迟", "quiet_hours", "quiet hours", 3),)
        assert section.verdicts(str).rows[0][0] == "deferred"


def test_the_chinese_plan_summary_shows_each_status_in_chinese() -> None:
    with language("zh"):
        assert _outcome_word("held_out (holdout)") == "留出（不发送） (holdout)"
        assert _outcome_word("pending") == "待发送"
