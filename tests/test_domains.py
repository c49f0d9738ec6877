"""Every text value has a domain: a tier, level, strategy, channel or a field's `values:`.

A value outside it would match nobody and silently empty a group; a label (低价值客户,
'low value') is answered with the name to write instead of being taken as a synonym.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guanxi.engine.defaults import default_rules_path
from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.language import parse_condition
from guanxi.engine.ruleset import validate_project
from guanxi.engine.ruleset.domains import condition_problems, field_domain
from guanxi.engine.ruleset.models import FieldSpec

RULES = Path(__file__).parent.parent / "rules"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


def edited(project: Path, file: str, old: str, new: str) -> list[Diagnostic]:
    """The diagnostics of the project after replacing `old`, found once, by `new` in `file`."""
    path = project / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return validate_project(project).diagnostics


def line_of(file: str, text: str) -> int:
    """The line of the shipped project's `file` that holds `text`."""
    lines = (RULES / file).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def found(diagnostics: list[Diagnostic]) -> list[tuple[int, int, str, str, str | None]]:
    return [(d.line, d.col, d.code, d.message, d.hint) for d in diagnostics]


PASSIVE = "when: tier = 'low_value' AND value_ratio >= 1"
RETENTION = "when: tier <> 'dormant'"
NEWS = "when: consent_marketing\n      do: message"  # the monthly product news's condition
TIERS = "the tiers are dormant, high_value_added, valuable, low_value"


def test_the_shipped_rules_and_the_demo_project_have_no_diagnostics(tmp_path: Path) -> None:
    assert validate_project(RULES).diagnostics == []
    assert validate_project(default_rules_path()).diagnostics == []


def test_one_wrong_item_of_an_in_list_is_pointed_at(project: Path) -> None:
    when = "when: tier IN ('valuable', 'low valu') AND value_ratio >= 1"
    assert found(edited(project, "levels.yaml", PASSIVE, when)) == [
        (
            line_of("levels.yaml", PASSIVE),
            32,
            "unknown-value",
            f"'low valu' is not a tier; {TIERS}",
            "did you mean 'low_value'?",
        )
    ]


@pytest.mark.parametrize(
    ("when", "col"),
    [
        ("when: tier NOT IN ('dormat')", 26),
        ("when: tier <> 'dormat'", 21),
        ("when: tier != 'dormat'", 21),
        ("when: NOT ('dormat' = tier)", 18),
    ],
)
def test_not_in_and_unequal_are_checked_as_well(project: Path, when: str, col: int) -> None:
    diagnostics = edited(project, "playbooks.yaml", RETENTION, when)
    assert found(diagnostics) == [
        (
            line_of("playbooks.yaml", RETENTION),
            col,
            "unknown-value",
            f"'dormat' is not a tier; {TIERS}",
            "did you mean 'dormant'?",
        )
    ]
    assert diagnostics[0].length == len("'dormat'")


def test_a_label_or_english_label_is_answered_with_the_name(project: Path) -> None:
    when = "when: tier IN ('低价值客户', 'Low Value') AND value_ratio >= 1"
    hint = "write 'low_value' (低价值客户)"
    assert [(d.code, d.message, d.hint) for d in edited(project, "levels.yaml", PASSIVE, when)] == [
        ("unknown-value", "'低价值客户' is the label of tier 'low_value'", hint),
        ("unknown-value", "'Low Value' is the label of tier 'low_value'", hint),
    ]


def test_a_name_in_other_letter_case_is_a_typo_not_a_label(project: Path) -> None:
    diagnostics = edited(project, "playbooks.yaml", RETENTION, "when: tier <> 'Dormant'")
    assert [d.hint for d in diagnostics] == ["did you mean 'dormant'?"]


def test_event_fields_have_the_domain_of_their_own_event(project: Path) -> None:
    diagnostics = edited(
        project,
        "playbooks.yaml",
        "when: event.outcome = 'complaint'",
        "when: event.outcome = 'complaint.'",
    )
    assert found(diagnostics) == [
        (
            line_of("playbooks.yaml", "when: event.outcome = 'complaint'"),
            29,
            "unknown-value",
            "'complaint.' is not a value of event.outcome; its values are done, no_answer, "
            "complaint, declined, follow_up_needed",
            "did you mean 'complaint'?",
        )
    ]


