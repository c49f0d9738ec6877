"""The default rule project says what the source text says (科学的分类管理, 科特勒的五种关系水平)
where its scenarios cannot show it: a schema the bank has changed, the text of templates."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.ruleset.followups import PLACEHOLDER
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.ruleset.models import Scenario
from guanxi.engine.scenarios.replay import play
from guanxi.engine.templating import compile_template, render
from guanxi.engine.timing import Duration

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


def _played(
    customer: dict[str, object], today: str, recurring: str, kind: str | None = None
) -> list[str]:
    """The steps of the follow-ups (of `kind`: task or message) that will happen for
    `customer`, planned as the daemon plans the `every:` steps for `recurring` from `today`,
    among the reference customers."""
    ruleset = load_ruleset(RULES)
    given = {"today": today, "customer": customer, "recurring": recurring, "expect": {}}
    scenario = Scenario.model_validate({"name": "source", **given})
    outcome = play(ruleset, scenario, RULES / "tests" / "population.csv")
    return sorted(p.step for p in outcome.followups if p.happens and kind in (None, p.kind))


CONSENTS = {"preferred_channel": "sms", "consent_sms": True, "consent_marketing": True}
DORMANT = {"customer_id": "S1", "name": "王睡", "kind": "personal", "balance": 0,
           "opened_on": "2023-04-01", "annual_contribution": 0, "cost_to_serve": 30}  # fmt: skip
UNPROFITABLE = {"customer_id": "S2", "name": "黄沙", "kind": "personal", "balance": 800,
                "monthly_txn_count": 2, "last_txn_date": "2026-11-10", "products_held": 1,
                "annual_contribution": 20, "cost_to_serve": 200}  # fmt: skip


@pytest.mark.parametrize("customer", [DORMANT, UNPROFITABLE], ids=["dormant", "low_value"])
def test_a_customer_the_bank_abandons_is_sent_nothing_all_year(customer: dict[str, object]) -> None:
    """ "对于除上述两类客户以外的客户 … 银行就应采取抛弃策略": neither growth nor general, no
    follow-up at all, though they consent to marketing."""
    assert _played({**customer, **CONSENTS}, "2026-11-20", "366 days") == []


PROACTIVE = {"customer_id": "S3", "name": "马良", "kind": "personal", "balance": 500000,
             "wealth_balance": 300000, "monthly_txn_count": 20, "last_txn_date": "2026-11-18",
             "products_held": 2, "annual_contribution": 30000, "cost_to_serve": 3000,
             "rm_id": "RM003"}  # fmt: skip


def test_a_proactive_customer_is_called_again_and_again_without_a_sale() -> None:
    """能动型: "企业销售人员不断给顾客打电话" — calls by the manager, not messages only."""
    steps = _played({**PROACTIVE, **CONSENTS}, "2026-11-20", "366 days")
    assert steps.count("proactive_check_in_call") == 4
    assert "proactive_product_news" in steps


def test_a_responsible_customer_is_called_only_after_a_sale() -> None:
    """负责型 calls "在产品销售后不久": no call comes without one."""
    responsible = {**PROACTIVE, "annual_contribution": 6000, "cost_to_serve": 2000,
                   "expected_years": 10}  # fmt: skip
    assert _played({**responsible, **CONSENTS}, "2026-11-20", "366 days", "task") == []


GROWTH_FIRM = {"customer_id": "S4", "name": "长沙岳麓软件有限公司", "kind": "corporate",
               "industry": "信息技术", "annual_income": 80000000, "credit_rating": "A",
               "balance": 150000, "monthly_txn_count": 25, "last_txn_date": "2026-11-18",
               "products_held": 2, "annual_contribution": 3000, "cost_to_serve": 2500,
               "opened_on": "2025-01-10", "rm_id": "RM004"}  # fmt: skip


def test_a_growth_firm_gets_its_manager_not_a_personal_finance_story() -> None:
    """The wealth-service messages speak to a person (王女士's children's education): a firm
    growing into gold is served by its manager."""
    steps = _played({**GROWTH_FIRM, **CONSENTS}, "2026-11-20", "366 days")
    assert "growth_wealth_service" not in steps
    assert steps.count("growth_business_service") == 4


def test_the_wealth_messages_offer_a_service_and_promise_no_result() -> None:
    """成长型: "提供适合成长型客户需要的投资理财服务，帮助客户成长" — a service offered, not a
    result: no story of what an investment achieved (五年为孩子备好了教育金), and the notice
    wealth-management promotion carries in China."""
    templates = load_ruleset(RULES).templates
    for name in ("growth_wealth_service", "growth_wealth_story"):
        body = templates[name].body
        assert "理财非存款，产品有风险，投资须谨慎" in body, name
        assert not [w for w in ("备好了", "收益", "保本", "稳赚") if w in body], name


def test_the_post_sale_call_asks_for_defects_as_the_source_does() -> None:
    """负责型: "检查产品是否符合顾客的期望，销售人员同时向顾客寻求有关产品改进的各种建议，
    以及任何特殊的缺陷与不足"."""
    body = load_ruleset(RULES).templates["post_sale_check"].body
    assert all(words in body for words in ("符合预期", "缺陷与不足", "改进建议"))


