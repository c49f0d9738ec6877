"""Playbook steps as a bank's staff say them: an event by an everyday word that is not its
label (on: 购买 for the sale event, 销售), a channel the same way (channel: 电邮), a cadence no
period names (every: 每年, every: 每两周). Each is answered at its column with what to write,
or, for a cadence that cannot be written, with that said plainly and the nearest that can."""

from __future__ import annotations

from pathlib import Path

import pytest

from guanxi.engine.i18n import language
from guanxi.engine.ruleset.load import validate_project
from tests.test_keyboard_settings import errors, line_with, project
from tests.test_new_user import edit

__all__ = ["project"]

SALE_STEP = "      on: sale\n      after: 1 day"
MESSAGE_CHANNEL = "      channel: preferred\n      template: invite_feedback"
RM_CHANNEL = "      do: task\n      channel: rm_task\n      template: post_sale_check"
NEWS = '      every: month\n      day: 5\n      at: "10:00"'


@pytest.mark.parametrize(
    ("word", "hint"),
    [
        ("购买", "write 'sale' (销售)"),
        ("签约", "write 'sale' (销售)"),
        ("抱怨", "write 'complaint' (投诉)"),
        ("登陆", "write 'login' (登录)"),
        ("到期", "write 'product_maturity' (产品到期)"),
    ],
)
def test_an_event_said_with_an_everyday_word_is_answered_with_its_name(
    project: Path, word: str, hint: str
) -> None:
    edit(project, "playbooks.yaml", SALE_STEP, SALE_STEP.replace("sale", word))
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "unknown-event",
        line_with("playbooks.yaml", "on: sale"),
        11,
    )
    assert error.hint == hint
    with language("zh"):
        [error] = errors(project)
    assert error.hint == hint.replace("write", "请写").replace(" (", "（").replace(")", "）")


def test_an_everyday_word_is_answered_only_with_an_event_the_schema_has(project: Path) -> None:
    """Once sales are recorded as 'purchase' (购入), on: 购买 is no longer told to write 'sale'."""
    edit(project, "playbooks.yaml", SALE_STEP, SALE_STEP.replace("sale", "购买"))
    line = line_with("playbooks.yaml", "on: sale")

    def hints() -> list[str | None]:
        found = [e for e in errors(project) if e.file.endswith("playbooks.yaml")]
        return [e.hint for e in found if e.line == line and e.code == "unknown-event"]

    assert hints() == ["write 'sale' (销售)"]
    edit(project, "schema.yaml", "  sale:  ", "  purchase:")
    edit(project, "schema.yaml", "{label: 销售, label_en: sale,", "{label: 购入,")
    assert hints() == [None]


@pytest.mark.parametrize(
    ("word", "hint"),
    [
        ("电邮", "write 'email' (电子邮件 email)"),
        ("手机短信", "write 'sms' (短信 SMS)"),
        ("网银", "write 'online_banking' (网上银行站内信 online banking)"),
        ("柜台", "write 'counter' (柜面提示 counter)"),
        ("ATM", "write 'self_service' (自助设备屏显 self-service terminal)"),
    ],
)
def test_a_channel_said_with_an_everyday_word_is_answered_with_its_name(
    project: Path, word: str, hint: str
) -> None:
    edit(project, "playbooks.yaml", MESSAGE_CHANNEL, MESSAGE_CHANNEL.replace("preferred", word))
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "unknown-channel",
        line_with("playbooks.yaml", "channel: preferred"),
        16,
    )
    assert error.hint == hint


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("{channel: sms, max: 2", "{channel: 手机短信, max: 2", "write 'sms' (短信 SMS)"),
        ("{channel: all, max: 4", "{channel: 全部, max: 4", "write 'all'"),
    ],
)
def test_a_cap_channel_said_with_an_everyday_word_is_answered_with_its_name(
    project: Path, old: str, new: str, hint: str
) -> None:
    edit(project, "policies.yaml", old, new)
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "unknown-channel",
        line_with("policies.yaml", old),
        15,
    )
    assert error.hint == hint


@pytest.mark.parametrize(
    ("every", "cron"),
    [
        ("每年", "0 10 5 1 *"),
        ("yearly", "0 10 5 1 *"),
        ("每半年", "0 10 5 1,7 *"),
        ("每两个月", "0 10 5 */2 *"),
        ("每年3月15日", "0 10 15 3 *"),
    ],
)
def test_a_cadence_cron_can_hold_is_answered_with_the_cron_expression(
    project: Path, every: str, cron: str
) -> None:
    edit(project, "playbooks.yaml", NEWS, NEWS.replace("month", every))
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-cron",
        line_with("playbooks.yaml", "every: month"),
        14,
    )
    assert (error.hint or "").startswith(f'write every: "{cron}", a cron expression (at 10:00')
    assert (error.hint or "").endswith("remove 'day:' and 'at:'")
    edit(project, "playbooks.yaml", f"every: {every}", f'every: "{cron}"')
    edit(project, "playbooks.yaml", '      day: 5\n      at: "10:00"\n', "")
    assert errors(project) == []


