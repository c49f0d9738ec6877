"""The default rule project says what the source text says (科学的分类管理, 科特勒的五种关系水平)
where its scenarios cannot show it: a schema the bank has changed, the text of templates."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.ruleset.followups import PLACEHOLDER
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.templating import compile_template, render

RULES = Path(__file__).parent.parent / "rules"
TODAY = dt.date(2026, 11, 28)


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return project


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


OVERDRAWN = """\
scenarios:
  - name: 透支 an overdrawn, long-idle account is credit in use, not an empty account
    today: "2026-11-02"
    customer: {customer_id: O1, name: 透支, kind: personal, balance: -500,
               last_txn_date: "2025-06-01", opened_on: "2019-05-01",
               annual_contribution: 0, cost_to_serve: 60}
    expect:
      tier: low_value
"""


def test_an_overdrawn_account_is_not_dormant_where_the_schema_allows_one(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(
        project / "schema.yaml",
        "{type: number, unit: 元, min: 0, label: 存款余额,",
        "{type: number, unit: 元, label: 存款余额,",
    )
    (project / "tests" / "overdrawn.yaml").write_text(OVERDRAWN, encoding="utf-8")
    result = CliRunner().invoke(cli, ["test", str(project), "--only", "透支"])
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output


def test_no_default_template_holds_placeholder_text() -> None:
    codes = [d.code for d in validate_project(RULES).diagnostics]
    assert "template-placeholder" not in codes


def test_every_default_template_renders_with_what_its_steps_give_it() -> None:
    """A step that follows an event has the event's fields; one that follows a move or a date
    has none (its payload is empty), so its template may not read them."""
    ruleset = load_ruleset(RULES)
    customer = {"customer_id": "C0000042", "name": "王芳", "kind": "personal"}
    sale = {"product": "大额存单", "amount": 200000, "category": "服务态度", "outcome": "complaint"}
    for step in ruleset.steps:
        event = sale if step.step.on else {}
        names = [step.step.template, *(v.template for v in step.step.variants)]
        for name in names:
            template = ruleset.templates[name]
            context = {**customer, "customer": customer, "event": event, "today": TODAY}
            for text in (template.subject, template.body):
                rendered = render(compile_template(text or ""), context)
                assert not PLACEHOLDER.search(rendered), (name, rendered)


def test_the_retention_call_is_true_for_every_fall_down_the_tiers() -> None:
    """retention_call follows any fall (high value added to valuable too): its task may name no
    tier the customer left or reached, as the follow-up does not know them."""
    ruleset = load_ruleset(RULES)
    [step] = [s for s in ruleset.steps if s.id == "retention_call"]
    assert step.step.on_fall == "tier"
    body = ruleset.templates[step.step.template].body
    labels = [rule.label for rule in ruleset.tiers.rules]
    assert [label for label in labels if label and label in body] == []
    assert "层级已下降" in body


NEWS, DRAFT = "本月为您精选的新产品与服务已上线", "XX理财产品年化收益待补充"


def test_placeholder_text_is_warned_of_where_it_stands_in_both_languages(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(project / "templates.yaml", NEWS, DRAFT)
    lines = (project / "templates.yaml").read_text(encoding="utf-8").splitlines()
    line, text = next((n, text) for n, text in enumerate(lines, 1) if DRAFT in text)
    found = validate_project(project).diagnostics
    assert [(d.code, d.severity, d.line, d.col, d.length) for d in found] == [
        ("template-placeholder", "warning", line, text.index("XX") + 1, 2),
        ("template-placeholder", "warning", line, text.index("待补充") + 1, 3),
    ]
    assert found[0].message == "'XX' is placeholder text: it would be sent as it stands"
    with language("zh"):
        [first, _] = validate_project(project).diagnostics
    assert first.message == "'XX' 是占位文字，会原样发送出去"
    assert first.hint == "在这里写上客户或客户经理应当读到的内容"
