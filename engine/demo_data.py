"""Reproducible demo customers and events for a Chinese bank (演示数据).

`write_demo_data` streams two files into a directory:

- ``customers.csv``: the fields of rules/schema.yaml in schema order, UTF-8, ISO dates,
  ``true``/``false`` booleans, empty cell = missing. About 2% of rows carry only an id and a
  name; with ``bad_rows`` about 0.1% carry a defect a loader must quarantine.
- ``events.jsonl``: one JSON object per line, in time order, over the 180 days before
  ``today``, timestamps in Asia/Shanghai (+08:00), ids ``E000001``... With ``bad_rows``
  a few lines are broken (no type, cut-off JSON, non-numeric amount). Only valid customer
  rows that are not dormant produce events.

Deposits are extremely concentrated: "不足10%的客户拥有90%以上的存款占比" (the top 10% hold
over 90%), as the source found them.
Companies and institutions belong to the vertical system (系统) of their line of business
(电力系统, 教育系统 …). Dormant accounts are empty, as the source defines them (no deposit,
wealth product or loan) and long idle; some were opened and never used: no last transaction.
Time is injected (``today``) and all randomness comes from ``random.Random(seed)``: the same
arguments give byte-identical files. Rows are streamed, so memory stays flat at any size.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import json
import math
import random
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Generic, TypeVar

T = TypeVar("T")

# Customer fields, in the order of rules/schema.yaml (a test checks they agree).
FIELDS: Final[tuple[str, ...]] = (
    "customer_id", "name", "kind", "industry", "system", "group_id", "branch", "rm_id", "opened_on",
    "age", "occupation", "annual_income", "credit_rating", "balance", "loan_balance",
    "wealth_balance", "monthly_txn_count", "last_txn_date", "products_held",
    "annual_contribution", "cost_to_serve", "acquisition_cost", "expected_years",
    "satisfaction", "loyalty",
    "preferred_channel", "consent_marketing", "consent_sms", "consent_email", "consent_app",
    "do_not_contact", "phone", "email",
)  # fmt: skip

WINDOW_DAYS: Final = 180  # events fall on the 180 days before `today`
DORMANT_MIN_DAYS: Final = 200  # dormant: an empty account, no transaction for this long
NEVER_USED_RATE: Final = 0.4  # of the dormant: opened, never used (no last transaction)
NEW_RATE: Final = 0.01  # of the others: new customers, opened in the last four weeks
CUSTOMERS_PER_RM: Final = 400
BAD_CUSTOMER_KINDS: Final = ("missing_name", "bad_balance", "bad_date", "bad_kind")
BAD_EVENT_KINDS: Final = ("missing_type", "malformed_json", "bad_amount")


@dataclass(frozen=True)
class DemoSummary:
    """What was written. Totals include the deliberately bad rows/lines."""

    customers: int
    events: int
    bad_customer_rows: int
    bad_event_rows: int


class _Pick(Generic[T]):
    """Weighted choice by bisection (much faster than `Random.choices` per call)."""

    def __init__(self, items: Sequence[T], weights: Sequence[float] | None = None) -> None:
        self.items = tuple(items)
        self.cum = list(itertools.accumulate(weights or [1.0] * len(self.items)))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> T:
        return self.items[bisect.bisect(self.cum, rng.random() * self.total)]


# --- vocabularies ----------------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤易文欧"
)
SURNAME: Final[_Pick[str]] = _Pick(
    [*_SURNAMES, "欧阳", "司马", "诸葛", "上官"],
    [8.0 if i < 10 else 3.0 if i < 30 else 1.0 for i in range(len(_SURNAMES))] + [0.3] * 4,
)
GIVEN_MALE: Final = _Pick(
    "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙洋峰建国志文海成东亮晨子轩博"
)
GIVEN_FEMALE: Final = _Pick(
    "芳娜敏静丽艳娟霞秀燕玲桂丹萍红婷雪琳晶颖慧佳倩莉雅欣怡琪梦瑶婧璐蕾薇露涵诗"
)

_CITY_DISTRICTS: Final = {
    "长沙": ("芙蓉", "天心", "岳麓", "开福", "雨花", "望城", "星沙"),
    "株洲": ("天元", "芦淞", "荷塘"),
    "湘潭": ("雨湖", "岳塘"),
    "衡阳": ("蒸湘", "雁峰", "石鼓"),
    "岳阳": ("岳阳楼", "君山"),
    "常德": ("武陵", "鼎城"),
    "郴州": ("北湖", "苏仙"),
    "益阳": ("赫山",),
}
_CITY_WEIGHT: Final = {"长沙": 4.0, "株洲": 1.5, "湘潭": 1.2, "衡阳": 1.2}
BRANCH: Final = _Pick(
    [(c, d) for c, ds in _CITY_DISTRICTS.items() for d in ds],
    [_CITY_WEIGHT.get(c, 1.0) for c, ds in _CITY_DISTRICTS.items() for _ in ds],
)

OCCUPATION: Final = _Pick(
    ("企业职员", "公务员", "教师", "医生", "护士", "工程师", "个体工商户", "私营企业主",
     "销售人员", "自由职业", "农民", "工人", "司机", "会计", "律师"),
    (22, 6, 6, 3, 3, 6, 10, 4, 7, 8, 8, 9, 4, 3, 1),
)  # fmt: skip
RATING: Final = _Pick(("AAA", "AA", "A", "BBB", "BB", "B", "C"), (5, 15, 30, 25, 15, 7, 3))
TRADE_WORD: Final = _Pick(
    (
        "华信",
        "恒达",
        "鑫源",
        "宏图",
        "中联",
        "天成",
        "湘江",
        "麓山",
        "金桥",
        "润丰",
        "万通",
        "博远",
        "瑞祥",
        "东方",
        "新世纪",
        "嘉禾",
        "永安",
        "长盛",
        "泰和",
        "汇通",
        "星辰",
        "楚天",
        "洞庭",
        "芙蓉",
        "隆兴",
        "伟业",
        "创新",
        "富民",
        "远大",
        "卓越",
    )
)
# corporate industry -> words describing the business, used in company names
_CORP_INDUSTRIES: Final = {
    "制造业": ("机械制造", "电子科技", "新材料", "汽车零部件", "食品", "化工"),
    "批发零售": ("商贸", "贸易", "医药连锁", "超市"),
    "房地产": ("置业", "房地产开发", "物业管理"),
    "建筑业": ("建设工程", "路桥工程", "建筑劳务"),
    "信息技术": ("科技", "信息技术", "网络科技", "软件"),
    "交通运输": ("物流", "运输", "供应链管理"),
    "住宿餐饮": ("餐饮管理", "酒店管理"),
    "农林牧渔": ("农业开发", "生态农业", "茶业"),
    "能源": ("电力", "能源", "新能源"),
}
CORP_INDUSTRY: Final = _Pick(tuple(_CORP_INDUSTRIES), (24, 20, 8, 10, 12, 8, 7, 6, 5))
CORP_SUFFIX: Final = _Pick(("有限公司", "有限责任公司", "股份有限公司"), (70, 20, 10))
# 系统: the vertical system (行业系统) a company's line of business belongs to, as banks
# group firms whose needs are alike; a business word -> its systems, by weight.
_SYSTEMS: Final = {
    "机械制造": (("机械工业系统", 8), ("军工系统", 1)),
    "电子科技": (("电子信息系统", 8), ("军工系统", 1)),
    "新材料": (("冶金系统", 5), ("建材系统", 5)),
    "汽车零部件": (("汽车工业系统", 1),),
    "食品": (("轻工系统", 7), ("粮食系统", 3)),
    "化工": (("化工系统", 6), ("石油系统", 4)),
    "商贸": (("商务系统", 7), ("供销系统", 3)),
    "贸易": (("商务系统", 8), ("海关系统", 2)),
    "医药连锁": (("医药系统", 1),),
    "超市": (("商务系统", 7), ("供销系统", 3)),
    "置业": (("住建系统", 1),),
    "房地产开发": (("住建系统", 1),),
    "物业管理": (("住建系统", 1),),
    "建设工程": (("住建系统", 6), ("水利系统", 2), ("电力系统", 2)),
    "路桥工程": (("交通系统", 7), ("铁路系统", 3)),
    "建筑劳务": (("住建系统", 1),),
    "科技": (("电子信息系统", 7), ("通信系统", 3)),
    "信息技术": (("电子信息系统", 6), ("通信系统", 4)),
    "网络科技": (("通信系统", 5), ("电子信息系统", 5)),
    "软件": (("电子信息系统", 1),),
    "物流": (("交通系统", 5), ("邮政系统", 3), ("铁路系统", 2)),
    "运输": (("交通系统", 6), ("铁路系统", 4)),
    "供应链管理": (("商务系统", 6), ("交通系统", 4)),
    "餐饮管理": (("商务系统", 6), ("旅游系统", 4)),
    "酒店管理": (("旅游系统", 1),),
    "农业开发": (("农业系统", 7), ("供销系统", 3)),
    "生态农业": (("农业系统", 6), ("林业系统", 4)),
    "茶业": (("农业系统", 5), ("供销系统", 5)),
    "电力": (("电力系统", 1),),
    "能源": (("石油系统", 5), ("煤炭系统", 5)),
    "新能源": (("电力系统", 7), ("石油系统", 3)),
}
CORP_SYSTEM: Final = {
    business: _Pick([s for s, _ in systems], [w for _, w in systems])
    for business, systems in _SYSTEMS.items()
}
# institutional: (industry, system, name template)
INSTITUTION: Final = _Pick(
    (
        ("教育", "教育系统", "{city}市第{n}中学"),
        ("教育", "教育系统", "{city}市{district}区实验小学"),
        ("教育", "教育系统", "湖南{word}职业技术学院"),
        ("医疗", "卫生健康系统", "{city}市第{h}人民医院"),
        ("医疗", "卫生健康系统", "{city}市中医医院"),
        ("医疗", "卫生健康系统", "{city}市{district}区疾病预防控制中心"),
        ("政府机构", "财政系统", "{city}市{district}区财政局"),
        ("政府机构", "人社系统", "{city}市人力资源和社会保障局"),
        ("政府机构", "住建系统", "{city}市住房公积金管理中心"),
        ("政府机构", "税务系统", "国家税务总局{city}市{district}区税务局"),
        ("社会组织", "工商联系统", "{city}市{word}行业协会"),
        ("社会组织", "民政系统", "{city}市慈善总会"),
    ),
    (12, 10, 3, 8, 3, 3, 6, 3, 3, 5, 3, 1),
)
EMAIL_DOMAIN: Final = _Pick(
    ("qq.com", "163.com", "126.com", "sina.com", "139.com"), (50, 25, 12, 6, 7)
)
PHONE_PREFIX: Final = _Pick(("13", "15", "18", "17", "19"), (35, 25, 25, 8, 7))
CHANNEL_PERSONAL: Final = _Pick(
    ("sms", "app", "phone", "email", "online_banking", "self_service", "counter"),
    (35, 35, 20, 10, 5, 3, 4),
)
CHANNEL_ORG: Final = _Pick(("phone", "email", "sms", "app", "online_banking"), (40, 25, 10, 5, 20))

SALE_PERSONAL: Final = _Pick(
    ("定期存款", "大额存单", "理财产品", "基金", "保险", "信用卡", "个人住房贷款", "消费贷款",
     "贵金属", "国债"),
    (20, 8, 20, 10, 8, 12, 4, 8, 3, 7),
)  # fmt: skip
SALE_ORG: Final = _Pick(
    ("流动资金贷款", "票据贴现", "现金管理", "代发工资", "对公理财", "供应链融资", "单位定期存款"),
    (20, 12, 15, 15, 15, 8, 15),
)
MATURING: Final = _Pick(
    ("定期存款", "大额存单", "理财产品", "国债", "结构性存款"), (35, 15, 35, 8, 7)
)
COMPLAINT: Final = _Pick(
    ("服务态度", "排队等候", "收费争议", "营销骚扰", "系统故障", "理财产品", "信用卡", "贷款审批"),
    (18, 16, 14, 10, 16, 10, 10, 6),
)
SEVERITY: Final = _Pick((1, 2, 3), (60, 30, 10))
COMMENTS: Final = {
    1: ("排队时间太长", "客户经理联系太频繁", "收费不透明"),
    2: ("手机银行经常卡顿", "业务办理手续繁琐"),
    3: ("服务一般", "希望增加自助设备", "理财产品说明不够清楚"),
    4: ("办理业务很快", "服务态度好"),
    5: ("客户经理很专业", "理财收益满意", "非常满意，会推荐给朋友"),
}
SATISFACTION: Final = _Pick((1, 2, 3, 4, 5), (5, 10, 30, 35, 20))
DORMANT_RATE: Final = {"personal": 0.088, "corporate": 0.04, "institutional": 0.01}  # ~8% overall
# kind -> (mu, sigma, cap, loan probability); log-space parameters of deposits in CNY
BALANCE_MODEL: Final = {
    "personal": (math.log(9000), 2.0, 5e8, 0.18),
    "corporate": (math.log(300000), 1.9, 5e9, 0.45),
    "institutional": (math.log(2000000), 1.4, 5e9, 0.05),
}
# kind -> (base, share of deposits, loans and wealth, cap) of the acquisition cost in CNY
ACQUISITION_MODEL: Final = {
    "personal": (150.0, 0.002, 20000.0),
    "corporate": (3000.0, 0.0005, 200000.0),
    "institutional": (20000.0, 0.0002, 300000.0),
}
LOGIN_CHANNEL: Final = _Pick(("app", "web", "phone"), (70, 22, 8))


@dataclass(frozen=True, slots=True)
class _Profile:
    """What event generation needs to know about one customer."""

    customer_id: str
    org: bool
    balance: float
    wealth: float
    value: float  # log10 of total assets (0 for none)
    satisfaction: int
    dormant: bool
    app_user: bool


def _money(x: float) -> str:
    return f"{x:.2f}"


def _flag(b: bool) -> str:
    return "true" if b else "false"


def _js(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _randint(rng: random.Random, low: int, high: int) -> int:
    """Like `Random.randint`, several times faster; the tiny float bias is irrelevant here."""
    return low + int(rng.random() * (high - low + 1))


def _below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; fine for the small rates used here."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


GROUP_SHARE: Final = 0.3  # of corporate customers, the subsidiaries of a corporate group
CORPORATE_PER_GROUP: Final = 40  # a group for every 40 corporate customers: several members each


class _CorporateGroups:
    """Corporate groups (集团) and their subsidiaries, drawn from a random stream of their own
    so that every other field stays as it was. The first subsidiary sets the group's line of
    business, and so its industry and system; most later ones are in the same line of business
    (the word in their name says so) and therefore in the same system."""

    def __init__(self, seed: int, customers: int) -> None:
        self.rng = random.Random(f"groups:{seed}")
        self.count = max(3, round(customers * 0.12 / CORPORATE_PER_GROUP))
        self.first: dict[str, tuple[str, str, str]] = {}  # group -> (industry, business, system)

    def join(self, row: dict[str, str], business: str) -> None:
        """Make a corporate customer (whose line of business is `business`) a subsidiary of a
        group, or not."""
        rng = self.rng
        if row.get("kind") != "corporate" or rng.random() >= GROUP_SHARE:
            return
        group = f"JT{_below(rng, self.count) + 1:03d}"
        row["group_id"] = group
        industry, shared, system = self.first.setdefault(
            group, (row["industry"], business, row["system"])
        )
        if rng.random() < 0.85:
            before, _, after = row["name"].rpartition(business)
            row.update(name=f"{before}{shared}{after}", industry=industry, system=system)


# --- customers -------------------------------------------------------------------------------


class _Generator:
    """Holds the random streams and precomputed tables for one run. Fields added to the data
    later (`acquisition_cost`, accounts never used) draw from a stream of their own, so that
    they leave every other value of a seed as it was."""

    def __init__(
        self, rng: random.Random, today: dt.date, customers: int, later: random.Random, seed: int
    ) -> None:
        self.rng = rng
        self.later = later
        self.groups = _CorporateGroups(seed, customers)
        self.today = today
        self.days = [(today - dt.timedelta(days=d)).isoformat() for d in range(40 * 366)]
        self.weekend = [
            (today - dt.timedelta(days=d)).weekday() >= 5 for d in range(WINDOW_DAYS + 1)
        ]
        rms = max(3, round(customers / CUSTOMERS_PER_RM))
        self.rms = [(f"RM{i:03d}", BRANCH(rng)) for i in range(1, rms + 1)]

    def customer(self, i: int, bad: str | None) -> tuple[list[str], _Profile | None]:
        """One CSV row and, unless it is partial or bad, the profile for its events."""
        rng, cid = self.rng, f"C{i:07d}"
        if bad is None and rng.random() < 0.02:
            return self._partial(cid)
        r = rng.random()
        kind = "personal" if r < 0.85 else "corporate" if r < 0.97 else "institutional"
        row: dict[str, str] = {"customer_id": cid, "kind": kind}
        rm_id, (city, district) = self.rms[_below(rng, len(self.rms))]
        if kind == "personal" and rng.random() < 0.05:  # unassigned, served at the counter
            rm_id, (city, district) = "", BRANCH(rng)
        row["branch"], row["rm_id"] = f"{city}{district}支行", rm_id
        if kind == "personal":
            self._personal(row)
        else:
            business = self._organisation(row, kind, city, district)
            if business is not None:
                self.groups.join(row, business)
        profile = self._finances(row, kind)
        self._contact(row, kind)
        if bad is not None:
            _corrupt(row, bad, rng, self.today)
            return [row.get(f, "") for f in FIELDS], None
        return [row.get(f, "") for f in FIELDS], profile

    def _partial(self, cid: str) -> tuple[list[str], _Profile]:
        """Only an id and a name, as banks often have; still a customer who acts."""
        rng = self.rng
        name = self.person_name() if rng.random() < 0.9 else self.company(BRANCH(rng)[0])[0]
        profile = _Profile(cid, False, 0.0, 0.0, 0.0, 3, False, rng.random() < 0.3)
        return [cid, name, *[""] * (len(FIELDS) - 2)], profile

    def person_name(self) -> str:
        rng = self.rng
        pick = GIVEN_MALE if rng.random() < 0.5 else GIVEN_FEMALE
        given = pick(rng) if rng.random() < 0.25 else pick(rng) + pick(rng)
        return SURNAME(rng) + given

    def company(self, city: str) -> tuple[str, str, str]:
        """(name, industry, line of business) of a company such as 长沙华信科技有限公司."""
        rng = self.rng
        industry = CORP_INDUSTRY(rng)
        business = rng.choice(_CORP_INDUSTRIES[industry])
        return f"{city}{TRADE_WORD(rng)}{business}{CORP_SUFFIX(rng)}", industry, business

    def _personal(self, row: dict[str, str]) -> None:
        rng = self.rng
        age = int(rng.triangular(18, 86, 38))
        if age >= 60 and rng.random() < 0.7:
            occupation, income = "退休", rng.lognormvariate(math.log(48000), 0.4)
        elif age < 23 and rng.random() < 0.6:
            occupation, income = "学生", rng.uniform(0, 12000)
        else:
            occupation, income = OCCUPATION(rng), rng.lognormvariate(math.log(72000), 0.65)
        row.update(
            name=self.person_name(),
            age=str(age),
            occupation=occupation,
            annual_income=f"{round(income, -2):.0f}",
            credit_rating=RATING(rng),
        )

    def _organisation(self, row: dict[str, str], kind: str, city: str, district: str) -> str | None:
        """Fill in an organisation; return a company's line of business (None for an
        institution)."""
        rng = self.rng
        business: str | None = None
        if kind == "corporate":
            name, industry, business = self.company(city)
            system = CORP_SYSTEM[business](rng)
            row["annual_income"] = f"{round(rng.lognormvariate(math.log(6e6), 1.4), -3):.0f}"
        else:
            industry, system, template = INSTITUTION(rng)
            name = template.format(
                city=city,
                district=district,
                n=_randint(rng, 1, 30),
                h=_randint(rng, 1, 6),
                word=TRADE_WORD(rng),
            )
        row.update(name=name, industry=industry, system=system, credit_rating=RATING(rng))
        return business

    def _finances(self, row: dict[str, str], kind: str) -> _Profile:
        """Balances, activity, contribution and attitudes; returns the event profile."""
        rng, org = self.rng, kind != "personal"
        dormant = rng.random() < DORMANT_RATE[kind]
        balance, loan, wealth = self._balances(kind, dormant)
        last, opened = self._dates(org, dormant, row.get("age"))
        never_used = dormant and self.later.random() < NEVER_USED_RATE
        if not dormant and self.later.random() < NEW_RATE:  # opened in the last four weeks
            opened = _randint(self.later, 1, 28)
            last = min(last, opened - 1)
        value = math.log10(balance + loan + wealth + 1)
        busy = math.log(60 if org else 8) + 0.25 * max(0.0, value - (5 if org else 4))
        txn = 0 if dormant else int(rng.lognormvariate(busy, 0.8))  # the rich transact more
        extras = int(rng.expovariate(1 / (0.4 + 0.35 * max(0.0, value - 4))))
        products = min(12, 1 + (loan > 0) + (wealth > 0) + (0 if dormant else extras))
        contribution = (0.012 * balance + 0.018 * loan + 0.008 * wealth + 60 * (products - 1)
                        + 6 * txn) * rng.lognormvariate(0, 0.25)  # fmt: skip
        low, high = (500, 3000) if org else (50, 600)
        cost = min(high * 1.0, low + rng.uniform(0, 0.25) * (high - low) + 15 * products + txn)
        satisfaction = SATISFACTION(rng)
        loyalty = min(100, max(0, int(rng.gauss(satisfaction * 16 + 5, 12))))
        years = min(20.0, max(1.0, rng.gauss(2 + loyalty / 8 + products / 2, 2.5)))
        row.update(
            opened_on=self.days[opened], last_txn_date="" if never_used else self.days[last],
            balance=_money(balance), loan_balance=_money(loan),
            wealth_balance=_money(wealth), monthly_txn_count=str(txn), products_held=str(products),
            annual_contribution=_money(contribution), cost_to_serve=_money(cost),
            acquisition_cost=self._acquisition(kind, balance + loan + wealth),
            expected_years=f"{years:.1f}", satisfaction=str(satisfaction), loyalty=str(loyalty),
        )  # fmt: skip
        app = not org and not dormant and rng.random() < 0.65
        return _Profile(row["customer_id"], org, balance, wealth, value, satisfaction, dormant, app)

    def _acquisition(self, kind: str, volume: float) -> str:
        """获客成本: what winning the customer cost (marketing, opening gifts, staff time,
        for organisations the tender); larger customers cost more to win. 10% unknown."""
        later = self.later
        base, share, cap = ACQUISITION_MODEL[kind]
        cost = min(cap, (base + share * volume) * later.lognormvariate(0, 0.5))
        return "" if later.random() < 0.1 else _money(round(cost, -1))

    def _balances(self, kind: str, dormant: bool) -> tuple[float, float, float]:
        """Heavy-tailed deposits (lognormal), calibrated as the source found them: "不足10%的
        客户拥有90%以上的存款占比" (the top 10% hold 91-93%)."""
        rng = self.rng
        mu, sigma, cap, loan_p = BALANCE_MODEL[kind]
        if dormant:  # empty; the draw keeps every other value of a seed as it was
            rng.random()
            return 0.0, 0.0, 0.0
        balance = min(cap, rng.lognormvariate(mu, sigma))
        loan = rng.lognormvariate(mu + 2.5, 1.2) if rng.random() < loan_p else 0.0
        wealth_p = min(0.9, 0.1 + 0.06 * max(0.0, math.log10(balance + 1) - 3))
        wealth = balance * rng.lognormvariate(-0.3, 0.8) if rng.random() < wealth_p else 0.0
        return round(balance, 2), round(loan, -2), round(wealth, -2)

    def _dates(self, org: bool, dormant: bool, age: str | None) -> tuple[int, int]:
        """(last transaction, opened) as days before today."""
        rng = self.rng
        if dormant:
            last = DORMANT_MIN_DAYS + 1 + min(5000, int(rng.expovariate(1 / 500)))
        elif rng.random() < 0.06:  # quiet but not empty
            last = _randint(rng, 60, 400)
        else:
            last = min(59, int(rng.expovariate(1 / 8)))
        years = 25 if org or age is None else max(1, min(25, int(age) - 17))
        opened = _randint(rng, 30, years * 365)
        return last, max(opened, last + _randint(rng, 0, 365))

    def _contact(self, row: dict[str, str], kind: str) -> None:
        rng = self.rng
        phone = rng.random() < 0.95
        email = rng.random() < (0.35 if kind == "personal" else 0.8)
        channel = (CHANNEL_PERSONAL if kind == "personal" else CHANNEL_ORG)(rng)
        if channel == "email" and not email:
            channel = "sms"
        dnc = rng.random() < 0.03
        row.update(
            preferred_channel=channel,
            consent_marketing=_flag(not dnc and rng.random() < 0.35),
            consent_sms=_flag(phone and rng.random() < 0.88),
            consent_email=_flag(email and rng.random() < 0.6),
            consent_app=_flag(kind == "personal" and rng.random() < 0.55),
            do_not_contact=_flag(dnc),
            phone=f"{PHONE_PREFIX(rng)}{_below(rng, 10**9):09d}" if phone else "",
            email=self._email(kind) if email else "",
        )

    def _email(self, kind: str) -> str:
        rng = self.rng
        if kind != "personal":
            return f"caiwu{_below(rng, 10**5):05d}@corp{_below(rng, 10**4):04d}.com.cn"
        if rng.random() < 0.5:
            return f"{_randint(rng, 10**5, 10**10)}@qq.com"
        letters = "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_randint(rng, 3, 8))
        )
        return f"{letters}{_randint(rng, 1, 9999)}@{EMAIL_DOMAIN(rng)}"


