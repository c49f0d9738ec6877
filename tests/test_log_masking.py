"""Personal data is masked out of the daemon's log lines in every form it turns up in, and
ordinary ids, dates and amounts are left alone."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.daemon.logs import JsonFormatter, TextFormatter, mask_text
from guanxi.engine.privacy.personal import SURNAMES

# (text in a log line, what must not survive, what the masked line shows)
PERSONAL = [
    ("mobile 13812345678", "12345678", "138****5678"),
    ("mobile +8613812345678", "12345678", "+86138****5678"),
    ("mobile +86 138 1234 5678", "1234 5678", "+86 138****5678"),
    ("mobile +86-138-1234-5678", "1234-5678", "+86-138****5678"),
    ("mobile 008613812345678", "12345678", "0086138****5678"),
    ("mobile 138 1234 5678", "1234 5678", "138****5678"),
    ("mobile 138-1234-5678", "1234-5678", "138****5678"),
    ("手机号：13912345678。", "12345678", "139****5678"),
    ("landline 010-12345678", "1234", "010-****5678"),
    ("landline 0755-1234567", "123", "0755-****4567"),
    ("landline (021)87654321", "8765", "(021)****4321"),
    ("landline 021 87654321", "8765", "021 ****4321"),
    ("landline +86 10 12345678", "1234", "+86 10 ****5678"),
    ("landline 021-8765-4321", "8765", "021-****4321"),
    ("landline 010 8765 4321", "8765", "010 ****4321"),
    ("landline 010-12345678-801", "1234", "010-****5678-801"),
    ("id 110101199003071234", "19900307", "1101**********1234"),
    ("id 11010119900307123X", "19900307", "1101**********123X"),
    ("id 11010119900307123x", "19900307", "1101**********123x"),
    ("old id 110101900307123", "900307", "1101********123"),
    ("身份证330106198512250018号", "19851225", "3301**********0018"),
    ("card 6222021234567890", "02123456", "6222****7890"),
    ("card 6222021234567890123", "021234567890", "6222****0123"),
    ("card 6222 0212 3456 7890", "0212 3456", "6222****7890"),
    ("card 6222-0212-3456-7890", "0212-3456", "6222****7890"),
    ("card 6222 0212 3456 7890 123", "3456 7890", "6222****0123"),
    ("卡号6217001234567890123", "001234567890", "6217****0123"),
    ("mail zhang.san@example.com", "zhang.san", "z***@example.com"),
    ("mail 张三@例子.中国", "张三@", "张***@例子.中国"),
    ("mail user@münchen.de", "user@", "u***@münchen.de"),
    ("mail first.last+tag@mail.example.co.uk", "first.last", "f***@mail.example.co.uk"),
    ("客户张三：投诉已记录", "张三", "客户张*：投诉"),
    ("姓名：欧阳娜娜", "欧阳娜娜", "姓名：欧**娜"),
    ("尊敬的张伟先生", "张伟", "尊敬的张*先生"),
    ("name=王小明 status=sent", "王小明", "name=王*明 status=sent"),
    ("客户名称：张三丰，已开户", "张三丰", "客户名称：张*丰"),
    ("持卡人刘德华 卡片挂失", "刘德华", "持卡人刘*华"),
    ("联系人：诸葛亮", "诸葛亮", "联系人：诸*亮"),
    ('{"name": "Zhang San"}', "Zhang", '{"name": "Z*******n"}'),
    ("webhook https://bank:pw123@h.example/x?token=t-9", "pw123", "bank:***@h.example/x?token=***"),
]

ORDINARY = [
    "customer C0000042 claimed",
    "key after_purchase.invite_feedback:C0001:E1",
    "due 2026-12-04T10:00:00+08:00 window 2026-12-01 to 2026-12-31",
    "amount 1,234,567.89 CNY; balance 12345678.90; share -0.25",
    "balance 15000000000.00 CNY; limit 13812345678.5",
    "rule set 9fa358fb40f0e6e0 run 42 batch 20261204",
    "epoch 1733312345678 ms; 1733312345678901 us",
    "worker host-1:4242 on 127.0.0.1:5432 after 0.25 s, 3 of 500",
    "客户经理 RM5 的客户等级与客户关系已更新",
    "客户于本月开户，客户曾经投诉，客户向银行申请贷款",
    "客户关怀短信已发送；客户高净值名单 3 人；客户管理系统已同步",
    "客户余额 12,000 元；客户尚未签约；客户明天到期",
    "尊敬的李先生：客户王总来电",  # a surname with a title tells no one apart
    "version 2.0.28, port 8080, sent_total 50",
]


@pytest.mark.parametrize(("text", "secret", "shown"), PERSONAL)
def test_log_masking_covers_every_personal_data_format(text: str, secret: str, shown: str) -> None:
    masked = mask_text(text)
    assert secret not in masked and shown in masked, masked


@pytest.mark.parametrize("text", ORDINARY)
def test_log_masking_leaves_ordinary_ids_dates_and_amounts(text: str) -> None:
    assert mask_text(text) == text


GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛超秀霞平刚桂英华玉兰萍红鹏飞"


@settings(max_examples=60, deadline=None)
@given(
    cue=st.sampled_from(["客户", "姓名：", "户名 ", "联系人", "持卡人", "收款人：", "尊敬的"]),
    surname=st.sampled_from(SURNAMES.replace("和", "")),  # 客户和… is 'and'
    given_name=st.text(GIVEN, min_size=1, max_size=2),
    after=st.sampled_from(["", "：投诉已记录", "已签约", "，您好", " status=sent"]),
)
def test_log_masking_never_leaves_a_cued_name_whole(
    cue: str, surname: str, given_name: str, after: str
) -> None:
    name = surname + given_name
    masked = mask_text(f"{cue}{name}{after}")
    assert name not in masked and masked.startswith(cue + surname + "*"), masked


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"msg": message, "levelname": "INFO", "created": 0.0})
    made.__dict__.update(extra)
    return made


def test_log_masking_masks_personal_fields_by_name() -> None:
    entry = record("sent to 客户王五", customer_name="张三丰", phone="138 1234 5678",
                   customer_id="C000123")  # fmt: skip
    line = json.loads(JsonFormatter().format(entry))
    assert line == {"time": "1970-01-01T00:00:00+00:00", "level": "info",
                    "message": "sent to 客户王*", "customer_name": "张*丰", "phone": "138****5678",
                    "customer_id": "C0…23"}  # fmt: skip
    text = TextFormatter().format(record("x", email="张三@例子.中国"))
    assert "张三" not in text and "email=" in text


def test_log_masking_masks_a_name_field_without_a_keyword_at_any_depth() -> None:
    entry = record("delivered", customer={"name": "王小明", "contacts": [{"name": "李娜"}]})
    line = json.loads(JsonFormatter().format(entry))
    assert line["customer"] == {"name": "王*明", "contacts": [{"name": "李*"}]}


def test_log_masking_masks_an_exception_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("guanxi.test.masking")
    logger.addHandler(handler)
    try:
        raise ValueError("bad row for 13812345678 / 6222 0212 3456 7890")
    except ValueError:
        logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "0212 3456" not in logged and "6222****7890" in logged and "138****5678" in logged


def test_a_text_log_line_cannot_be_split_into_a_forged_one() -> None:
    """A line break in a message or a field (a folder's name, a server's error) would start a
    line of the writer's making, read by people and log collectors as the daemon's own."""
    forged = "\n1970-01-01T00:00:00Z info    rules reloaded\r"
    line = TextFormatter().format(record("failed" + forged, error="refused" + forged))
    assert line.splitlines() == [line]
    assert line.endswith(r"error=refused\n1970-01-01T00:00:00Z info    rules reloaded\r")
