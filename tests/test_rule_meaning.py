"""A rule file means what the business user meant: a mistake is reported where it was made,
in the user's language, and nothing is silently read as something else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import _, language
from guanxi.engine.language import parse_condition
from guanxi.engine.ruleset import validate_project
from tests.test_domains import edited

RULES = Path(__file__).parent.parent / "rules"
NEWS_SCHEDULE = '      every: month\n      day: 5\n      at: "10:00"\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


def line_of(file: str, text: str) -> int:
    """The line of the shipped project's `file` where `text` starts."""
    whole = (RULES / file).read_text(encoding="utf-8")
    return whole[: whole.index(text)].count("\n") + 1


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(
    ("schedule", "key", "code"),
    [
        ('      every: month\n      day: 31\n      at: "10:00"\n', 1, "invalid-value"),
        ('      every: month\n      day: 星期五\n      at: "10:00"\n', 1, "invalid-value"),
        ('      every: month\n      day: 5\n      at: "25:00"\n', 2, "invalid-time"),
        ('      every: fortnight\n      day: 5\n      at: "10:00"\n', 0, "invalid-cron"),
    ],
)
def test_a_schedule_mistake_is_reported_once_at_its_own_key(
    project: Path, lang: str, schedule: str, key: int, code: str
) -> None:
    with language(lang):
        diagnostics = edited(project, "playbooks.yaml", NEWS_SCHEDULE, schedule)
    assert [(d.line, d.code) for d in diagnostics] == [
        (line_of("playbooks.yaml", NEWS_SCHEDULE) + key, code)
    ]


@pytest.mark.parametrize(
    ("every", "hint"),
    [
        (
            "day",
            "remove 'day:', or write 'every: week' (day: monday … sunday, or 1 … 7) or"
            " 'every: month' (day: 1 … 28)",
        ),
        ("每天", None),  # the same cadence said in Chinese
        (
            '"0 10 * * *"',
            "remove 'day:', or write the day in the cron expression: its third field is the"
            " day of the month, its fifth the day of the week",
        ),
    ],
)
def test_a_day_that_the_cadence_does_not_read_is_warned_at_its_key(
    project: Path, every: str, hint: str | None
) -> None:
    schedule = NEWS_SCHEDULE.replace("every: month", f"every: {every}")
    diagnostics = edited(project, "playbooks.yaml", NEWS_SCHEDULE, schedule)
    assert [(d.line, d.col, d.severity, d.code) for d in diagnostics] == [
        (line_of("playbooks.yaml", NEWS_SCHEDULE) + 1, 12, "warning", "unread-day")
    ]
    assert "'day: 5' is not read" in diagnostics[0].message
    if hint is not None:
        assert diagnostics[0].hint == hint
    with language("zh"):
        [warning] = validate_project(project).diagnostics
    assert "day: 5" in warning.message and "不会" in warning.message


def test_a_day_on_a_step_that_follows_an_event_is_warned(project: Path) -> None:
    sale = "      on: sale\n      after: 1 day\n"
    diagnostics = edited(
        project, "playbooks.yaml", sale, sale.replace("after", "day: 5\n      after")
    )
    assert [(d.line, d.col, d.code) for d in diagnostics] == [
        (line_of("playbooks.yaml", sale) + 1, 12, "unread-day")
    ]
    assert diagnostics[0].message == "'day: 5' is not read: only an 'every:' step has a day"
    assert diagnostics[0].hint == (
        "remove 'day:', or write 'every: week' (day: monday … sunday, or 1 … 7) or"
        " 'every: month' (day: 1 … 28)"
    )