def test_an_event_field_without_values_takes_any_text(project: Path) -> None:
    step = "      on: complaint\n      after: 2 hours\n"
    assert (
        edited(project, "playbooks.yaml", step, f"{step}      when: event.category = '贷款'\n")
        == []
    )


def test_schema_values_and_the_preferred_channel_are_domains(project: Path) -> None:
    when = "when: consent_marketing AND kind = 'persnal' AND preferred_channel IN ('短信')"
    diagnostics = edited(project, "playbooks.yaml", NEWS, f"{when}\n      do: message")
    line = line_of("playbooks.yaml", NEWS.splitlines()[0])
    assert found(diagnostics) == [
        (
            line,
            42,
            "unknown-value",
            "'persnal' is not a value of kind; its values are personal, corporate, institutional",
            "did you mean 'personal'?",
        ),
        (
            line,
            78,
            "unknown-value",
            "'短信' is the label of 'sms', a value of preferred_channel",
            "write 'sms' (短信)",
        ),
    ]


def test_fields_without_a_domain_and_like_patterns_are_not_checked(project: Path) -> None:
    when = "when: consent_marketing AND name = '低价值客户' AND tier LIKE 'low%'"
    assert edited(project, "playbooks.yaml", NEWS, f"{when}\n      do: message") == []


def test_a_label_in_a_table_cell_is_answered_at_its_column(project: Path) -> None:
    old = ",,,high_value_added,"
    diagnostics = edited(project, "strategies.csv", old, ",,,高附加值客户,")
    assert found(diagnostics) == [
        (
            5,
            47,
            "unknown-value",
            "column 'tier': '高附加值客户' is the label of tier 'high_value_added'",
            "write 'high_value_added' (高附加值客户)",
        )
    ]
    assert diagnostics[0].length == len("高附加值客户")


@pytest.mark.parametrize("cell", ["not low_valu", "<> low_valu", "= low_valu", "'low_valu'"])
def test_every_form_of_a_table_cell_is_checked(project: Path, cell: str) -> None:
    old = ",not dormant,,,,,,,>= 1,"
    diagnostics = edited(project, "strategies.csv", old, f",{cell},,,,,,,>= 1,")
    assert [(d.line, d.col, d.code) for d in diagnostics] == [
        (6, 43 + cell.index("low_valu"), "unknown-value")
    ]


def test_a_level_label_as_playbook_key_gives_the_name(project: Path) -> None:
    diagnostics = edited(project, "playbooks.yaml", "\n  proactive:\n", "\n  能动型:\n")
    assert found(diagnostics) == [
        (
            line_of("playbooks.yaml", "  proactive:"),
            3,
            "unknown-level",
            "'能动型' is the label of relationship level 'proactive'",
            "write 'proactive' (能动型)",
        )
    ]


def test_a_level_label_in_on_enter_gives_the_name(project: Path) -> None:
    diagnostics = edited(project, "playbooks.yaml", "on_enter: partner", "on_enter: 伙伴型")
    assert found(diagnostics) == [
        (
            line_of("playbooks.yaml", "on_enter: partner"),
            17,
            "unknown-tier",
            "'伙伴型' is the label of relationship level 'partner'",
            "write 'partner' (伙伴型)",
        )
    ]


def test_a_channel_label_in_a_policy_gives_the_name(project: Path) -> None:
    diagnostics = edited(
        project, "policies.yaml", "fallback: [app, sms, email]", "fallback: [app, 短信, email]"
    )
    assert [(d.code, d.message, d.hint) for d in diagnostics] == [
        ("unknown-channel", "'短信' is the label of channel 'sms'", "write 'sms' (短信 SMS)")
    ]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("偏好渠道", "'偏好渠道' is the label of channel 'preferred'"),
        ("preferred channel", "'preferred channel' is the label of channel 'preferred'"),
        ("偏好", "no channel '偏好'"),
    ],
)
def test_the_preferred_channels_label_in_a_step_gives_preferred(
    project: Path, written: str, message: str
) -> None:
    old = "channel: preferred\n      template: invite_feedback"
    diagnostics = edited(project, "playbooks.yaml", old, old.replace("preferred", written, 1))
    assert found(diagnostics) == [
        (
            line_of("playbooks.yaml", "template: invite_feedback") - 1,
            16,
            "unknown-channel",
            message,
            "write 'preferred' (偏好渠道)",
        )
    ]


