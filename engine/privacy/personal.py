"""Personal data masked out of log lines (个人信息保护法: logs are read by more people than the
store, and kept where the store's access rules do not reach).

A log line never holds whole: a customer id or idempotency key (passed as a field), a name
(a `name` field at any depth of a record, `name=…`, or a Chinese name after 客户, 姓名, 户名,
联系人, 持卡人, 收款人, 尊敬的), a mobile number (13812345678, 138 1234 5678, 138-1234-5678,
+86 …), a landline (010-12345678, 0755-1234567, (021)87654321, 021-8765-4321, with its
extension: 010-12345678-801), an ID-card number (18 digits or 17 and X, and the old 15), a
bank-card number (16 to 19 digits, grouped by fours or not), an e-mail address (Chinese and
other IDN names too), or a credential in a URL. Each is cut to what tells two apart in one
incident (138****5678, 张*伟, 6222****7890, z***@example.com). Ordinary ids (C0000042), dates,
times, amounts (13812345678.00 too) and the words that follow 客户 without being a name
(客户关系, 客户于本月) are left as they are.

The views of customers (`guanxi explain`, `followups`, `tasks`) mask the same way, by the kind
of personal data a schema field holds (`mask_as`).
"""

from __future__ import annotations

import re
from typing import Any

from guanxi.engine.privacy.secrets import mask_secrets

# The commonest single surnames (together more than nine in ten people) and compound ones.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳"
    "甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解"
    "牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边"
    "卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐"
# Words that follow 客户 and the like and begin with a surname's character but are not names
# (客户关系, 客户于本月开户, 客户高净值): the function words among surnames where they begin
# such a word (于本月, 曾经, 尚未, 向银行) and the commonest business words.
NOT_NAMES = "|".join(
    (
        "关系|关怀|关注|关联|信息|明细|全部|全称|全体|时间|时段|成功|成长|成交|成为|数量|编号",
        "名单|名称|等级|分层|经理|画像|价值|管理|管户|安全|申请|申购|余额|金额|金融|高净值",
        "高价值|高端|高风险|明天|明年|文件|项目|房产|房贷|单位|方面|白名单|黄金|连续|常用",
        "万元|季度|解约|解除|陆续|易流失|尚未|尚无|曾经|曾在|曾于|于本|于今|于昨|于明|于当",
        "于次|于上|于下|于近|和|向银行|向我行|向本行|应于|应在|应当|及时|及其|邮箱|卡号",
    )
)
# A title after a surname (李先生, 王女士): the surname alone tells no one apart; it is kept.
TITLES = "先生|女士|小姐|老师|总|经理|行长"
HANZI = "[\u4e00-\u9fff]"

# 6 digits of region, the birth date (YYYYMMDD), 3 of sequence and a check digit or X
ID_CARD = re.compile(
    r"(?<![\dA-Za-z])(\d{4})\d{2}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"(\d{3}[\dXx])(?![\dA-Za-z])"
)
# before 1999: 6 digits of region, the birth date (YYMMDD), 3 of sequence
OLD_ID_CARD = re.compile(
    r"(?<![\dA-Za-z])(\d{4})\d{2}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(\d{3})(?![\dA-Za-z])"
)
# 16 to 19 digits, whole or in fours (the last group of a 19-digit card has three)
BANK_CARD = re.compile(
    r"(?<![\dA-Za-z-])[3-69]\d{3}(?:\d{12,15}|([ -])\d{4}(?:\1\d{4}){2}(?:\1?\d{1,3})?)"
    r"(?![\dA-Za-z-])"
)
# not before a decimal point: 13812345678.00 is an amount
MOBILE = re.compile(
    r"(?<![\dA-Za-z])((?:\+|00)?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?![\dA-Za-z])(?!\.\d)"
)
# an area code (0 first, or after +86 without it), then 7 or 8 digits (8765-4321 too), and
# an extension (-801), kept
LANDLINE = re.compile(
    r"(?<![\dA-Za-z-])((?:\+|00)86[- ]?\d{2,3}[- ]|\(0\d{2,3}\)\s?|0\d{2,3}[- ])"
    r"\d{3,4}[- ]?(\d{4})(-\d{1,6})?(?![\dA-Za-z-])"
)
EMAIL = re.compile(r"(?<![\w.%+-])(\w)[\w.%+-]*(@[\w-]+(?:\.[\w-]+)*\.\w{2,})")
KEYED_NAME = re.compile(
    r"(?P<key>(?<![\w])(?:name|customer_name|full_name)|客户名称|姓名|户名)"
    r"(?P<sep>[\"']?\s*[=:：]\s*[\"']?)(?P<value>(?<=[\"'])[^\"'\n]+|[^\s\"',;，；。)}\]]+)"
)
CUED_NAME = re.compile(
    rf"(?P<cue>客户|姓名|户名|联系人|持卡人|收款人|尊敬的)(?P<sep>[:：\s]*)(?!{NOT_NAMES})"
    rf"(?P<value>(?:{COMPOUND_SURNAMES}|[{SURNAMES}])(?:(?!{TITLES}){HANZI}){{1,2}})"
)

