"""The recipient check before a message leaves (adapters/recipients.py), through a real HTTP
receiver: a phone field holding a letter, an extension or a second number is refused as a
dead letter at once with what is wrong and where, and nothing is POSTed to the gateway.
Before, `1380013800O` (the letter O) passed as an app id and went to the SMS gateway."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.adapters.base import Message, PermanentError
from guanxi.adapters.recipients import PHONE_LIKE, address_kind
from guanxi.adapters.registry import load_adapter
from guanxi.adapters.webhook import WebhookAdapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation
from tests.test_adapters import HttpRecorder, http_server  # noqa: F401 - the fixture

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
FIELDS = {"sms": "phone", "email": "email", "app": "app_id"}


def message(recipient: str | None, channel: str = "sms") -> Message:
    return Message("s:C0001:E1", "C0001", "s", "message", channel, recipient, None, "您好")


@pytest.mark.parametrize(
    ("phone", "said"),
    [
        ("1380013800O", "character 11 is the letter 'O', not the digit 0"),
        ("l3800138000", "character 1 is the letter 'l', not the digit 1"),
        ("138 0013 8000 ext 2", "extension ('ext 2')"),
        ("13800138000转2", "extension ('转2')"),
        ("13800138000 x12", "extension ('x12')"),
        ("13800138000;13900139000", "more than one number"),
        ("13800138000或13900139000", "more than one number"),
        ("zhang@example.com", "e-mail address"),
        ("\u202e13800138000", "invisible or control character (U+202E)"),
        ("1380013\u200b8000", "character 8 is an invisible or control character (U+200B)"),
        ("13800138000\r\nX-Evil: 1", "invisible or control character (U+000D)"),
        ("138-0013-800A", "character 13 is 'A'"),
    ],
)
def test_a_phone_field_that_is_not_a_phone_number_is_refused_before_the_gateway(
    http_server: HttpRecorder,  # noqa: F811
    phone: str,
    said: str,
) -> None:
    with load_adapter("webhook", url=http_server.url, address_fields=FIELDS) as adapter:
        with pytest.raises(PermanentError) as refused:
            adapter.send(message(phone))
        adapter.send(message("138 0013 8000"))  # a number written with spaces goes
    reason = str(refused.value)
    assert said in reason
    assert "the customer's 'phone' (the sms address) is not a phone number" in reason
    assert [body["recipient"] for _key, body in http_server.requests] == ["138 0013 8000"]


@pytest.mark.parametrize(
    ("channel", "value"),
    [
        ("email", "a" * 250 + "@example.com"),  # longer than RFC 5321 allows
        ("app", "t" * 5000),
        ("sms", "138" + " " * 5000 + "00138000"),  # digits enough, spaced out of all measure
        ("email", "zhangsan"),  # an e-mail field without an address in it
    ],
)
def test_an_address_no_receiver_could_take_is_refused(
    http_server: HttpRecorder,  # noqa: F811
    channel: str,
    value: str,
) -> None:
    with (
        load_adapter("webhook", url=http_server.url, address_fields=FIELDS) as adapter,
        pytest.raises(PermanentError),
    ):
        adapter.send(message(value, channel))
    assert http_server.requests == []


def test_address_kind_is_read_from_the_field_name() -> None:
    kinds = {f: address_kind(f) for f in ("phone", "mobile_phone", "手机号", "Email", "app_id")}
    assert kinds == {
        "phone": "phone",
        "mobile_phone": "phone",
        "手机号": "phone",
        "Email": "email",
        "app_id": None,
    }


ADDRESS_FIELDS = {
    "phone": (
        "phone_number",
        "mobilePhone",
        "tel",
        "contact_phone",
        "手机号码",
        "客户手机号",
        "联系电话",
        "phone2",
        "mobile_1",
        "手机号2",
    ),
    "email": ("email_address", "e_mail", "contactEmail", "电子邮箱", "邮箱地址"),
}
NOT_ADDRESS_FIELDS = (
    "phone_note", "email_opt_in", "telegram_id", "mobile_app_id", "mobile_token", "hotel_id",
    "voicemail_box", "手机银行用户号", "电话备注",
)  # fmt: skip


def test_a_field_named_for_a_phone_or_mail_beside_other_words_is_not_taken_for_one() -> None:
    """Only a name that says phone or e-mail and nothing else (number, contact …) gives the
    kind: a push token or a mobile-banking user id is not checked as a phone number."""
    for kind, names in ADDRESS_FIELDS.items():
        assert {name: address_kind(name) for name in names} == dict.fromkeys(names, kind)
    assert {name: address_kind(name) for name in NOT_ADDRESS_FIELDS} == dict.fromkeys(
        NOT_ADDRESS_FIELDS
    )


@pytest.mark.parametrize("field", ["mobile_app_id", "telegram_id", "手机银行用户号"])
def test_an_app_address_in_a_field_named_after_the_mobile_is_handed_on(
    http_server: HttpRecorder,  # noqa: F811
    field: str,
) -> None:
    with load_adapter("webhook", url=http_server.url, address_fields={"app": field}) as adapter:
        adapter.send(message("u_8f3a9cZ", "app"))
    assert [body["recipient"] for _key, body in http_server.requests] == ["u_8f3a9cZ"]


@given(st.text(min_size=1, max_size=30))
def test_what_a_phone_field_lets_through_is_a_phone_number(value: str) -> None:
    """Whatever a clerk typed, what is handed on is digits and the separators of a number."""
    try:
        passed = WebhookAdapter.checked_recipient(message(value), FIELDS)
    except PermanentError:
        return
    assert passed is not None and PHONE_LIKE.fullmatch(passed)
    assert 5 <= sum(c.isdigit() for c in passed) <= 15


@pytest.mark.every_store
def test_dispatch_dead_letters_a_phone_with_a_letter_at_once(
    store: Store,
    ruleset: RuleSet,
    http_server: HttpRecorder,  # noqa: F811
) -> None:
    customers: list[dict[str, Any]] = [
        {"customer_id": "C0001", "name": "张三", "phone": "1380013800O", "consent_sms": True},
        {"customer_id": "C0002", "name": "李四", "phone": "13900139000", "consent_sms": True},
    ]
    store.upsert_customers(customers)
    insert_followups(store, [invitation(c["customer_id"], "E1", NOW) for c in customers], "b", NOW)
    with load_adapter("webhook", url=http_server.url, address_fields=FIELDS) as adapter:
        dispatch_once(store, ruleset, {"sms": adapter}, NOW)
    rows = store.execute("SELECT customer_id, status, attempts, reason FROM followups")
    by_customer = {r["customer_id"]: r for r in rows}
    assert (by_customer["C0001"]["status"], by_customer["C0001"]["attempts"]) == ("dead", 1)
    assert "letter 'O'" in by_customer["C0001"]["reason"]
    assert by_customer["C0002"]["status"] == "sent"
    assert [body["recipient"] for _key, body in http_server.requests] == ["13900139000"]