def test_a_cadence_alone_is_answered_at_nine_with_nothing_to_remove(project: Path) -> None:
    edit(project, "playbooks.yaml", NEWS, "      every: 每年")
    [error] = errors(project)
    assert error.hint == (
        'write every: "0 9 1 1 *", a cron expression (at 09:00 on day 1 of January, every year)'
    )


@pytest.mark.parametrize("every", ["每两周", "每隔一周", "双周", "2 weeks", "fortnightly"])
def test_every_other_week_is_said_to_be_impossible_with_the_nearest_cadences(
    project: Path, every: str
) -> None:
    edit(project, "playbooks.yaml", NEWS, NEWS.replace("month", every))
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-cron",
        line_with("playbooks.yaml", "every: month"),
        14,
    )
    assert error.message.startswith(f"'{every}' cannot be scheduled")
    assert error.hint == (
        "the nearest: 'every: week' (each week), or every: \"0 10 1,15 * *\" (at 10:00 on the"
        " 1st and the 15th of every month); a cron expression holds its own day and time:"
        " remove 'day:' and 'at:'"
    )
    with language("zh"):
        [error] = errors(project)
    assert "无法安排" in error.message and "最接近的写法" in (error.hint or "")


@pytest.mark.parametrize(
    ("old", "new", "col", "value"),
    [
        ("purpose: service", "purpose: 服务", 16, "service"),
        ("purpose: service", "purpose: 营销", 16, "marketing"),
        ("do: message", "do: 短信", 11, "message"),
    ],
)
def test_a_step_purpose_or_a_message_said_in_chinese_is_answered_with_its_value(
    project: Path, old: str, new: str, col: int, value: str
) -> None:
    edit(project, "playbooks.yaml", old, new)
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-value",
        line_with("playbooks.yaml", old),
        col,
    )
    assert error.hint == f"write '{value}'"


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        (
            "marketing_field: consent_marketing",
            "marketing_field: 同意营销",
            "write the field's name, not its label: consent_marketing (同意营销)",
        ),
        (
            "owner_field: rm_id",
            "owner_field: 客户经理",
            "write the field's name, not its label: rm_id (客户经理)",
        ),
    ],
)
def test_a_policy_field_written_by_its_label_is_answered_with_its_name(
    project: Path, old: str, new: str, hint: str
) -> None:
    edit(project, "policies.yaml", old, new)
    [error] = errors(project)
    line = line_with("policies.yaml", old)
    column = (project / "policies.yaml").read_text("utf-8").splitlines()[line - 1].index(new) + 1
    col = column + len(new.split(": ")[0]) + 2
    assert (error.code, error.line, error.col, error.hint) == ("unknown-field", line, col, hint)


@pytest.mark.parametrize(
    ("every", "hint"),
    [
        ('"0 9 * * 1"', "to send at 14:00, write every: \"0 14 * * 1\" and remove 'at:'"),
        (
            '"0 9-17 * * 1"',
            "remove 'at:', or write the time in the cron expression: its first field is the"
            " minute, its second the hour",
        ),
    ],
)
def test_an_at_beside_a_cron_expression_of_another_time_is_warned_at_its_key(
    project: Path, every: str, hint: str
) -> None:
    """The cron expression's time is the one kept: the step ran at 09:00 without a word."""
    edit(project, "playbooks.yaml", NEWS, f'      every: {every}\n      at: "14:00"')
    [warning] = validate_project(project).diagnostics
    assert (warning.severity, warning.code, warning.line, warning.col) == (
        "warning",
        "unread-at",
        line_with("playbooks.yaml", "every: month") + 1,
        11,
    )
    assert warning.message == "'at: 14:00' is not read: a cron expression says its time itself"
    assert warning.hint == hint
    edit(project, "playbooks.yaml", 'at: "14:00"', 'at: "09:00"')
    assert [d.code for d in validate_project(project).diagnostics] == (
        [] if every == '"0 9 * * 1"' else ["unread-at"]
    )


def test_a_branch_at_beside_the_steps_cron_expression_is_warned_in_the_overlay(
    project: Path,
) -> None:
    edit(project, "playbooks.yaml", NEWS, '      every: "0 10 * * 1"')
    (project / "branches").mkdir(exist_ok=True)
    overlay = project / "branches" / "长沙分行.yaml"
    overlay.write_text('steps:\n  proactive_product_news:\n    at: "15:30"\n', "utf-8")
    [warning] = validate_project(project).diagnostics
    assert (Path(warning.file).name, warning.line, warning.col, warning.code) == (
        "长沙分行.yaml",
        3,
        9,
        "unread-at",
    )
    assert warning.hint == "to send at 15:30, write every: \"30 15 * * 1\" and remove 'at:'"


