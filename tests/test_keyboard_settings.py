"""Playbooks, levels and policies as a bank's staff type them on a Chinese keyboard: a key
left empty, a level named by part of its label (被动 for 被动型), quiet hours written as a
range (22:00-8:00), a cap's window said as a period (每周), a count with its word (2次). Each is
answered at its own line and column with what to write instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guanxi.engine.i18n import language
from guanxi.engine.ruleset import load_ruleset
from tests.test_chinese_keyboard import errors, line_of
from tests.test_new_user import RULES, edit


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the default rule project to edit."""
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


def line_with(file: str, text: str) -> int:
    """The line of the default rules' `file` that holds `text` (its first)."""
    lines = (RULES / file).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_a_level_with_nothing_after_its_key_is_pointed_at_that_key(project: Path) -> None:
    edit(project, "playbooks.yaml", "  basic: []", "  basic:")
    [error] = errors(project)
    line = line_of("playbooks.yaml", "  basic:")
    assert (error.code, error.line, error.col) == ("wrong-type", line, 3)
    assert error.hint == (
        "write 'basic: []' for none, or list them under it, each line starting with '- '"
    )
    with language("zh"):
        [error] = errors(project)
    assert "basic: []" in (error.hint or "") and "没有" in (error.hint or "")


@pytest.mark.parametrize(
    ("file", "old", "new", "hint"),
    [
        ("playbooks.yaml", "  passive:", "  被动:", "write 'passive' (被动型)"),
        ("playbooks.yaml", "on_enter: partner", "on_enter: 伙伴", "write 'partner' (伙伴型)"),
        (
            "levels.yaml",
            "order: [basic, passive, responsible, proactive, partner]",
            "order: [基本, passive, responsible, proactive, partner]",
            "write 'basic' (基本型)",
        ),
        (
            "tests/tiers_and_levels.yaml",
            "      level: partner",
            "      level: 伙伴",
            "write 'partner' (伙伴型)",
        ),
        (
            "policies.yaml",
            "{channel: sms, max: 2",
            "{channel: 推送, max: 2",
            "write 'app' (手机银行推送 app)",
        ),
    ],
)
def test_a_name_written_as_part_of_its_label_is_answered_with_the_name(
    project: Path, file: str, old: str, new: str, hint: str
) -> None:
    edit(project, file, old, new)
    line = line_with(file, old)
    assert hint in [d.hint for d in errors(project) if d.line == line]
    with language("zh"):
        assert any("请写" in (d.hint or "") for d in errors(project) if d.line == line)


@pytest.mark.parametrize(
    ("file", "old", "new", "hint"),
    [
        ("playbooks.yaml", "on_enter: partner", "on_enter: 伙半型", "write 'partner' (伙伴型)"),
        ("playbooks.yaml", "  passive:", "  被动形:", "write 'passive' (被动型)"),
        (
            "levels.yaml",
            "tier = 'low_value' AND value_ratio >= 1",
            "tier = '低价直客户' AND value_ratio >= 1",
            "write 'low_value' (低价值客户)",
        ),
    ],
)
def test_a_label_mistyped_by_one_character_is_answered_with_the_name(
    project: Path, file: str, old: str, new: str, hint: str
) -> None:
    """An input method's neighbouring candidate (伴 → 半, 型 → 形) in a label of three or more
    characters."""
    edit(project, file, old, new)
    line = line_with(file, old)
    assert [d.hint for d in errors(project) if d.line == line] == [hint]


QUIET = 'quiet_hours: {start: "21:00", end: "08:30"}'


