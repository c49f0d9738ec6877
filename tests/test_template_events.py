"""A template may read an event field as it stands only where the step's event always has
it: `template-event-field` warns, at the field in the template, when the schema lets the
event lack it, when the event has no such field, or when the step follows no event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.ruleset.template_events import unguarded_event_fields
from guanxi.engine.templating import EventFields, compile_template, render
from tests.test_default_rules_source import copy_project, edit

CHECK = "了解{{ event.product | default('所购产品') }}是否"
CALLBACK = "（{{ event.category | default('类别未注明') }}）"


def test_the_default_project_validates_without_a_warning() -> None:
    assert validate_project(Path(__file__).parent.parent / "rules").diagnostics == []


def warnings_of(project: Path) -> list[tuple[str, int, int, int]]:
    found = validate_project(project).diagnostics
    return [(d.code, d.line, d.col, d.length) for d in found if d.severity == "warning"]


def where(project: Path, text: str, part: str) -> tuple[int, int]:
    """The line and column (from 1) of `part` on the one line of templates.yaml with `text`."""
    lines = (project / "templates.yaml").read_text("utf-8").splitlines()
    [(number, line)] = [(n, line) for n, line in enumerate(lines, 1) if text in line]
    return number, line.index(part) + 1


def test_a_field_the_schema_does_not_require(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(project / "templates.yaml", CHECK, "了解{{ event.product }}是否")
    [check] = validate_project(project).diagnostics
    line, col = where(project, "了解{{ event.product }}是否符合预期", "event.product")
    assert (check.code, check.severity) == ("template-event-field", "warning")
    assert (check.line, check.col, check.length) == (line, col, len("event.product"))
    assert check.message == (
        "a 'sale' event may lack event.product (schema.yaml does not require it): a follow-up"
        " of step 'responsible_post_sale_call' and 2 more would then fail to send (dead letter)"
    )
    assert check.hint == (
        "write {{ event.product | default('') }} for a default, or mark product"
        " 'required: true' under sale in schema.yaml if every sale event has it"
    )
    with language("zh"):
        chinese = next(d for d in validate_project(project).diagnostics if d.line == line)
    assert chinese.message == (
        "'sale' 事件可能没有 event.product（schema.yaml 未要求必填）：步骤"
        " 'responsible_post_sale_call' 及另外 2 个步骤的跟进届时无法发送（记为发送失败 dead）"
    )
    assert chinese.hint == (
        "写成 {{ event.product | default('') }} 给出默认值；如果每个 sale 事件都有 product，"
        "就在 schema.yaml 的 sale 下把它标为 'required: true'"
    )


def test_a_default_or_a_test_makes_the_read_safe(tmp_path: Path) -> None:
    assert unguarded_event_fields("{{ event.product }}{{ event.amount | d(0) }}") == ["product"]
    assert unguarded_event_fields("{{ event.category | default('') }}") == []
    tested = "{% if event.category is defined %}（{{ event.category }}）{% endif %}"
    assert unguarded_event_fields(tested) == []
    assert unguarded_event_fields("{{ event.category | upper }}") == ["category"]
    assert unguarded_event_fields("{% if event.category %}x{% endif %}") == ["category"]
    project = copy_project(tmp_path)
    edit(project / "templates.yaml", CALLBACK, "（{{ event.category }}）")
    line, col = where(project, "的投诉（{{ event.category }}）", "event.category")
    assert warnings_of(project) == [("template-event-field", line, col, len("event.category"))]


def test_a_field_the_event_does_not_have(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(project / "templates.yaml", CHECK, "了解{{ event.category }}是否")
    [warning] = validate_project(project).diagnostics
    assert (warning.code, warning.severity) == ("template-event-field", "warning")
    assert warning.message == (
        "a 'sale' event has no field 'category' in schema.yaml: the follow-ups of step"
        " 'responsible_post_sale_call' and 2 more would fail to send and go to the dead letters"
    )


def test_a_step_that_follows_no_event(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(
        project / "templates.yaml",
        "本月为您精选的新产品",
        "本月为您精选的{{ event.product }}等新产品",
    )
    [warning] = validate_project(project).diagnostics
    line, col = where(project, "本月为您精选的{{ event.product }}", "event.product")
    assert (warning.code, warning.line, warning.col) == ("template-event-field", line, col)
    assert warning.message == (
        "step 'proactive_product_news' follows no event (every:), so event.product is never"
        " there: every follow-up would fail to send and go to the dead letters"
    )
    assert warning.hint == "read event fields only in the templates of steps with on: EVENT"


def test_a_maturity_without_its_amount_is_refused_not_dead_lettered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schema says what the domain means: the core system's maturity notice names the
    product and the amount that falls due. One without them is refused with its reason when
    recorded (a load quarantines it), instead of planning a call that could never be written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "customers.csv").write_text("customer_id,name\nC1,王芳\n", "utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["load", "customers", "customers.csv"]).exit_code == 0
    maturity = ["events", "post", "product_maturity", "--customer", "C1", "--field", "product=定期"]
    refused = runner.invoke(cli, maturity)
    assert refused.exit_code == 1
    assert "the event was not recorded: amount: required, but missing" in refused.output
    posted = runner.invoke(cli, [*maturity, "--field", "amount=50000", "--json"])
    assert posted.exit_code == 0, posted.output
    assert json.loads(posted.stdout)


def rendered(name: str, event: dict[str, object]) -> str:
    template = load_ruleset(Path(__file__).parent.parent / "rules").templates[name]
    context = {"name": "王芳", "customer_id": "C1", "event": EventFields(event)}
    return render(compile_template(template.body or ""), context)


def test_a_sale_without_its_product_still_gets_its_call() -> None:
    assert rendered("post_sale_check", {"amount": 100}) == (
        "请致电王芳（C1），了解所购产品是否符合预期、有无缺陷与不足，并征求改进建议。"
    )
    assert rendered("post_sale_check", {"product": "大额存单"}) == (
        "请致电王芳（C1），了解大额存单是否符合预期、有无缺陷与不足，并征求改进建议。"
    )
    assert "感谢您购买我行产品。" in rendered("invite_feedback", {})
    assert "感谢您选择我行产品。" in rendered("usage_tips", {})


def test_a_complaint_without_a_category_is_still_called_back() -> None:
    text = rendered("complaint_callback", {"severity": 2})
    assert text == "王芳的投诉（类别未注明）提出两小时后仍未解决，请尽快回电并跟进处理。"
