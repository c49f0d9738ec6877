"""Yes and no as Chinese staff write them in rule files (`enabled: 否`, `mandatory: 是`, `开`,
`关`, `对`, `错`, `Ｙｅｓ` typed in full width): every yes/no key and a decision table's
boolean cell read them as a scenario's `expect: gold: 是` does; `personal: 是`, which says no
kind of personal data, is refused at its column with what to write."""

from __future__ import annotations

import shutil
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import load_ruleset, models, validate_project

RULES = Path(__file__).parent.parent / "rules"
WORDS = [
    ("是", True), ("对", True), ("开", True), ("真", True), ("启用", True), ("√", True),
    ("Yes", True), ("Ｙｅｓ", True), ("ｔｒｕｅ", True), ("ON", True),
    ("否", False), ("错", False), ("关", False), ("假", False), ("停用", False), ("×", False),
    ("No", False), ("ｆａｌｓｅ", False), ("off", False),
]  # fmt: skip


def yes_no_keys() -> list[tuple[str, str, Any]]:
    """Every key of every rule-file model that takes true or false: (model, key, its type
    with its validators)."""
    found = []
    for model in vars(models).values():
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key, spec in model.model_fields.items():
            if bool in _types(spec.annotation):
                annotated = Annotated[(spec.annotation, *spec.metadata)] if spec.metadata else None
                found.append((model.__name__, key, annotated or spec.annotation))
    return found


