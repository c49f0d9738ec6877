"""A text set in the marks Chinese writing quotes a name with (《制造业》, 「制造业」) where a
rule file needs it in single quotes or a list: the hint gives the text itself to write, not the
marks with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import validate_project

RULES = Path(__file__).parent.parent / "rules"
CONDITION = "AND monthly_txn_count >= 10 AND contribution_pct >= 70%\n  - name: low_value"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("marks") / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return copy


def problems(project: Path, name: str, old: str, new: str, lang: str) -> list[Diagnostic]:
    original = (project / name).read_text(encoding="utf-8")
    assert original.count(old) == 1, old
    (project / name).write_text(original.replace(old, new), encoding="utf-8")
    try:
        with language(lang):
            return [d for d in validate_project(project).diagnostics if d.severity == "error"]
    finally:
        (project / name).write_text(original, encoding="utf-8")


@pytest.mark.parametrize("marked", ["《制造业》", "「制造业」", "『制造业』"])
@pytest.mark.parametrize(
    ("lang", "hint"),
    [
        (
            "en",
            "fields are named as in schema.yaml, in English letters; a text value is written in"
            " single quotes: '制造业'",
        ),
        ("zh", "字段名要照 schema.yaml 写英文名称；文字取值要用英文单引号括起来：'制造业'"),
    ],
)
def test_a_text_in_title_marks_in_a_condition_is_answered_with_the_text_in_quotes(
    project: Path, marked: str, lang: str, hint: str
) -> None:
    """Before: the hint was to write '《制造业》', which no customer's industry is."""
    new = CONDITION.replace(">= 10 AND", f">= 10 AND industry = {marked} AND")
    [found] = problems(project, "tiers.yaml", CONDITION, new, lang)
    assert (found.code, found.hint) == ("unknown-field", hint)


@pytest.mark.parametrize(
    ("lang", "hint"),
    [
        ("en", "write the list in brackets: [complaint_resolved, feedback]"),
        ("zh", "列表要用英文方括号括起来：[complaint_resolved, feedback]"),
    ],
)
def test_a_list_of_names_in_title_marks_is_answered_with_the_names(
    project: Path, lang: str, hint: str
) -> None:
    old = "cancel_on: [feedback]"
    new = "cancel_on: 《complaint_resolved》 《feedback》"
    [found] = problems(project, "playbooks.yaml", old, new, lang)
    assert (found.code, found.hint) == ("wrong-type", hint)