@pytest.mark.parametrize(
    ("every", "hint"),
    [
        ("每周一次", "write 'every: week'"),
        ("每季度一次", "write 'every: quarter'"),
        ("每月初", "write 'every: month' and 'day: 1'"),
    ],
)
def test_a_period_said_with_once_or_its_first_day_is_answered_with_the_period(
    project: Path, every: str, hint: str
) -> None:
    edit(project, "playbooks.yaml", NEWS, NEWS.replace("month", every))
    [error] = errors(project)
    assert (error.code, error.line, error.col, error.hint) == (
        "invalid-cron",
        line_with("playbooks.yaml", "every: month"),
        14,
        hint,
    )


@pytest.mark.parametrize(
    ("written", "hint", "fixed"),
    [
        (
            "      every: 每月底",
            "write 'every: month' and 'day: last'",
            '      every: month\n      day: last\n      at: "10:00"',
        ),
        (
            "      every: 月末",
            "write 'every: month' and 'day: last'",
            '      every: month\n      day: last\n      at: "10:00"',
        ),
        (
            "      every: 每月最后一天",
            "write 'every: month' and 'day: last'",
            '      every: month\n      day: last\n      at: "10:00"',
        ),
        (
            "      every: month\n      day: 月底",
            "write day: last (the 28th, 29th, 30th or 31st, as the month has)",
            "      every: month\n      day: last",
        ),
        (
            "      every: month\n      day: 31",
            "use a day from 1 to 28 (every month has those), or 'last' for each month's last day",
            "      every: month\n      day: last",
        ),
        (
            '      every: "0 10 L * *"',
            "the last day of the month is written 'last': every: \"0 10 last * *\"",
            '      every: "0 10 last * *"',
        ),
    ],
)
def test_the_months_last_day_is_answered_with_day_last_which_then_validates(
    project: Path, written: str, hint: str, fixed: str
) -> None:
    edit(project, "playbooks.yaml", NEWS, written)
    [error] = errors(project)
    last = written.splitlines()[-1]  # the faulty key: every:, or day: on the line after
    assert (error.line, error.col, error.hint) == (
        line_with("playbooks.yaml", "every: month") + written.count("\n"),
        len(last.split(":")[0]) + 3,
        hint,
    )
    edit(project, "playbooks.yaml", written, fixed)
    assert errors(project) == []


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ('      every: quarter\n      day: last\n      at: "10:00"', "remove 'day:' and 'at:'"),
        ('      every: 季末\n      at: "10:00"', "remove 'at:'"),
        ('      every: 每季度末\n      at: "10:00"', "remove 'at:'"),
    ],
)
def test_the_quarters_last_day_is_answered_with_its_cron_expression(
    project: Path, written: str, hint: str
) -> None:
    """A quarterly step runs in January, April, July and October: 'day: last' there would be
    31 January, so the quarter's end is a cron expression."""
    edit(project, "playbooks.yaml", NEWS, written)
    [error] = errors(project)
    assert error.hint == (
        'write every: "0 10 last 3,6,9,12 *", a cron expression (at 10:00 on the last day of'
        f" each quarter); a cron expression holds its own day and time: {hint}"
    )
    edit(project, "playbooks.yaml", written, '      every: "0 10 last 3,6,9,12 *"')
    assert errors(project) == []


@pytest.mark.parametrize(
    ("every", "hint"),
    [
        ("季初", "write 'every: quarter' and 'day: 1'"),
        (
            "每季度第一个月",
            "write 'every: quarter' (it runs in each quarter's first month: January, April,"
            " July, October) and its day of the month, e.g. 'day: 1'",
        ),
    ],
)
def test_the_quarters_first_days_are_answered_with_every_quarter(
    project: Path, every: str, hint: str
) -> None:
    edit(project, "playbooks.yaml", NEWS, f"      every: {every}")
    [error] = errors(project)
    assert error.hint == hint
    edit(project, "playbooks.yaml", f"      every: {every}", "      every: quarter\n      day: 1")
    assert errors(project) == []


DECLARE = (
    "the project has no such channel: write one of the channels it has (expected), or declare a"
    " new one under 'channels:' in policies.yaml"
)
MESSAGE_CHANNELS = (
    "sms (短信), email (电子邮件), app (手机银行推送), phone (电话银行外呼), online_banking"
    " (网上银行站内信), self_service (自助设备屏显), counter (柜面提示), preferred (偏好渠道)"
)


