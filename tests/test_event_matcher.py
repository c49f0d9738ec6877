"""Event steps on durable_rules: they fire exactly when the Python back end says TRUE."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.events.durable_json import to_durable
from guanxi.engine.events.matcher import EventMatcher, attribute, fire, register
from guanxi.engine.language import parse_condition
from guanxi.engine.language.to_python import compile_python
from guanxi.engine.ruleset import RuleSet, load_ruleset

RULES = Path(__file__).parent.parent / "rules"

FIELDS = {
    "balance": "number",
    "age": "integer",
    "kind": "string",
    "vip": "boolean",
    "event.amount": "number",
    "opened_on": "date",
}
TODAY = dt.date(2026, 11, 28)
NAMES = itertools.count()

numbers = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([0.5, 2.5, -1.5]))
kinds = st.one_of(st.none(), st.sampled_from(["a", "b", "张", "B"]))
records = st.fixed_dictionaries(
    {
        "balance": numbers,
        "age": numbers.map(lambda v: int(v) if v is not None else None),
        "kind": kinds,
        "vip": st.one_of(st.none(), st.booleans()),
        "event.amount": numbers,
        "opened_on": st.one_of(st.none(), st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31))),
    }
)


def leaves() -> st.SearchStrategy[str]:
    number_field = st.sampled_from(["balance", "age", "event.amount"])
    operator = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
    value = st.sampled_from(["0", "2", "-1", "2.5", "250%", "0.0002万", "-100%"])
    return st.one_of(
        st.builds("{} {} {}".format, number_field, operator, value),
        st.builds("{} {} {}".format, value, operator, number_field),
        st.builds("{} {} {}".format, number_field, operator, number_field),
        st.builds("kind {} '{}'".format, operator, st.sampled_from(["a", "b", "张"])),
        st.builds("{} IS NULL".format, st.sampled_from(["balance", "kind", "vip"])),
        st.just("vip"),
        st.just("kind IN ('a', '张')"),
        st.just("balance + age > 1"),
        st.just("kind LIKE 'a%'"),
        st.just("balance / age >= 1"),
        st.just("DAYS_SINCE(opened_on) < 100"),
        st.just("COALESCE(balance, age, 0) BETWEEN 0 AND 3"),
    )


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds("({}) AND ({})".format, inner, inner),
        st.builds("({}) OR ({})".format, inner, inner),
        st.builds("NOT ({})".format, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=conditions, batch=st.lists(records, min_size=1, max_size=8))
def test_durable_rules_fire_exactly_when_sql_says_true(text: str, batch: list[Any]) -> None:
    condition = parse_condition(text, FIELDS)
    compiled = to_durable(condition.tree, FIELDS, attribute)
    name = f"parity_{next(NAMES)}"
    register(name, {"rule": compiled.expression})
    python_leaves = {k: compile_python(v, FIELDS, TODAY) for k, v in compiled.leaves.items()}
    for record in batch:
        message = {attribute(k): _plain(v) for k, v in record.items() if v is not None}
        message.update({k: v for k, f in python_leaves.items() if (v := f(record)) is not None})
        expected = condition.evaluate(record, TODAY)
        assert (fire(name, message) == {"rule"}) is expected, (text, record)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def test_the_default_playbooks_match_by_event_level_and_condition(ruleset: RuleSet) -> None:
    matcher = EventMatcher(ruleset)
    sale = {"type": "sale", "product": "理财", "amount": 50000}

    def steps(event: dict[str, Any], **profile: Any) -> list[str]:
        return [s.id for s in matcher.match(event, {"customer_id": "C1", **profile})]

    assert steps(sale, level="responsible") == ["responsible_post_sale_call"]
    assert steps(sale, level="proactive") == ["proactive_post_sale_call", "proactive_usage_tips"]
    assert steps(sale, level="basic") == []
    complaint = {"type": "complaint", "category": "收费"}
    assert steps(complaint, level="basic") == ["complaint_callback"]
    assert steps(complaint, level="partner", do_not_contact=True) == ["complaint_callback"]


def test_one_matcher_per_rule_set_hash_is_registered_once(ruleset: RuleSet) -> None:
    first, second = EventMatcher(ruleset), EventMatcher(ruleset)
    assert first.name == second.name == f"guanxi_{ruleset.hash}"
    event = {"type": "sale"}
    assert [s.id for s in second.match(event, {"level": "partner"})] == ["partner_post_sale_call"]


@pytest.fixture(scope="module")
def conditional(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The default rules with `when:` conditions on two event steps."""
    project = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(RULES, project)
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text(encoding="utf-8")
    text = text.replace(
        "      on: sale\n      after: 3 business days",
        "      on: sale\n      when: event.amount >= 1000 AND (balance > 50 OR vip_flag)\n"
        "      after: 3 business days",
    ).replace(
        "      on: complaint\n",
        "      on: complaint\n      when: NOT event.severity IS NULL AND event.severity >= 2\n",
    )
    playbooks.write_text(text, encoding="utf-8")
    schema = project / "schema.yaml"
    schema.write_text(
        schema.read_text(encoding="utf-8").replace(
            "  email:", "  vip_flag:            {type: boolean, label: 贵宾}\n  email:", 1
        ),
        encoding="utf-8",
    )
    ruleset = load_ruleset(project)
    conditional = {s.id for s in ruleset.steps if s.step.on and s.when is not None}
    assert conditional == {
        "responsible_post_sale_call",
        "complaint_callback",
        "complaint_recovery_call",  # the default rules' own: on a task outcome 'complaint'
        "maturity_reinvest_call",  # … and by tier on a maturing product or money leaving
        "maturity_notice",
        "balance_drop_call",
    }
    return ruleset


