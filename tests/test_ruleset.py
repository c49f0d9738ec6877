"""Loading rule projects: the default project, hashing, decision tables, timing, the commands."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.diagnostics import CODES
from guanxi.engine.errors import RuleSetInvalid
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.ruleset.tables import overlaps, read_table
from guanxi.engine.timing import (
    Duration,
    TimingError,
    parse_duration,
    parse_interval,
    parse_schedule,
)

ROOT = Path(__file__).parent.parent
RULES = ROOT / "rules"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


def test_default_project_expresses_the_domain() -> None:
    ruleset = load_ruleset(RULES)
    assert ruleset.tiers.names == ("dormant", "high_value_added", "valuable", "low_value")
    assert ruleset.levels.names == ("partner", "proactive", "responsible", "passive", "basic")
    assert ruleset.strategies is not None
    assert sorted(set(ruleset.strategies.names)) == [  # growth: one table row a kind
        "general", "gold_package", "growth", "unprofitable"
    ]  # fmt: skip
    assert ruleset.gold is not None and ruleset.gold.top_percent == 5
    steps = {s.id: s for s in ruleset.steps}
    assert not [s for s in ruleset.steps if s.level == "basic"]
    assert steps["responsible_post_sale_call"].after == Duration(3, "business_days")
    assert steps["partner_quarterly_review"].schedule is not None
    assert steps["partner_quarterly_review"].schedule.cron == "0 10 10 1,4,7,10 *"
    assert all(r.label and r.label_en for r in ruleset.levels.rules)


def test_default_labels_are_the_source_texts_own_terms() -> None:
    """Reports and explain show these labels: staff know the groups by the source's words
    (科学的分类管理; 五种不同程度的关系; 金牌客户, 成长型客户, 一般客户)."""
    ruleset = load_ruleset(RULES)
    labels = {r.name: r.label for r in ruleset.tiers.rules}
    assert labels == {"dormant": "睡眠客户", "low_value": "低价值客户", "valuable": "有价值客户",
                      "high_value_added": "高附加值客户"}  # fmt: skip
    levels = [r.label for r in ruleset.levels.rules]
    assert levels == ["伙伴型", "能动型", "负责型", "被动型", "基本型"]
    assert ruleset.gold is not None and ruleset.gold.label == "金牌客户"
    assert ruleset.strategies is not None
    groups = {r.name: (r.label or "").split(":")[0] for r in ruleset.strategies.rules}
    assert groups == {"gold_package": "金牌客户", "growth": "成长型客户", "general": "一般客户",
                      "unprofitable": "不盈利客户"}  # fmt: skip


def test_the_ruleset_is_immutable(project: Path) -> None:
    ruleset = load_ruleset(project)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.hash = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ruleset.templates["x"] = ruleset.templates["product_news"]  # type: ignore[index]


def test_hash_follows_the_content_and_nothing_else(tmp_path: Path, project: Path) -> None:
    first = load_ruleset(project).hash
    moved = shutil.copytree(project, tmp_path / "elsewhere")
    assert load_ruleset(moved).hash == first
    tiers = project / "tiers.yaml"
    tiers.write_text(tiers.read_text(encoding="utf-8").replace("top_percent: 5", "top_percent: 4"))
    assert load_ruleset(project).hash != first


def test_a_project_read_again_is_named_as_this_time_it_is_given(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same folder given once relative to the working folder and once absolute: each
    reading names the scenario files as it was given, though the second is kept from the
    first (`guanxi test rules` then `guanxi test /abs/rules` in one process, the daemon)."""
    monkeypatch.chdir(project.parent)
    relative = validate_project(Path(project.name))
    absolute = validate_project(project)
    assert relative.ruleset is not None and absolute.ruleset is not None
    assert relative.ruleset.scenarios[0].file.startswith(f"{project.name}/tests/")
    assert absolute.ruleset.scenarios[0].file.startswith(f"{project}/tests/")


def test_load_ruleset_raises_with_all_diagnostics(project: Path) -> None:
    (project / "levels.yaml").write_text("levels:\n  - name: x\n", encoding="utf-8")
    with pytest.raises(RuleSetInvalid) as caught:
        load_ruleset(project)
    assert [d.code for d in caught.value.diagnostics] == ["missing-key"]