# The fields that hold personal data by their name, and its kind: a log record's fields, and
# the customer fields whose schema does not say (`personal:`, see guanxi.engine.privacy.views).
FIELD_KINDS = {
    **dict.fromkeys(
        ("name", "customer_name", "full_name", "姓名", "客户姓名", "客户名称", "户名", "联系人"),
        "name",
    ),
    **dict.fromkeys(("phone", "mobile", "tel", "telephone", "手机号", "电话"), "phone"),
    **dict.fromkeys(("email", "e_mail", "电子邮箱", "邮箱"), "email"),
    **dict.fromkeys(("id_card", "id_number", "id_no", "身份证号"), "id_number"),
    **dict.fromkeys(
        ("card_no", "card_number", "bank_card", "account_no", "address", "地址"), "other"
    ),
}


def mask_id(value: str) -> str:
    """C000123456 → C0…56: enough to tell two customers apart in one incident, no more."""
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[:2]}…{value[-2:]}"


def mask_key(key: str) -> str:
    """step:customer:occurrence with the customer masked."""
    parts = key.split(":", 2)
    if len(parts) < 3:
        return mask_id(key)
    return f"{parts[0]}:{mask_id(parts[1])}:{parts[2]}"


def mask_name(name: str) -> str:
    """张三 → 张*, 张三伟 → 张*伟, 欧阳娜娜 → 欧**娜: the first character, and the last of a
    name of three or more (the form Chinese banks print on receipts)."""
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1) if len(name) == 2 else "*" * len(name)
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_as(kind: str, value: str) -> str:
    """A value of a field that holds personal data of `kind` (name, phone, email, id_number,
    other), masked as in log lines; a value the patterns do not recognise (a phone without
    its area code, an address) as an id is: 北京…号."""
    if kind == "name":
        return mask_name(value)
    masked = mask_text(value) if kind in ("phone", "email", "id_number") else value
    return masked if masked != value else mask_id(value)


def mask_field(name: str, value: Any) -> Any:
    """A log record's field: masked by its name when it holds personal data, and its text
    scanned as any text is."""
    if name == "customer_id":
        return mask_id(str(value))
    if name == "key":
        return mask_key(str(value))
    if isinstance(value, dict):  # a record within the record: {"customer": {"name": …}}
        return {k: mask_field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_field(name, v) for v in value]
    if name in FIELD_KINDS:
        return mask_as(FIELD_KINDS[name], str(value))
    return mask_text(value) if isinstance(value, str) else value


def mask_text(text: str) -> str:
    """Free text with every piece of personal data in it masked (see the module)."""
    text = mask_personal_numbers(text)
    text = KEYED_NAME.sub(lambda m: m["key"] + m["sep"] + mask_name(m["value"]), text)
    text = CUED_NAME.sub(lambda m: m["cue"] + m["sep"] + mask_name(m["value"]), text)
    return mask_secrets(text)


def mask_personal_numbers(text: str) -> str:
    """`text` with its ID-card, bank-card, phone numbers and e-mail addresses masked."""
    text = ID_CARD.sub(lambda m: f"{m[1]}{'*' * 10}{m[2]}", text)
    text = OLD_ID_CARD.sub(lambda m: f"{m[1]}{'*' * 8}{m[2]}", text)
    text = BANK_CARD.sub(_masked_card, text)
    text = MOBILE.sub(lambda m: f"{m[1] or ''}{m[2]}****{m[4]}", text)
    text = LANDLINE.sub(lambda m: f"{m[1]}****{m[2]}{m[3] or ''}", text)
    return EMAIL.sub(r"\1***\2", text)


def _masked_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match[0])
    return f"{digits[:4]}****{digits[-4:]}"
