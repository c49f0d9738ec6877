"""A text direction control (a right-to-left override) in a value a template writes is dropped:
`load` refuses them now, but a store loaded before may still hold a customer named with one,
and in the message it would turn around the amount or link written after the name. The
template's own text is written as it is."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from guanxi.adapters.registry import load_adapter
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import Template
from guanxi.engine.store import Store
from guanxi.engine.templating import compile_template, render
from tests.daemon_helpers import invitation
from tests.test_dispatch import NOW, run

# What the customer would see: "…，您尊敬的客户 1000 元…" read backwards from the override on.
OVERRIDDEN = "\u202e张三\u202c\u2066\u200f"


@pytest.mark.every_store
def test_a_stored_name_with_an_override_is_written_without_it(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    body = "{{ name }}，您的 1000 元已到账，详见 https://bank.example/a{{ event.product }}"
    subject = "\u200e{{ name }}"  # the template's own mark stays
    paid = Template(kind="message", body=body, subject=subject)
    templates = {**ruleset.templates, "invite_feedback": paid}  # the template its step names
    ruleset = replace(ruleset, templates=MappingProxyType(templates))
    customer = {"customer_id": "C1", "name": OVERRIDDEN, "email": "c1@example.com"}
    store.upsert_customers([{**customer, "consent_email": True}])  # as loaded before the fix
    event = {"product": "\u2067b\u2069"}
    due = NOW - dt.timedelta(minutes=1)
    followup = invitation("C1", "E1", due, channel="email", payload=event)
    insert_followups(store, [followup], "b1", NOW)
    with load_adapter("outbox", path=tmp_path / "outbox.jsonl") as outbox:
        assert run(store, ruleset, outbox, NOW).sent == 1
    [message] = [json.loads(line) for line in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert message["body"] == "张三，您的 1000 元已到账，详见 https://bank.example/ab"
    assert message["subject"] == "\u200e张三"


@pytest.mark.parametrize(
    "source",
    [
        "{{ name }}",
        "{{ name | upper }}",
        "{{ name ~ '' }}",
        "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(name) }}",
        "{% for part in [name] %}{{ part }}{% endfor %}",
    ],
)
def test_every_way_of_writing_a_value_drops_the_controls(source: str) -> None:
    assert render(compile_template(source), {"name": f"1{OVERRIDDEN}2"}) == "1张三2"