def test_missing_required_files_are_each_reported(tmp_path: Path) -> None:
    result = validate_project(tmp_path)
    missing = sorted(d.file for d in result.diagnostics if d.code == "missing-file")
    assert [Path(m).name for m in missing] == [
        "guanxi.yaml",
        "levels.yaml",
        "schema.yaml",
        "tiers.yaml",
    ]


FIELDS = {"balance": "number", "tier": "string", "vip": "boolean"}


def test_decision_table_cells_become_conditions() -> None:
    text = 'name,label,tier,balance,vip\na,A,"valuable, low",[1..10],yes\nb,B,not dormant,>= 5,\n'
    table = read_table("t.csv", text, FIELDS)
    assert table.diagnostics == []
    assert [r.rule.when for r in table.rows] == [
        "tier IN ('valuable', 'low') AND balance BETWEEN 1 AND 10 AND vip = TRUE",
        "tier <> 'dormant' AND balance >= 5",
    ]


def test_unique_table_overlap_is_found_by_intervals_and_sets() -> None:
    text = 'name,label,tier,balance\na,A,x,< 10\nb,B,x,>= 10\nc,C,"x, y",[5..20]\nd,D,z,\n'
    rows = read_table("t.csv", text, FIELDS).rows
    assert not overlaps(rows[0].constraints, rows[1].constraints)  # < 10 and >= 10
    assert overlaps(rows[0].constraints, rows[2].constraints)
    assert overlaps(rows[1].constraints, rows[2].constraints)
    assert not overlaps(rows[2].constraints, rows[3].constraints)  # x, y against z


def test_priority_hit_policy_orders_rules_by_priority(project: Path) -> None:
    (project / "strategies.yaml").write_text(
        "hit_policy: priority\ndecision_table: strategies.csv\n", encoding="utf-8"
    )
    (project / "strategies.csv").write_text(
        "name,label,tier,priority\ngeneral,低,low_value,10\ngrowth,高,valuable,90\n"
        "gold_package,金,high_value_added,50\nunprofitable,其他,,0\n",  # the names steps use
        encoding="utf-8",
    )
    ruleset = load_ruleset(project)
    assert ruleset.strategies is not None
    assert ruleset.strategies.names == ("growth", "gold_package", "general", "unprofitable")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 business days", Duration(3, "business_days")),
        ("1 business day", Duration(1, "business_days")),
        ("2 hours", Duration(2, "hours")),
        (" 10  Days ", Duration(10, "days")),
        ("3 workdays", Duration(3, "business_days")),
        ("2 working days", Duration(2, "business_days")),
        # as a Chinese sentence says it
        ("3个工作日", Duration(3, "business_days")),
        ("三个工作日", Duration(3, "business_days")),
        ("3 工作日", Duration(3, "business_days")),
        ("3个交易日", Duration(3, "business_days")),
        ("7天", Duration(7, "days")),
        ("十五日", Duration(15, "days")),
        ("2个小时", Duration(2, "hours")),
        ("一个星期", Duration(1, "weeks")),
        ("2周", Duration(2, "weeks")),
        ("30 分钟", Duration(30, "minutes")),
    ],
)
def test_durations(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["个工作日", "3个", "几天", "-3天"])
def test_what_is_no_chinese_duration_is_refused(text: str) -> None:
    with pytest.raises(TimingError) as caught:
        parse_duration(text)
    assert caught.value.hint == "write a number and a unit, e.g. '3 business days'"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30 seconds", 30), ("5 minutes", 300), ("30秒", 30), ("三十秒钟", 30), ("5 分钟", 300),
     ("5分", 300), ("一小时", 3600), ("1个钟头", 3600), ("两天", 172_800), ("十万秒", 100_000)],
)  # fmt: skip
def test_the_daemons_intervals_are_read_in_english_or_chinese(text: str, seconds: int) -> None:
    assert parse_interval(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["0秒", "半小时", "几秒", "十万零一秒", "一万亿天", "30 secnds"])
def test_what_is_no_interval_is_refused_with_both_ways_to_write_one(text: str) -> None:
    with pytest.raises(TimingError) as caught:
        parse_interval(text)
    assert str(caught.value) == f"'{text}' is not an interval"
    assert caught.value.hint == (
        "write a number above 0 and seconds, minutes, hours or days, e.g. '30 seconds' or '30秒'"
    )


def test_a_chinese_duration_is_bounded_like_any_other() -> None:
    with pytest.raises(TimingError) as caught:
        parse_duration("九亿天")
    assert str(caught.value) == "the number in this duration is too large"