@pytest.mark.parametrize("word", ["微信", "公众号", "企业微信", "WeChat", "上门"])
def test_a_channel_the_project_lacks_is_said_so_with_the_channels_it_has(
    project: Path, word: str
) -> None:
    edit(project, "playbooks.yaml", MESSAGE_CHANNEL, MESSAGE_CHANNEL.replace("preferred", word))
    [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "unknown-channel",
        line_with("playbooks.yaml", "channel: preferred"),
        16,
    )
    assert (error.message, error.expected, error.hint) == (
        f"no channel '{word}'",
        MESSAGE_CHANNELS,
        DECLARE,
    )
    with language("zh"):
        [error] = errors(project)
    assert (error.message, error.hint) == (
        f"没有渠道 '{word}'",
        "本项目没有这个渠道：请写“应为”中列出的已有渠道之一，或在 policies.yaml 的 'channels:'"
        " 下声明新渠道",
    )
    assert (error.expected or "").startswith("sms（短信）, email（电子邮件）")


@pytest.mark.parametrize(
    ("word", "channel"),
    [("电话", "phone"), ("外呼", "phone"), ("APP推送", "app"), ("站内信", "online_banking")],
)
def test_a_message_channel_said_in_words_is_answered_with_one_that_then_validates(
    project: Path, word: str, channel: str
) -> None:
    edit(project, "playbooks.yaml", MESSAGE_CHANNEL, MESSAGE_CHANNEL.replace("preferred", word))
    [error] = errors(project)
    assert (error.hint or "").startswith(f"write '{channel}' (")
    edit(project, "playbooks.yaml", f"channel: {word}", f"channel: {channel}")
    assert errors(project) == []


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("电话", "no channel '电话'"),
        ("上门", "no channel '上门'"),
        ("客户经理", "no channel '客户经理'"),
        ("短信", "'短信' is the label of channel 'sms', which carries messages, not tasks"),
    ],
)
def test_a_tasks_channel_is_answered_with_a_task_channel_never_a_message_one(
    project: Path, word: str, message: str
) -> None:
    """电话 in a task is the manager's call: 'phone', the call centre's message, would be
    refused there, as 'sms' would."""
    edit(project, "playbooks.yaml", RM_CHANNEL, RM_CHANNEL.replace("rm_task", word))
    [error] = errors(project)
    assert (error.message, error.expected, error.hint) == (
        message,
        "rm_task (客户经理任务)",
        "write 'rm_task' (客户经理任务 relationship-manager task)",
    )
    edit(project, "playbooks.yaml", f"channel: {word}", "channel: rm_task")
    assert errors(project) == []


def test_a_fallback_channel_the_project_lacks_lists_its_message_channels(project: Path) -> None:
    edit(project, "policies.yaml", "fallback: [app, sms, email]", "fallback: [app, 微信, email]")
    [error] = errors(project)
    assert (error.line, error.col, error.message, error.hint) == (
        line_with("policies.yaml", "fallback:"),
        19,
        "no channel '微信'",
        DECLARE,
    )
    assert error.expected == MESSAGE_CHANNELS.removesuffix(", preferred (偏好渠道)")


@pytest.mark.parametrize(
    ("every", "cron", "when"),
    [
        ("周末", "0 10 * * sat,sun", "at 10:00 on Saturday and on Sunday"),
        ("每周末", "0 10 * * sat,sun", "at 10:00 on Saturday and on Sunday"),
        ("工作日", "0 10 * * mon-fri", "at 10:00 Monday to Friday, public holidays included"),
    ],
)
def test_days_of_every_week_are_answered_with_the_cron_expression_which_then_validates(
    project: Path, every: str, cron: str, when: str
) -> None:
    edit(project, "playbooks.yaml", NEWS, f'      every: {every}\n      at: "10:00"')
    [error] = errors(project)
    assert error.hint == (
        f'write every: "{cron}", a cron expression ({when}); a cron expression holds its own'
        " day and time: remove 'at:'"
    )
    edit(
        project,
        "playbooks.yaml",
        f'      every: {every}\n      at: "10:00"',
        f'      every: "{cron}"',
    )
    assert errors(project) == []


def test_a_weekly_step_on_the_weekend_is_answered_with_one_day_or_the_cron_expression(
    project: Path,
) -> None:
    edit(project, "playbooks.yaml", NEWS, '      every: week\n      day: 周末\n      at: "10:00"')
    [error] = errors(project)
    assert (error.line, error.col, error.hint) == (
        line_with("playbooks.yaml", "every: month") + 1,
        12,
        "a weekly step has one day: write 'day: sat' or 'day: sun'; for both, a cron"
        " expression: every: \"0 10 * * sat,sun\", and no 'day:' or 'at:'",
    )