def test_the_complaint_call_back_asks_for_no_call_within_the_time_already_gone() -> None:
    """The task comes two hours after the complaint (unless it is resolved by then): it cannot
    ask for a call back within those two hours."""
    ruleset = load_ruleset(RULES)
    [step] = [s for s in ruleset.steps if s.id == "complaint_callback"]
    assert step.after == Duration(2, "hours")
    assert "两小时内" not in ruleset.templates[step.step.template].body


def test_the_maturity_notice_does_not_say_where_the_money_goes() -> None:
    """Whether a deposit renews itself (自动转存) or is paid into the current account is the
    product's term, which the rules do not know: the notice may not promise either."""
    body = load_ruleset(RULES).templates["maturity_notice"].body
    assert "活期账户" not in body and "自动转存" not in body


def _classified(customer: dict[str, object]) -> tuple[str | None, str | None, bool | None]:
    """Tier, level and gold of `customer`, classified among the reference customers."""
    ruleset = load_ruleset(RULES)
    given = {"today": "2026-11-20", "customer": customer, "expect": {}}
    scenario = Scenario.model_validate({"name": "source", **given})
    outcome = play(ruleset, scenario, RULES / "tests" / "population.csv")
    return outcome.tier, outcome.level, outcome.gold


BUSY_PERSON = {"customer_id": "S5", "name": "刘洋", "kind": "personal", "balance": 300000,
               "monthly_txn_count": 15, "last_txn_date": "2026-11-18", "products_held": 2,
               "annual_contribution": 6000, "cost_to_serve": 1500, "expected_years": 5}  # fmt: skip


def test_a_persons_contribution_is_ranked_among_persons_as_gold_is() -> None:
    """ "对于公司客户和机构客户来说 … 按客户贡献度": each kind is its own market. Ahead of all
    but one reference person, behind ten of the firms: a large contribution for a person."""
    tier, _level, gold = _classified(BUSY_PERSON)
    assert (tier, gold) == ("valuable", False)


GOLD_PERSON = {**BUSY_PERSON, "customer_id": "S6", "balance": 2000000,
               "annual_contribution": 120000}  # fmt: skip


def test_a_gold_customer_not_worth_ten_times_the_cost_is_not_a_partner() -> None:
    """ "选择哪种类型，依赖于企业对顾客终生价值，以及为吸引和维系这些顾客所要求的成本评估对比":
    gold, but lifetime value only four times the cost of winning and keeping the customer."""
    costly = {**GOLD_PERSON, "cost_to_serve": 30000, "expected_years": 2}
    assert _classified(costly) == ("valuable", "responsible", True)
    assert _classified(GOLD_PERSON) == ("valuable", "partner", True)


def test_a_gold_customer_with_small_dealings_is_not_a_partner() -> None:
    """伙伴型 is for "顾客很少而边际利润很高"; a low-value customer (小额交易，现金流量不大) is
    gold by contribution alone and is not worked with continuously."""
    small = {**GOLD_PERSON, "balance": 5000, "monthly_txn_count": 3}
    assert _classified(small) == ("low_value", "responsible", True)


RESPONSIBLE = {"customer_id": "S7", "name": "李华", "kind": "personal", "balance": 600000,
               "monthly_txn_count": 15, "last_txn_date": "2026-09-20", "products_held": 2,
               "annual_contribution": 6000, "cost_to_serve": 2000, "expected_years": 10,
               "rm_id": "RM002"}  # fmt: skip


def _post_sale_call_after_feedback(feedback: dict[str, object]) -> list[str]:
    """The statuses of the post-sale call of a sale of 理财产品 followed by `feedback`."""
    events = [
        {"type": "sale", "at": "2026-11-02T15:00", "fields": {"product": "理财产品"}},
        {"type": "feedback", "at": "2026-11-03T09:00", "fields": {"score": 4, **feedback}},
    ]
    given = {"today": "2026-11-02", "customer": RESPONSIBLE, "events": events, "expect": {}}
    scenario = Scenario.model_validate({"name": "source", **given})
    outcome = play(load_ruleset(RULES), scenario, RULES / "tests" / "population.csv")
    return [p.status for p in outcome.followups if p.step == "responsible_post_sale_call"]


def test_feedback_about_the_product_sold_makes_the_post_sale_call_moot() -> None:
    """负责型: the call asks "产品是否符合顾客的期望"; feedback on that product answered it."""
    assert _post_sale_call_after_feedback({"product": "理财产品"}) == ["cancelled"]


@pytest.mark.parametrize("feedback", [{"product": "信用卡"}, {}], ids=["other", "none"])
def test_feedback_about_anything_else_leaves_the_post_sale_call(
    feedback: dict[str, object],
) -> None:
    """Feedback about the credit card, or about nothing named, says nothing of the 理财产品."""
    assert _post_sale_call_after_feedback(feedback) == ["pending"]


def test_a_cancel_same_field_the_cancelling_event_lacks_is_shown_where_written(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path)
    edit(project / "playbooks.yaml", "cancel_same: [product]", "cancel_same: [score]")
    lines = (project / "playbooks.yaml").read_text(encoding="utf-8").splitlines()
    line, text = next((n, text) for n, text in enumerate(lines, 1) if "[score]" in text)
    [found] = validate_project(project).diagnostics
    assert (found.code, found.line, found.col) == ("unknown-field", line, text.index("score") + 1)
    assert "sale has no 'score'" in found.message
    with language("zh"):
        [chinese] = validate_project(project).diagnostics
    assert "sale 没有字段 'score'" in chinese.message