def _corrupt(row: dict[str, str], bad: str, rng: random.Random, today: dt.date) -> None:
    """Plant one defect that a loader must quarantine."""
    if bad == "missing_name":
        row["name"] = ""
    elif bad == "bad_balance":
        row["balance"] = f"{_randint(rng, 1, 99)},{_randint(rng, 1, 9)}x{_randint(rng, 1, 9)}"
    elif bad == "bad_date":
        row["opened_on"] = f"{today.year - _randint(rng, 1, 10)}-02-30"
    else:
        row["kind"] = "vip"


# --- events ----------------------------------------------------------------------------------


class _Events:
    """Draws a customer's events over the window; yields (days before today, JSON body)."""

    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.days = gen.days
        self.weekend = gen.weekend

    def of(self, p: _Profile) -> Iterator[tuple[int, str]]:
        if p.dormant:
            return
        rng, head = self.rng, f'"customer_id": "{p.customer_id}"'
        sold: list[tuple[int, str]] = []  # (days before today, product) of each sale
        for _ in range(_poisson(rng, 0.05 + 0.22 * max(0.0, p.value - 3.5))):
            day, body, product = self._sale(p, head)
            sold.append((day, product))
            yield day, body
        for _ in range(_poisson(rng, 0.25 * (2.0 if p.satisfaction <= 2 else 0.8))):
            yield from self._complaint(head)
        if rng.random() < 0.18:
            yield self._feedback(p, head, sold)
        if (p.wealth > 0 or p.balance > 100000) and rng.random() < 0.35:
            amount = max(1000.0, round(max(p.wealth, p.balance * 0.3) * rng.uniform(0.2, 1), -2))
            product = _js(MATURING(rng))
            yield self.at("product_maturity", head, f'"product": {product}, "amount": {amount}')
        if p.balance > 50000 and rng.random() < 0.12:
            amount = round(p.balance * rng.uniform(0.3, 0.9), 2)
            yield self.at("balance_drop", head, f'"amount": {amount}')
        for _ in range(_poisson(rng, 2.0 if p.app_user else 0.15)):
            yield self.at("login", head, f'"channel": "{LOGIN_CHANNEL(rng)}"', anytime=True)

    def _sale(self, p: _Profile, head: str) -> tuple[int, str, str]:
        rng = self.rng
        product = (SALE_ORG if p.org else SALE_PERSONAL)(rng)
        base = max(10000.0, 0.2 * (p.balance + p.wealth))
        amount = round(min(base * rng.lognormvariate(0, 0.7), 1e9), -2)
        day, body = self.at("sale", head, f'"product": {_js(product)}, "amount": {amount}')
        return day, body, product

    def _feedback(self, p: _Profile, head: str, sold: list[tuple[int, str]]) -> tuple[int, str]:
        """Feedback about the product of the customer's last sale before it (the post-sale
        call's `cancel_same: [product]`); without an earlier sale it names no product."""
        rng = self.rng
        score = min(5, max(1, p.satisfaction + rng.choice((-1, 0, 0, 0, 1))))
        comment = _js(rng.choice(COMMENTS[score]))
        day, body = self.at("feedback", head, f'"score": {score}, "comment": {comment}')
        earlier = [(ago, product) for ago, product in sold if ago > day]  # more days ago
        product = _js(min(earlier)[1]) if earlier else "null"
        return day, f'{body}, "product": {product}'

    def _complaint(self, head: str) -> Iterator[tuple[int, str]]:
        rng, category = self.rng, _js(COMPLAINT(self.rng))
        payload = f'"category": {category}, "severity": {SEVERITY(rng)}'
        day, body = self.at("complaint", head, payload)
        yield day, body
        solved = day - _randint(rng, 1, 10)  # fewer days before today = later
        if solved >= 1 and rng.random() < 0.9:
            yield self.at("complaint_resolved", head, f'"category": {category}', day=solved)

    def at(
        self, kind: str, head: str, payload: str, *, anytime: bool = False, day: int = 0
    ) -> tuple[int, str]:
        """Place an event on a day (weekdays favoured) and time (business hours mostly)."""
        rng = self.rng
        if day == 0:
            day = _randint(rng, 1, WINDOW_DAYS)
            if self.weekend[day] and rng.random() < 0.5:
                day = _randint(rng, 1, WINDOW_DAYS)
        if anytime:
            minute = _randint(rng, 7 * 60, 24 * 60 - 1)
        elif rng.random() < 0.85:
            minute = _randint(rng, 9 * 60, 17 * 60 + 29)
        else:
            minute = _randint(rng, 8 * 60, 20 * 60 + 59)
        at = f"{self.days[day]}T{minute // 60:02d}:{minute % 60:02d}:{_below(rng, 60):02d}+08:00"
        return day, f'"type": "{kind}", {head}, "at": "{at}", {payload}'