def test_a_step_after_three_working_days_in_chinese_plans_as_three_business_days(
    project: Path,
) -> None:
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text(encoding="utf-8")
    assert "after: 3 business days" in text
    playbooks.write_text(text.replace("after: 3 business days", "after: 三个工作日"))
    [step] = [s for s in load_ruleset(project).steps if s.step.after == "三个工作日"]
    assert step.after == Duration(3, "business_days")


@pytest.mark.parametrize(
    ("text", "days"), [("3个月", 90), ("三个月", 90), ("3 月", 90), ("6 months", 180)]
)
def test_months_are_answered_with_days(text: str, days: int) -> None:
    with pytest.raises(TimingError) as caught:
        parse_duration(text)
    assert caught.value.hint == f"a month has no fixed number of days: write '{days} days'"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("半个月", "a month has no fixed number of days: write '15 days'"),
        ("半年", "a year has no fixed number of days: write '180 days'"),
        ("一年", "a year has no fixed number of days: write '365 days'"),
        ("2年", "a year has no fixed number of days: write '730 days'"),
        ("次日", "write '1 day'"),
        ("第二天", "write '1 day'"),
    ],
)
def test_half_a_month_years_and_the_next_day_are_answered_with_days(text: str, hint: str) -> None:
    with pytest.raises(TimingError) as caught:
        parse_duration(text)
    assert caught.value.hint == hint
    answer = hint.split("'")[1]
    assert parse_duration(answer).amount > 0  # the answer is a duration that is read


def test_a_misspelt_unit_gets_a_suggestion() -> None:
    with pytest.raises(TimingError) as caught:
        parse_duration("3 busness days")
    assert caught.value.hint == "did you mean 'business days'?"


@pytest.mark.parametrize(
    ("every", "day", "at", "cron"),
    [
        ("month", 5, "10:00", "0 10 5 * *"),
        ("week", "friday", "16:30", "30 16 * * fri"),
        ("quarter", None, None, "0 9 1 1,4,7,10 *"),
        ("0 9 * * mon-fri", None, None, "0 9 * * mon-fri"),
    ],
)
def test_schedules(every: str, day: int | str | None, at: str | None, cron: str) -> None:
    assert parse_schedule(every, day, at).cron == cron


@pytest.mark.parametrize(
    ("every", "day", "period", "cron"),
    [
        ("每月", 5, "month", "0 9 5 * *"),
        ("每个季度", None, "quarter", "0 9 1 1,4,7,10 *"),
        ("每周", "周五", "week", "0 9 * * fri"),
        ("星期", "礼拜天", "week", "0 9 * * sun"),
        ("week", "星期一", "week", "0 9 * * mon"),
        ("每天", None, "day", "0 9 * * *"),
    ],
)
def test_schedules_in_chinese_are_the_same_periods(
    every: str, day: int | str | None, period: str, cron: str
) -> None:
    """The same period, so the same occurrence keys: 每月 plans what month plans, once."""
    schedule = parse_schedule(every, day)
    assert (schedule.period, schedule.cron) == (period, cron)


@pytest.mark.parametrize("every", ["fortnight", "61 * * * *", "* * *", "每年", "隔周"])
def test_bad_schedules_are_refused(every: str) -> None:
    with pytest.raises(TimingError):
        parse_schedule(every)


def test_init_creates_a_project_that_validates(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "demo-project"
    created = runner.invoke(cli, ["init", str(target)])
    assert created.exit_code == 0, created.output
    assert (target / "tests" / "tiers_and_levels.yaml").is_file()
    assert not list(target.rglob("*.py"))
    assert runner.invoke(cli, ["validate", str(target)]).exit_code == 0
    again = runner.invoke(cli, ["init", str(target)])
    assert again.exit_code == 1
    assert "already exists and is not empty" in again.stderr


def test_rules_prints_the_summary_of_the_default_rules() -> None:
    result = CliRunner().invoke(cli, ["rules", "--json"])
    assert result.exit_code == 0, result.output
    assert '"levels": [\n    "partner"' in result.stdout
    assert re.search(r'"hash": "[0-9a-f]{16}"', result.stdout)


def test_every_diagnostic_code_is_documented() -> None:
    golden = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.expected"))
    shown = set(re.findall(r"(?:error|warning)\[([a-z0-9-]+)\]", golden))
    assert shown <= set(CODES), shown - set(CODES)
    reference = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert all(f"`{code}`" in reference for code in CODES)