@pytest.mark.parametrize(
    "written",
    ["22:00-8:00", '"22:00-08:00"', "22:00~08:00", "晚上10点到早上8点", "22点至8点"],
)
def test_quiet_hours_written_as_a_range_are_answered_with_the_block_to_write(
    project: Path, written: str
) -> None:
    edit(project, "policies.yaml", QUIET, f"quiet_hours: {written}")
    [error] = errors(project)
    assert (error.line, error.col) == (line_of("policies.yaml", "quiet_hours:"), 14)
    assert error.hint == """write quiet_hours: {start: "22:00", end: "08:00"}"""
    with language("zh"):
        [error] = errors(project)
    assert error.hint == """请写成 quiet_hours: {start: "22:00", end: "08:00"}"""


@pytest.mark.parametrize(
    ("file", "old", "new", "hint"),
    [
        (
            "policies.yaml",
            QUIET,
            "quiet_hours: 晚上",
            'write quiet_hours: {start: "22:00", end: "08:00"}',
        ),
        (
            "policies.yaml",
            "capacity: {owner_field: rm_id, tasks_per_day: 25}",
            "capacity: 每天30个",
            "write capacity: {owner_field: rm_id, tasks_per_day: 30}",
        ),
        (
            "policies.yaml",
            "  - {channel: sms, max: 2, per: 7 days}",
            "  - 每周最多2次",
            "write - {channel: all, max: 2, per: 7 days}",
        ),
    ],
)
def test_a_setting_written_as_a_sentence_is_answered_with_the_block_to_write(
    project: Path, file: str, old: str, new: str, hint: str
) -> None:
    edit(project, file, old, new)
    [error] = errors(project)
    assert (error.code, error.line, error.hint) == ("wrong-type", line_with(file, old), hint)


@pytest.mark.parametrize(
    ("per", "hint"),
    [
        ("每周", "write the window's length: '7 days'"),
        ("周", "write the window's length: '7 days'"),
        ("week", "write the window's length: '7 days'"),
        ("每天", "write the window's length: '1 day'"),
        ("每月", "a month has no fixed number of days: write '30 days'"),
        ("quarter", "write the window's length: '90 days'"),
    ],
)
def test_a_caps_window_said_as_a_period_is_answered_with_its_length(
    project: Path, per: str, hint: str
) -> None:
    old = "  - {channel: sms, max: 2, per: 7 days}"
    edit(project, "policies.yaml", old, f"  - {{channel: sms, max: 2, per: {per}}}")
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-duration",
        line_with("policies.yaml", old),
        33,
    )
    assert error.hint == hint


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("max: 2, per: 7 days", "max: 2次, per: 7 days", "write the number alone: 2"),
        ("tasks_per_day: 25", "tasks_per_day: 25个", "write the number alone: 25"),
        ("tasks_per_day: 25", "tasks_per_day: 每天25个", "write the number alone: 25"),
        ("max: 2, per: 7 days", "max: 两次, per: 7 days", "write the number alone: 2"),
        ("max: 4, per: 30 days", "max: 最多四次, per: 30 days", "write the number alone: 4"),
        ("tasks_per_day: 25", "tasks_per_day: 二十五个", "write the number alone: 25"),
    ],
)
def test_a_count_written_with_its_word_is_answered_with_the_number(
    project: Path, old: str, new: str, hint: str
) -> None:
    edit(project, "policies.yaml", old, new)
    [error] = errors(project)
    assert (error.code, error.line, error.hint) == (
        "wrong-type",
        line_with("policies.yaml", old),
        hint,
    )
    with language("zh"):
        [error] = errors(project)
    assert error.hint == hint.replace("write the number alone: ", "只写数字：")


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("销售后3个工作日", "the step's trigger (on: …) says what '销售后' is: write '3个工作日'"),
        ("三天后", "leave out '后' (the key says it already): write '三天'"),
    ],
)
def test_a_wait_said_with_what_it_follows_is_answered_with_the_duration(
    project: Path, written: str, hint: str
) -> None:
    old = "after: 3 business days"
    edit(project, "playbooks.yaml", old, f"after: {written}")
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-duration",
        line_with("playbooks.yaml", old),
        14,
    )
    assert error.hint == hint


