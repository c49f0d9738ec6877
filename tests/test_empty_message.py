"""A template that gives a customer nothing to read (an `{% if %}` false for them, a field
written with `default('')` empty, only invisible characters) sends no empty SMS: that
follow-up is dead with a reason naming the template, the others go. Before, an empty body
was handed to the channel."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from guanxi.adapters.base import RenderError
from guanxi.adapters.registry import load_adapter
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import Template
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation
from tests.test_dispatch import NOW, outbox_keys, run

ROW = {"key": "k", "customer_id": "C1", "step_id": "s", "kind": "message", "channel": "sms",
       "template": "t", "due_at": "2026-12-01T09:00:00+00:00", "payload": "{}"}  # fmt: skip
CUSTOMER = {"customer_id": "C1", "name": "", "vip": False, "phone": "13800000000"}


@pytest.mark.parametrize(
    "body",
    [
        "{% if vip %}尊敬的贵宾{% endif %}",
        "{{ name | default('') }}",
        " \n{{ name | default('') }}\u3000",
        "\u200b{{ name | default('') }}",
    ],
)
def test_a_message_with_nothing_to_read_is_a_render_error(body: str) -> None:
    adapter = load_adapter("console", address_fields={"sms": "phone"})
    with pytest.raises(RenderError, match="template 't' gives this customer an empty message"):
        adapter.render(ROW, CUSTOMER, {"t": Template(kind="message", body=body)})


def test_a_task_may_have_an_empty_body() -> None:
    """A manager's task is the step itself; its text is a note."""
    adapter = load_adapter("console")
    task = {**ROW, "kind": "task", "channel": "rm_task"}
    body = adapter.render(task, CUSTOMER, {"t": Template(kind="task", body="{{ name }}")}).body
    assert body == ""


@pytest.mark.every_store
def test_dispatch_sends_no_empty_message(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    body = "{% if consent_marketing %}您的专属理财经理将致电介绍新产品{% endif %}"
    templates = {**ruleset.templates, "invite_feedback": Template(kind="message", body=body)}
    ruleset = replace(ruleset, templates=MappingProxyType(templates))
    vip = {"C1": True, "C2": False}
    store.upsert_customers([{"customer_id": c, "name": c, "consent_marketing": v,
                             "email": f"{c}@example.com", "consent_email": True}
                            for c, v in vip.items()])  # fmt: skip
    due = NOW - dt.timedelta(minutes=1)
    insert_followups(store, [invitation(c, "E1", due, channel="email") for c in vip], "b1", NOW)
    with load_adapter("outbox", path=tmp_path / "outbox.jsonl") as outbox:
        report = run(store, ruleset, outbox, NOW)
        sent = outbox_keys(outbox)
    found = {r["customer_id"]: r for r in store.execute("SELECT * FROM followups")}
    assert (report.sent, report.dead, sent) == (1, 1, [found["C1"]["key"]])
    assert found["C2"]["status"] == "dead"
    assert "empty message" in found["C2"]["reason"]