def test_a_broken_tier_file_does_not_flood_the_levels_with_follow_on_errors(project: Path) -> None:
    diagnostics = edited(
        project,
        "tiers.yaml",
        "AND contribution_pct >= 70% AND products_held",
        "AND contribution_pc >= 70% AND products_held",
    )
    assert [d.code for d in diagnostics] == ["unknown-field"]


def test_values_given_as_a_mapping_of_labels_are_names_with_labels() -> None:
    spec = FieldSpec.model_construct(
        type="string", label="客户类型", values={"personal": "个人", "corporate": "企业"}
    )
    domain = field_domain("kind", spec)
    assert domain is not None and domain.names == ("personal", "corporate")
    condition = parse_condition("kind IN ('corporate', '个人', 'persona')", {"kind": "string"})
    problems = condition_problems(condition, {"kind": domain})
    assert [(p.offset, p.message, p.hint) for p in problems] == [
        (22, "'个人' is the label of 'personal', a value of kind", "write 'personal' (个人)"),
        (
            28,
            "'persona' is not a value of kind; its values are personal, corporate",
            "did you mean 'personal'?",
        ),
    ]


def test_the_caret_stands_under_a_label_on_a_line_with_chinese() -> None:
    line = 'growth,成长型,"valuable, 高附加值客户",'
    diagnostic = Diagnostic(
        "strategies.csv", 2, line.index("高") + 1, "unknown-value", "m", length=6
    )
    caret = diagnostic.render(line).splitlines()[2]
    before = len("growth,") + 2 * len("成长型") + len(',"valuable, ')  # 成长型 takes 6 columns
    assert caret == "    | " + " " * before + "^" * 12


@pytest.mark.parametrize("amount", ["50万", "1.2亿"])
def test_a_wrong_value_after_a_bankers_number_is_pointed_at(project: Path, amount: str) -> None:
    when = f"when: balance >= {amount} AND kind = '个人'"
    diagnostics = edited(project, "levels.yaml", PASSIVE, when)
    unknown = [d for d in diagnostics if d.code == "unknown-value"]
    assert [(d.line, d.col, d.length) for d in unknown] == [
        (line_of("levels.yaml", PASSIVE), 5 + when.index("'个人'"), len("'个人'"))
    ]


@pytest.mark.parametrize(
    ("file", "order", "written"),
    [
        # a middle level left out goes in among its neighbours
        (
            "levels.yaml",
            "order: [basic, passive, proactive, partner]",
            "basic, passive, responsible, proactive, partner",
        ),
        # levels are listed from the highest down, tiers start with dormant: either way the
        # hint is the order to write, lowest first
        ("levels.yaml", "order: [passive]", "basic, passive, responsible, proactive, partner"),
        ("tiers.yaml", "order: [valuable]", "dormant, low_value, valuable, high_value_added"),
        (
            "tiers.yaml",
            "order: [low_value, valuable, high_value_added]",
            "dormant, low_value, valuable, high_value_added",
        ),
    ],
)
def test_a_name_left_out_of_order_is_answered_with_the_order_to_write(
    project: Path, file: str, order: str, written: str
) -> None:
    whole = (project / file).read_text(encoding="utf-8")
    shipped = next(line for line in whole.splitlines() if line.startswith("order: ["))
    diagnostics = edited(project, file, shipped, order)
    [left_out] = [d for d in diagnostics if d.message.startswith("'order:' leaves out")]
    assert left_out.hint == f"list each once, from the lowest to the highest: order: [{written}]"
    assert shipped == f"order: [{written}]"


def test_a_ladder_without_order_is_answered_with_the_order_to_write(project: Path) -> None:
    diagnostics = edited(
        project, "tiers.yaml", "order: [dormant, low_value, valuable, high_value_added]", ""
    )
    [missing] = [d for d in diagnostics if d.code == "missing-order"]
    assert missing.hint == (
        "add to tiers.yaml an 'order:' that lists its names from the lowest to the highest:"
        " order: [dormant, low_value, valuable, high_value_added]"
    )