@pytest.mark.parametrize(("word", "value"), [("任务", "task"), ("消息", "message")])
def test_what_a_step_does_said_in_chinese_is_answered_with_its_value(
    project: Path, word: str, value: str
) -> None:
    old = "      do: message\n      channel: preferred\n      template: invite_feedback"
    edit(project, "playbooks.yaml", old, old.replace("do: message", f"do: {word}"))
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-value",
        line_with("playbooks.yaml", "do: message"),
        11,
    )
    assert error.hint == f"write '{value}'"


@pytest.mark.parametrize(("word", "value"), [("是", True), ("否", False), ("关闭", False)])
def test_a_yes_or_no_said_in_chinese_is_read_as_true_or_false(
    project: Path, word: str, value: bool
) -> None:
    """As a scenario's `gold: 是` is (see test_rule_yes_no_zh.py); before, refused with
    'write true' or 'write false'."""
    old = "label_en: name, required: true}"
    edit(project, "schema.yaml", old, old.replace("true", word))
    assert errors(project) == []
    assert load_ruleset(project).schema.fields["name"].required is value


def test_a_key_said_in_chinese_is_answered_with_the_key_to_write(project: Path) -> None:
    old = "expires: {message: 2 days, task: 10 business days}"
    edit(project, "policies.yaml", old, "expires: {消息: 2 days, 任务: 10 business days}")
    found = [(e.code, e.line, e.col, e.hint) for e in errors(project)]
    line = line_with("policies.yaml", old)
    assert found == [
        ("unknown-key", line, 11, "write 'message'"),
        ("unknown-key", line, 23, "write 'task'"),
    ]


@pytest.mark.parametrize(("word", "value"), [("第一个", "first"), ("唯一", "unique")])
def test_a_hit_policy_said_in_chinese_is_answered_with_its_value(
    project: Path, word: str, value: str
) -> None:
    edit(project, "tiers.yaml", "hit_policy: first", f"hit_policy: {word}")
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-value",
        line_with("tiers.yaml", "hit_policy: first"),
        13,
    )
    assert error.hint == f"write '{value}'"


@pytest.mark.parametrize(
    ("file", "old", "new", "hint"),
    [
        ("playbooks.yaml", 'at: "10:30"', "at: 10.30", 'write "10:30" (hours:minutes, in quotes)'),
        ("playbooks.yaml", 'at: "10:30"', "at: 10", 'write "10:00" (hours:minutes, in quotes)'),
        ("policies.yaml", 'end: "08:30"', "end: 8.30", 'write "08:30" (hours:minutes, in quotes)'),
        ("playbooks.yaml", 'at: "10:30"', "at: 9.5",
         'write "09:50" (hours:minutes, in quotes), or "09:30" for half past'),
    ],
)  # fmt: skip
def test_a_time_written_as_a_number_is_answered_with_the_time_in_quotes(
    project: Path, file: str, old: str, new: str, hint: str
) -> None:
    """YAML reads `10.30` as the number 10.3: the time it stood for, written as one."""
    edit(project, file, old, new)
    [error] = errors(project)
    assert (error.code, error.line, error.hint) == ("wrong-type", line_with(file, old), hint)
    key = new.split(":")[0]
    edit(project, file, new, f"{key}: {hint.split()[1]}")
    assert errors(project) == []


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("policies.yaml", "fallback: [app, sms, email]", "fallback: app, sms, email"),
        ("policies.yaml", "fallback: [app, sms, email]", "fallback: app sms email"),
        ("playbooks.yaml", "cancel_on: [feedback]", "cancel_on: feedback"),
    ],
)
def test_a_list_written_without_its_brackets_is_answered_with_them(
    project: Path, file: str, old: str, new: str
) -> None:
    edit(project, file, old, new)
    [error] = errors(project)
    written = old.split(": ", 1)[1]
    assert (error.code, error.line, error.hint) == (
        "wrong-type",
        line_with(file, old),
        f"write the list in brackets: {written}",
    )
