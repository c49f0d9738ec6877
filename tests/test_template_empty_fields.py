"""A template that writes a customer field this customer has no value in (NULL in the store)
fails that one message with a reason naming the field, in the user's language, and the other
customers' messages go; it never writes "None" into a message to a customer. `default(...)`,
`{% if %}` and `or` read the empty field as missing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import pytest

from guanxi.adapters.base import RenderError
from guanxi.adapters.registry import load_adapter
from guanxi.engine.i18n import language
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import Template
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation
from tests.test_dispatch import NOW, outbox_keys, run

ROW = {"key": "k", "customer_id": "C1", "step_id": "s", "kind": "message", "channel": "sms",
       "template": "t", "due_at": "2026-12-01T09:00:00+00:00", "payload": "{}"}  # fmt: skip
NO_INDUSTRY = {"customer_id": "C1", "name": "张三", "industry": None, "phone": "13800000000"}


@dataclass(frozen=True)
class Text:
    body: str
    subject: str | None = None


def written(body: str) -> str:
    return load_adapter("console").render(ROW, NO_INDUSTRY, {"t": Text(body)}).body


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("{{ name }}：{{ industry | default('行业未填') }}", "张三：行业未填"),
        ("{{ customer.industry | default('-') }}", "-"),
        ("{% if industry %}{{ industry }}{% else %}无{% endif %}", "无"),
        ("{{ industry or '无' }}", "无"),
    ],
)
def test_an_empty_field_read_as_missing_is_replaced(body: str, shown: str) -> None:
    assert written(body) == shown


@pytest.mark.parametrize(
    ("lang", "reason"),
    [
        ("en", "template 't': the customer has no value in the field 'industry'; fill it in, or"
               " write {{ industry | default('') }} in the template"),
        ("zh", "模板 't'：该客户的字段 'industry' 没有值；请补上该值，或在模板中写成"
               " {{ industry | default('') }}"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("body", ["您好，{{ industry }}行业的客户", "{{ customer.industry }}"])
def test_an_empty_field_written_as_it_is_fails_naming_it(lang: str, reason: str, body: str) -> None:
    with language(lang), pytest.raises(RenderError) as raised:
        written(body)
    assert str(raised.value) == reason


@pytest.mark.every_store
def test_the_customer_without_the_value_is_dead_and_the_others_are_sent(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    templates = {
        **ruleset.templates,
        "invite_feedback": Template(kind="message", body="{{ industry }}"),  # its step's
    }
    ruleset = replace(ruleset, templates=MappingProxyType(templates))
    industries = {"C1": "制造业", "C2": None, "C3": "零售"}
    customers = [{"customer_id": c, "name": c, "industry": i, "email": f"{c}@example.com",
                  "consent_email": True} for c, i in industries.items()]  # fmt: skip
    store.upsert_customers(customers)
    due = NOW - dt.timedelta(minutes=1)
    followups = [invitation(c["customer_id"], "E1", due, channel="email") for c in customers]
    insert_followups(store, followups, "b1", NOW)
    with load_adapter("outbox", path=tmp_path / "outbox.jsonl") as outbox:
        report = run(store, ruleset, outbox, NOW)
        sent = outbox_keys(outbox)
    assert (report.sent, report.dead) == (2, 1)
    found = {r["customer_id"]: r for r in store.execute("SELECT * FROM followups")}
    assert sorted(sent) == sorted(found[c]["key"] for c in ("C1", "C3"))
    assert found["C2"]["status"] == "dead"
    assert "no value in the field 'industry'" in found["C2"]["reason"]