@pytest.mark.parametrize("every", ["week", "month", "quarter"])
def test_a_day_that_the_cadence_reads_is_not_warned(project: Path, every: str) -> None:
    schedule = NEWS_SCHEDULE.replace("every: month", f"every: {every}")
    assert edited(project, "playbooks.yaml", NEWS_SCHEDULE, schedule) == []


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("61 9 * * *", ("minute '61'", "0 to 59")),
        ("0 9 32 * *", ("day of the month '32'", "1 to 31")),
        ("0 9 31 2 *", ("never happens",)),  # 31 February: the step would never be due
        ("0 9 30 2 *", ("never happens",)),
    ],
)
def test_a_cron_schedule_that_cannot_be_or_never_is_due_is_refused(
    project: Path, cron: str, words: tuple[str, ...]
) -> None:
    diagnostics = edited(project, "playbooks.yaml", NEWS_SCHEDULE, f'      every: "{cron}"\n')
    assert [(d.line, d.code) for d in diagnostics] == [
        (line_of("playbooks.yaml", NEWS_SCHEDULE), "invalid-cron")
    ]
    assert all(word in diagnostics[0].message for word in words)


def test_a_cron_mistake_reads_in_chinese(project: Path) -> None:
    with language("zh"):
        cron = '      every: "61 9 * * *"\n'
        [diagnostic] = edited(project, "playbooks.yaml", NEWS_SCHEDULE, cron)
    assert "分钟 '61'" in diagnostic.message
    assert "higher than" not in diagnostic.message


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_delay_without_its_unit_asks_for_one(project: Path, lang: str) -> None:
    with language(lang):
        diagnostics = edited(project, "playbooks.yaml", "after: 3 business days", "after: 3")
        hint = _("write a number and a unit, e.g. '3 business days'")
    assert [(d.line, d.col, d.code, d.hint) for d in diagnostics] == [
        (line_of("playbooks.yaml", "after: 3 business days"), 14, "invalid-duration", hint)
    ]


@pytest.mark.parametrize("written", ["5%", "5 %", "5.0%"])
def test_the_gold_share_may_be_written_with_a_percent_sign(project: Path, written: str) -> None:
    assert edited(project, "tiers.yaml", "top_percent: 5", f"top_percent: {written}") == []
    assert validate_project(project).ruleset.gold.top_percent == 5  # type: ignore[union-attr]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_gold_share_written_as_a_fraction_is_questioned(project: Path, lang: str) -> None:
    with language(lang):
        diagnostics = edited(project, "tiers.yaml", "top_percent: 5", "top_percent: 0.05")
        hint = _("for the top {whole} %, write {whole}; for {written} %, write {written}%")
    assert [(d.line, d.col, d.code, d.severity, d.hint) for d in diagnostics] == [
        (
            line_of("tiers.yaml", "top_percent: 5"),
            16,
            "percent-scale",
            "warning",
            hint.format(whole="5", written="0.05"),
        )
    ]


def test_a_gold_share_below_one_percent_said_so_is_taken_as_written(project: Path) -> None:
    assert edited(project, "tiers.yaml", "top_percent: 5", "top_percent: 0.5%") == []
    assert validate_project(project).ruleset.gold.top_percent == 0.5  # type: ignore[union-attr]


@pytest.mark.parametrize("written", ["contribution_pct >= 70", "contribution_pct > 70.5"])
def test_a_percentile_compared_with_a_whole_percentage_says_how_to_write_it(
    project: Path, written: str
) -> None:
    valuable = "contribution_pct >= 70%\n  - name: low_value"  # the valuable rule's end
    changed = valuable.replace("contribution_pct >= 70%", written)
    diagnostics = edited(project, "tiers.yaml", valuable, changed)
    number = written.split()[-1]
    assert [(d.code, d.hint) for d in diagnostics] == [
        (
            "unreachable-rule",
            f"contribution_pct is a percentile from 0 to 1: for {number} %, write {number}% "
            f"or {float(number) / 100:g}",
        )
    ]


PASSIVE = "tier = 'low_value' AND value_ratio >= 1"