def _types(annotation: Any) -> set[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return {t for arg in typing.get_args(annotation) for t in _types(arg)}
    if typing.get_origin(annotation) is Annotated:
        return _types(typing.get_args(annotation)[0])
    return {annotation}


def test_the_rule_files_have_the_yes_no_keys_this_file_checks() -> None:
    keys = {(model, key) for model, key, _type in yes_no_keys()}
    assert {("StepOverride", "enabled"), ("Step", "mandatory"), ("FieldSpec", "required")} <= keys
    assert len(keys) >= 10


@pytest.mark.parametrize(("model", "key", "kind"), yes_no_keys())
def test_every_yes_no_key_reads_the_words_a_scenarios_gold_reads(
    model: str, key: str, kind: Any
) -> None:
    """Before: `enabled: 否`, `mandatory: 是` … were refused with 'write false'; only a
    scenario's `gold:` took them."""
    reader = TypeAdapter(kind)
    assert [(word, reader.validate_python(word)) for word, _said in WORDS] == WORDS, key


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return copy


def edit(project: Path, name: str, old: str, new: str) -> int:
    """`old` written `new` in the file `name`; the line it is on."""
    text = (project / name).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    (project / name).write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def problems(project: Path, lang: str) -> list[Diagnostic]:
    with language(lang):
        return [d for d in validate_project(project).diagnostics if d.severity == "error"]


def test_a_branch_switches_a_step_off_with_fou(project: Path) -> None:
    (project / "branches").mkdir()
    overlay = "steps:\n  proactive_usage_tips:\n    enabled: 否   # 本分行不发\n"
    (project / "branches" / "长沙分行.yaml").write_text(overlay, encoding="utf-8")
    assert problems(project, "zh") == []
    ruleset = load_ruleset(project)
    [head] = [s for s in ruleset.steps if s.id == "proactive_usage_tips"]
    assert [b for b, _origin in head.branches_apart] == ["长沙分行"]
    assert not [s for s in ruleset.steps if s.id.startswith("proactive_usage_tips@")]


def test_schema_playbook_and_measure_keys_said_in_chinese_load(project: Path) -> None:
    edit(project, "playbooks.yaml", "priority: 95\n      mandatory: true", "priority: 95\n"
         "      mandatory: 关")  # fmt: skip
    edit(project, "schema.yaml", "label_en: customer id, required: true", "label_en: customer id,"
         " required: 是")  # fmt: skip
    assert problems(project, "en") == []
    ruleset = load_ruleset(project)
    assert ruleset.schema.fields["customer_id"].required is True
    [step] = [s for s in ruleset.steps if s.id == "complaint_callback"]
    assert step.step.mandatory is False


def test_a_decision_tables_yes_no_cell_reads_the_same_words(project: Path) -> None:
    """strategies.csv's gold column: `对` as `yes`. Before: "'对' is not yes or no"."""
    edit(project, "strategies.csv", "packages,yes,", "packages,对,")
    assert problems(project, "en") == []
    [rule] = [r for r in load_ruleset(project).strategies.rules if r.name == "gold_package"]
    assert rule.condition is not None and "TRUE" in rule.condition.compiled_text.upper()


@pytest.mark.parametrize(
    ("lang", "message", "hint"),
    [
        (
            "en",
            "'personal: 是' does not say which kind of personal data it holds",
            "write one of name, phone, email, id_number, other, or false for a field that is"
            " not personal",
        ),
        (
            "zh",
            "'personal: 是' 没有说明该字段存放哪一类个人信息",
            "填写 name, phone, email, id_number, other 之一；不是个人信息的字段填 false",
        ),
    ],
)
def test_personal_yes_says_no_kind_and_is_refused_at_its_column(
    project: Path, lang: str, message: str, hint: str
) -> None:
    old = "{type: string,  label: 客户名称, label_en: name, required: true}"
    new = "{type: string,  label: 客户名称, label_en: name, required: true, personal: 是}"
    line = edit(project, "schema.yaml", old, new)
    [found] = problems(project, lang)
    written = (project / "schema.yaml").read_text(encoding="utf-8").splitlines()[line - 1]
    assert (found.line, found.col, found.length) == (line, written.index("是") + 1, 1)
    assert (found.code, found.message, found.hint) == ("invalid-value", message, hint)


def test_personal_no_is_false(project: Path) -> None:
    old = "{type: string,  label: 客户名称, label_en: name, required: true}"
    edit(project, "schema.yaml", old, old.replace("}", ", personal: 否}"))
    assert problems(project, "en") == []
    assert load_ruleset(project).schema.fields["name"].personal is False


@pytest.mark.parametrize(
    ("lang", "hint"),
    [
        ("en", "write true or false (是 or 否 also do)"),
        ("zh", "请填写 true 或 false（也可以写 是 或 否）"),
    ],
)
def test_a_word_that_is_no_yes_or_no_is_answered_with_the_words_to_write(
    project: Path, lang: str, hint: str
) -> None:
    line = edit(project, "playbooks.yaml", "priority: 95\n      mandatory: true", "priority: 95\n"
                "      mandatory: 是的") + 1  # fmt: skip
    [found] = problems(project, lang)
    assert (found.line, found.col, found.code, found.hint) == (line, 18, "wrong-type", hint)


CONDITION = "AND monthly_txn_count >= 10 AND contribution_pct >= 70%\n  - name: low_value"


def in_condition(project: Path, written: str) -> tuple[int, int]:
    """`written` added to the valuable tier's condition; the line and column it starts at."""
    new = CONDITION.replace(">= 10 AND", f">= 10 AND {written} AND")
    line = edit(project, "tiers.yaml", CONDITION, new)
    text = (project / "tiers.yaml").read_text(encoding="utf-8").splitlines()[line - 1]
    return line, text.index(written) + 1


@pytest.mark.parametrize(
    ("word", "value"), [("对", "TRUE"), ("开", "TRUE"), ("√", "TRUE"), ("Ｙｅｓ", "TRUE"),
                        ("错", "FALSE"), ("关", "FALSE"), ("是", "TRUE"), ("否", "FALSE")]
)  # fmt: skip
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_yes_no_word_compared_in_a_condition_is_answered_as_shi_is(
    project: Path, word: str, value: str, lang: str
) -> None:
    """Before: only 是/否/真/假 were; `consent_sms = 对` was 'no customer field', with the
    hint to quote it, and `'对'` then 'cannot compare boolean with string'."""
    line, col = in_condition(project, f"consent_sms = {word}")
    [found] = problems(project, lang)
    at = (found.line, found.col, found.length, found.code)
    assert at == (line, col + len("consent_sms = "), len(word), "chinese-word")
    if lang == "en":
        assert found.message == (
            f"'{word}' is a true/false value here: a condition writes it as {value}"
        )
        assert found.hint == f"write {value} in place of '{word}', e.g. consent_sms = {value}"
    else:
        assert found.message == f"「{word}」在这里是真假值：条件里要写成 {value}"


@pytest.mark.parametrize(
    ("lang", "hint"), [("en", "write TRUE, without quotes"), ("zh", "请去掉引号，写成 TRUE")]
)
def test_a_quoted_yes_compared_with_a_yes_no_field_is_answered_with_true(
    project: Path, lang: str, hint: str
) -> None:
    in_condition(project, "consent_sms = '对'")
    [found] = problems(project, lang)
    assert (found.code, found.hint) == ("type-mismatch", hint)


def test_a_yes_no_word_compared_with_a_text_field_is_a_text_to_quote(project: Path) -> None:
    in_condition(project, "industry = 开")
    [found] = problems(project, "en")
    assert found.code == "unknown-field" and found.hint is not None and "'开'" in found.hint