def _bad_event(kind: str, eid: str, customer_id: str, at: str) -> str:
    """A broken line: no type, cut-off JSON, or a garbled amount."""
    fields = {"id": eid, "type": "sale", "customer_id": customer_id, "at": at}
    if kind == "missing_type":
        del fields["type"]
        return json.dumps({**fields, "channel": "app"})
    if kind == "malformed_json":
        return json.dumps({**fields, "product": "理财产品"}, ensure_ascii=False)[:-2]
    return json.dumps({**fields, "product": "理财产品", "amount": "12,3x4"}, ensure_ascii=False)


# --- writing ---------------------------------------------------------------------------------


def _bad_count(customers: int) -> int:
    """About 0.1%; from 100 customers at least 4, so every kind of defect appears."""
    return max(4, customers // 1000) if customers >= 100 else customers // 25


def _bad_customer_rows(rng: random.Random, customers: int, enabled: bool) -> dict[int, str]:
    """Row number -> defect."""
    if not enabled:
        return {}
    count = _bad_count(customers)
    rows = sorted(rng.sample(range(1, customers + 1), count))
    return {r: BAD_CUSTOMER_KINDS[k % len(BAD_CUSTOMER_KINDS)] for k, r in enumerate(rows)}


def _stage_bad_events(
    events: _Events, staging: Sequence[IO[str]], customers: int, enabled: bool
) -> int:
    """Stage broken event lines (type marked with "!"); as many as bad customer rows."""
    count = _bad_count(customers) if enabled and customers else 0
    for k in range(count):
        kind = BAD_EVENT_KINDS[k % len(BAD_EVENT_KINDS)]
        head = f'"customer_id": "C{_randint(events.rng, 1, customers):07d}"'
        day, body = events.at(f"!{kind}", head, '"channel": "app"')
        staging[day].write(body + "\n")
    return count


def _write_customers(
    events: _Events, path: Path, customers: int, bad: dict[int, str], staging: Sequence[IO[str]]
) -> None:
    """Stream customer rows; each customer's events go to per-day staging files."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(FIELDS)
        for i in range(1, customers + 1):
            row, profile = events.gen.customer(i, bad.get(i))
            writer.writerow(row)
            if profile is not None:
                for day, body in events.of(profile):
                    staging[day].write(body + "\n")


def _merge_events(staging: Sequence[IO[str]], path: Path) -> int:
    """Write the staged events oldest first, numbering them; returns the line count."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for day in range(WINDOW_DAYS, 0, -1):
            staging[day].seek(0)
            for body in sorted(staging[day].read().splitlines(), key=_event_time):
                count += 1
                eid = f"E{count:06d}"
                if body.startswith('"type": "!'):
                    kind, cid = _field(body, "type")[1:], _field(body, "customer_id")
                    out.write(_bad_event(kind, eid, cid, _field(body, "at")) + "\n")
                else:
                    out.write(f'{{"id": "{eid}", {body}}}\n')
    return count


def _field(body: str, name: str) -> str:
    """A string field of a staged event body, without parsing the JSON."""
    start = body.index(f'"{name}": "') + len(name) + 5
    return body[start : body.index('"', start)]


def _event_time(body: str) -> tuple[str, str]:
    return _field(body, "at"), body


def write_demo_data(
    out_dir: Path, customers: int, seed: int, today: dt.date, bad_rows: bool = True
) -> DemoSummary:
    """Write out_dir/customers.csv and out_dir/events.jsonl; same arguments, same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    bad = _bad_customer_rows(rng, customers, bad_rows)
    gen = _Generator(rng, today, customers, random.Random(f"later:{seed}"), seed)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".staging-") as tmp, ExitStack() as stack:
        staging = [
            stack.enter_context(open(Path(tmp) / f"{d:03d}", "w+", encoding="utf-8"))
            for d in range(WINDOW_DAYS + 1)
        ]
        events = _Events(gen)
        _write_customers(events, out_dir / "customers.csv", customers, bad, staging)
        bad_events = _stage_bad_events(events, staging, customers, bad_rows)
        total = _merge_events(staging, out_dir / "events.jsonl")
    return DemoSummary(customers, total, len(bad), bad_events)


if __name__ == "__main__":  # quick manual run: python engine/demo_data.py OUT_DIR N [SEED]
    import sys
    import time

    started = time.perf_counter()
    summary = write_demo_data(
        Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1,
        dt.date(2026, 11, 28),
    )  # fmt: skip
    print(summary, f"{time.perf_counter() - started:.1f}s")