@pytest.mark.parametrize(
    ("file", "old", "new", "hint"),
    [
        (
            "levels.yaml",
            PASSIVE,
            "kind = '个人' AND value_ratio >= 1",
            "write 'personal' (个人客户)",
        ),
        (
            "levels.yaml",
            PASSIVE,
            "tier = '低价值' AND value_ratio >= 1",
            "write 'low_value' (低价值客户)",
        ),
        (
            "levels.yaml",
            PASSIVE,
            "tier = '睡眠' AND value_ratio >= 1",
            "write 'dormant' (睡眠客户)",
        ),
    ],
)
def test_part_of_a_label_is_answered_with_the_name_it_belongs_to(
    project: Path, file: str, old: str, new: str, hint: str
) -> None:
    [diagnostic] = edited(project, file, old, new)
    assert (diagnostic.code, diagnostic.hint) == ("unknown-value", hint)


def test_part_of_several_labels_names_them_all(project: Path) -> None:
    [diagnostic] = edited(project, "levels.yaml", PASSIVE, "tier = '价值' AND value_ratio >= 1")
    assert diagnostic.hint == "write 'valuable' (有价值客户) or 'low_value' (低价值客户)"


@pytest.mark.parametrize(
    "typed",
    ["25-45", "25~45", "25～45", "25 到 45", "25至45岁", "25—45", "25..45", '"[25, 45]"',
     ">=25 AND <=45"],
)  # fmt: skip
def test_a_range_in_a_table_cell_is_answered_with_the_range_to_write(
    project: Path, typed: str
) -> None:
    [diagnostic] = edited(project, "strategies.csv", "[25..45]", typed)
    assert (diagnostic.line, diagnostic.code) == (3, "decision-table")
    assert diagnostic.hint == "write '[25..45]' (25 to 45, both included)"


@pytest.mark.parametrize(
    "typed", ["非 dormant", "不是dormant", "非睡眠客户", "不等于 dormant", "除了dormant"]
)
def test_a_negation_in_words_in_a_table_cell_is_answered_with_not(
    project: Path, typed: str
) -> None:
    [diagnostic] = edited(project, "strategies.csv", "personal,not dormant,", f"personal,{typed},")
    assert (diagnostic.code, diagnostic.hint) == ("unknown-value", "write 'not dormant'")


RETENTION = "when: tier <> 'dormant'"


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("when: tier = 'not dormant'", "write tier <> 'dormant'"),
        ("when: tier = '非dormant'", "write tier <> 'dormant'"),
        ("when: tier = '非睡眠客户'", "write tier <> 'dormant'"),
        ("when: tier <> '不是dormant'", "write tier = 'dormant'"),
        ("when: tier IN ('非dormant')", "write tier NOT IN ('dormant')"),
    ],
)
def test_a_negation_inside_quotes_is_answered_with_the_operator(
    project: Path, typed: str, hint: str
) -> None:
    [diagnostic] = edited(project, "playbooks.yaml", RETENTION, typed)
    assert (diagnostic.code, diagnostic.hint) == ("unknown-value", hint)


@pytest.mark.parametrize(
    ("typed", "wrong", "hint"),
    [
        (
            "tier = 'low_value' AND products_held >= '3'",
            "products_held >= '3'",
            "write 3, without quotes",
        ),
        ("tier = 'low_value' AND kind <> 1", "kind <> 1", "write '1', in quotes"),
    ],
)
def test_a_number_compared_with_text_says_which_quotes_to_add_or_remove(
    project: Path, typed: str, wrong: str, hint: str
) -> None:
    [diagnostic] = edited(project, "levels.yaml", PASSIVE, typed)
    assert (diagnostic.code, diagnostic.hint) == ("type-mismatch", hint)
    assert (diagnostic.col, diagnostic.length) == (11 + typed.index(wrong), len(wrong))


