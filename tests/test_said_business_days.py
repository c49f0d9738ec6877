"""Rule files as a bank's staff write them on a Chinese keyboard, where no hint used to help:
a wait said as 立即 or 当天, a schedule said as 每月第一个工作日, 节假日顺延 as a key or beside a
value, a list item typed with the input method's dashes (——id:), a template named by its
title, a duration's number in Chinese numerals. Each is answered at its line and column,
in English and in Chinese, with what to write; following the hint validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import language
from guanxi.engine.ruleset.fix import fix_project
from tests.test_chinese_keyboard import errors
from tests.test_keyboard_settings import line_with, project
from tests.test_new_user import edit

__all__ = ["project"]

SALE_STEP = "      on: sale\n      after: 1 day\n"
NEWS = '      every: month\n      day: 5\n      at: "10:00"\n'
ITEM = "    - id: passive_invite_feedback"


def answered(project: Path) -> tuple[Diagnostic, Diagnostic]:
    """The one error of the project, in English and in Chinese."""
    [english] = errors(project)
    with language("zh"):
        [chinese] = errors(project)
    return english, chinese


@pytest.mark.parametrize("word", ["立即", "马上"])
def test_a_wait_said_as_at_once_is_told_to_leave_out_after(project: Path, word: str) -> None:
    edit(project, "playbooks.yaml", SALE_STEP, SALE_STEP.replace("1 day", word))
    english, chinese = answered(project)
    assert (english.code, english.line, english.col) == (
        "invalid-duration",
        line_with("playbooks.yaml", "after: 1 day"),
        14,
    )
    assert (english.hint or "").startswith("to act at once, leave out 'after:'")
    assert "要立即执行，请去掉 'after:'" in (chinese.hint or "")
    edit(project, "playbooks.yaml", f"      after: {word}\n", "")
    assert errors(project) == []


def test_a_wait_said_as_the_same_day_is_answered_with_0_days(project: Path) -> None:
    edit(project, "playbooks.yaml", SALE_STEP, SALE_STEP.replace("1 day", "当天"))
    english, chinese = answered(project)
    assert (english.code, english.line, english.col) == (
        "invalid-duration",
        line_with("playbooks.yaml", "after: 1 day"),
        14,
    )
    assert english.hint == (
        "for the same day as the trigger, write '0 days' (at the step's 'at:' time)"
    )
    assert "当天" in (chinese.hint or "") and "'0 days'" in (chinese.hint or "")
    edit(project, "playbooks.yaml", "after: 当天", "after: 0 days")
    assert errors(project) == []


@pytest.mark.parametrize(
    ("written", "key", "col"),
    [
        ("      every: 每月第一个工作日\n", "every", 14),
        ("      every: 每月首个工作日\n", "every", 14),
        ("      every: month\n      day: 第一个工作日\n", "day", 12),
    ],
)
def test_the_months_first_business_day_is_said_to_be_unschedulable_with_the_nearest(
    project: Path, written: str, key: str, col: int
) -> None:
    """No schedule names a business day; day 1 comes closest, and a task due on a day off
    moves to the next business day by itself."""
    edit(project, "playbooks.yaml", NEWS, written)
    english, chinese = answered(project)
    assert (english.line, english.col) == (
        line_with("playbooks.yaml", "every: month") + (key == "day"),
        col,
    )
    assert english.code == ("invalid-cron" if key == "every" else "invalid-value")
    assert "cannot be scheduled" in english.message and "first business day" in english.message
    assert (english.hint or "").startswith("the nearest: 'every: month' and 'day: 1'")
    assert "a task (do: task) due on a day off moves to the next business day" in (
        english.hint or ""
    )
    assert "无法安排" in chinese.message and "第一个工作日" in chinese.message
    assert "'day: 1'" in (chinese.hint or "") and "顺延到下一个工作日" in (chinese.hint or "")
    edit(project, "playbooks.yaml", written, "      every: month\n      day: 1\n")
    assert errors(project) == []


@pytest.mark.parametrize(
    ("written", "code", "col", "words"),
    [
        (NEWS + "      节假日顺延: true\n", "unknown-key", 7, "节假日顺延"),
        (NEWS + "      遇节假日顺延: 是\n", "unknown-key", 7, "遇节假日顺延"),
        (NEWS.replace("day: 5", "day: 5 遇节假日顺延"), "invalid-value", 12, "遇节假日顺延"),
    ],
)
def test_holiday_shift_said_as_a_key_or_a_value_points_to_the_calendar(
    project: Path, written: str, code: str, col: int, words: str
) -> None:
    edit(project, "playbooks.yaml", NEWS, written)
    english, chinese = answered(project)
    line = line_with("playbooks.yaml", "every: month") + (3 if code == "unknown-key" else 1)
    assert (english.code, english.line, english.col) == (code, line, col)
    assert (english.hint or "").startswith(
        f"leave out '{words}': a task (do: task) due on a day off moves to the next business"
        " day by itself (calendar: in guanxi.yaml"
    )
    assert f"请去掉 '{words}'" in (chinese.hint or "") and "calendar:" in (chinese.hint or "")
    edit(project, "playbooks.yaml", written, NEWS)
    assert errors(project) == []


@pytest.mark.parametrize("dash", ["——", "—— ", "－ ", "— "])
def test_a_list_item_typed_with_the_input_methods_dash_is_answered_at_the_dash(
    project: Path, dash: str
) -> None:
    """YAML reads `——id:` as text, and complained of the line after it; `－ id:` was found
    but not told what a list item starts with."""
    edit(project, "playbooks.yaml", ITEM, ITEM.replace("- ", dash))
    english, chinese = answered(project)
    assert (english.code, english.line, english.col) == (
        "full-width",
        line_with("playbooks.yaml", ITEM),
        5,
    )
    assert english.message.endswith("where '-' is needed")
    assert (english.hint or "").startswith("a list item starts with the ASCII '-' and a space")
    assert "英文半角 '-'" in (chinese.hint or "") and "'-'" in chinese.message
    fix_project(project)
    assert ITEM in (project / "playbooks.yaml").read_text("utf-8")
    assert errors(project) == []


@pytest.mark.parametrize(
    ("written", "hint", "zh"),
    [
        (
            "感谢您的信任",
            "write the template's id, not its title: invite_feedback (感谢您的信任)",
            "请写模板的编号，不要写它的标题：invite_feedback (感谢您的信任)",
        ),
        (
            "邀请反馈",
            "write the id of one of the templates expected (its key in templates.yaml), not a"
            " name in words",
            "请写“应为”中列出的某个模板编号",
        ),
    ],
)
def test_a_template_named_by_a_title_or_in_words_is_answered_with_its_id(
    project: Path, written: str, hint: str, zh: str
) -> None:
    edit(project, "playbooks.yaml", "template: invite_feedback", f"template: {written}")
    english, chinese = answered(project)
    assert (english.code, english.line, english.col) == (
        "unknown-template",
        line_with("playbooks.yaml", "template: invite_feedback"),
        17,
    )
    assert english.hint == hint and (chinese.hint or "").startswith(zh)
    assert "invite_feedback (感谢您的信任), usage_tips (产品使用小贴士)" in (english.expected or "")


@pytest.mark.parametrize(
    ("file", "old", "new", "col", "number"),
    [
        ("playbooks.yaml", "after: 1 day", "after: 二百 days", 14, 200),
        ("playbooks.yaml", "expires: 10 days", "expires: 三千 minutes", 16, 3000),
        ("policies.yaml", "per: 30 days}", "per: 一万 minutes}", 33, 10000),
    ],
)
def test_a_durations_number_in_chinese_numerals_is_answered_in_digits(
    project: Path, file: str, old: str, new: str, col: int, number: int
) -> None:
    edit(project, file, old, new)
    english, chinese = answered(project)
    assert (english.code, english.line, english.col) == (
        "invalid-duration",
        line_with(file, old),
        col,
    )
    assert english.hint == f"write the number in digits: {number}"
    assert chinese.hint == f"请用阿拉伯数字写：{number}"
    edit(project, file, new, new.replace(new.split(": ")[1].split()[0], str(number)))
    assert errors(project) == []