events = st.fixed_dictionaries({
    "type": st.sampled_from(["sale", "complaint", "login", "task_outcome"]),
    "amount": st.one_of(st.none(), st.sampled_from([0, 999, 1000, 5e4])),
    "severity": st.one_of(st.none(), st.integers(0, 3)),
    "outcome": st.one_of(st.none(), st.sampled_from(["complaint", "done", "declined"])),
})  # fmt: skip
profiles = st.fixed_dictionaries({
    "level": st.sampled_from(["responsible", "basic", "partner"]),
    "balance": st.one_of(st.none(), st.sampled_from([0, 50, 51.5, 1e6])),
    "vip_flag": st.one_of(st.none(), st.booleans()),
})  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(st.tuples(events, profiles), min_size=1, max_size=20))
def test_remembered_matches_agree_with_the_python_back_end(
    conditional: RuleSet, batch: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    matcher = EventMatcher(conditional)
    for event, profile in batch:
        fired = {s.id for s in matcher.match(event, profile, TODAY)}
        expected = {
            s.id
            for s in conditional.steps
            if s.step.on == event["type"]
            and s.level in ("all", profile["level"])
            and (s.when is None or s.when.evaluate(matcher.record(event, profile), TODAY))
        }
        assert fired == expected, (event, profile)


def test_an_expression_durable_rules_refuses_falls_back_to_one_python_leaf() -> None:
    """durable_rules refuses a node of more than 31 serialized tests and operators (error
    113) although it expands to only 6 terms; such a condition becomes one Python leaf."""
    text = (
        "((vip) AND ((kind IN ('a', '张')) AND (kind IN ('a', '张'))))"
        " OR ((balance = 0) AND ((kind IN ('a', '张')) AND (kind = 'a')))"
    )
    condition = parse_condition(text, FIELDS)
    compiled = to_durable(condition.tree, FIELDS, attribute)
    assert len(compiled.leaves) == 1
    name = f"refused_{next(NAMES)}"
    register(name, {"rule": compiled.expression})
    python_leaves = {k: compile_python(v, FIELDS, TODAY) for k, v in compiled.leaves.items()}
    for record in ({"vip": True, "kind": "张"}, {"balance": 0, "kind": "a"}, {"kind": "b"}):
        message = {attribute(k): v for k, v in record.items()}
        message.update({k: f(record) for k, f in python_leaves.items() if f(record) is not None})
        full = {**dict.fromkeys(FIELDS), **record}
        assert (fire(name, message) == {"rule"}) is condition.evaluate(full, TODAY)