@pytest.mark.parametrize(
    ("file", "old", "new", "hint"),
    [
        ("playbooks.yaml", "售后邀请反馈\n      on: sale", "售后邀请反馈\n      on: 销售",
         "sale (销售)"),
        ("playbooks.yaml", "{event: sale, within: 30 days, minimum_effect: 2%}",
         "{event: 销售, within: 30 days, minimum_effect: 2%}", "sale (销售)"),
        ("playbooks.yaml", "cancel_on: [feedback]", "cancel_on: [反馈]", "feedback (反馈)"),
        ("tiers.yaml", "count: complaint\n    in_last: 365", "count: 投诉\n    in_last: 365",
         "complaint (投诉)"),
    ],
)  # fmt: skip
def test_an_event_type_written_as_its_label_is_answered_with_its_name(
    project: Path, file: str, old: str, new: str, hint: str
) -> None:
    name, label = hint.split()
    diagnostics = edited(project, file, old, new)
    found = [(d.code, d.hint) for d in diagnostics if d.code == "unknown-event"]
    assert found == [("unknown-event", f"write '{name}' {label}")]


def test_a_measure_in_error_brings_no_errors_where_it_is_used(project: Path) -> None:
    old, new = "count: complaint\n    in_last: 365", "count: complain\n    in_last: 365"
    diagnostics = edited(project, "tiers.yaml", old, new)
    assert [(d.code, d.hint) for d in diagnostics] == [
        ("unknown-event", "did you mean 'complaint'?")
    ]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("balance > = 100", ">="), ("balance <  = 100", "<="), ("kind < > 'a'", "<>"),
     ("kind ! = 'a'", "!=")],
)  # fmt: skip
def test_a_space_typed_inside_a_comparison_sign_is_pointed_at(typed: str, meant: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(typed, {"balance": "number", "kind": "string"})
    error = caught.value
    start = typed.index(meant[0])
    assert (error.code, error.offset) == ("condition-syntax", start)
    assert typed[error.offset : error.offset + error.length].replace(" ", "") == meant
    assert error.hint == f"write {meant}, without a space inside"


@pytest.mark.parametrize(
    ("typed", "sign", "meant"),
    [("consent_sms && balance > 0", "&&", "AND"), ("balance > 0 || age < 3", "||", "OR"),
     ("balance >= 1&&age<3", "&&", "AND"), ("balance > 0 & age < 3", "&", "AND"),
     ("balance > 0 | age < 3", "|", "OR")],
)  # fmt: skip
def test_a_programmers_and_or_is_answered_with_the_word_to_write(
    typed: str, sign: str, meant: str
) -> None:
    fields = {"balance": "number", "age": "number", "consent_sms": "boolean"}
    with pytest.raises(ConditionError) as caught:
        parse_condition(typed, fields)
    error = caught.value
    where = (error.code, error.offset, error.length)
    assert where == ("condition-syntax", typed.index(sign), len(sign))
    assert error.hint == f"write {meant} in place of '{sign}', e.g. balance >= 100 {meant} age < 60"
    with language("zh"), pytest.raises(ConditionError) as caught:
        parse_condition(typed, fields)
    assert f"把「{sign}」改成 {meant}" in str(caught.value.hint)


def test_double_equals_and_bang_equals_mean_equal_and_not_equal() -> None:
    fields = {"balance": "number"}
    assert parse_condition("balance == 100", fields).evaluate({"balance": 100})
    assert parse_condition("balance != 100", fields).evaluate({"balance": 5})
    assert not parse_condition("balance != 100", fields).evaluate({"balance": 100})


@pytest.mark.parametrize(
    ("old", "new", "col"),
    [
        ('quiet_hours: {start: "21:00", end: "08:30"}', 'quiet_hours: {start: "21:00"}', 14),
        (
            "capacity: {owner_field: rm_id, tasks_per_day: 25}",
            "capacity: {owner_field: rm_id}",
            11,
        ),
        ("rm_task: {kind: task,    label:", "rm_task: {label:", 12),
    ],
)
def test_a_key_missing_from_an_inline_block_is_reported_at_its_brace(
    project: Path, old: str, new: str, col: int
) -> None:
    diagnostics = edited(project, "policies.yaml", old, new)
    assert [(d.line, d.col, d.code) for d in diagnostics] == [
        (line_of("policies.yaml", old), col, "missing-key")
    ]
