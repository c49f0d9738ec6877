"""The demo data generator: reproducible, schema-shaped, realistic, with countable defects."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from guanxi.engine.demo_data import DemoSummary, write_demo_data
from guanxi.engine.tasks import OUTCOME_EVENT

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "rules" / "schema.yaml"
TODAY = dt.date(2026, 11, 28)
N = 20_000
CJK_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
INSTITUTION_WORDS = ("学", "医院", "局", "中心", "协会", "总会")
ID_NAME = ("customer_id", "name")
CONSENTS = ("consent_sms", "consent_email", "consent_marketing", "do_not_contact")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        loaded: dict[str, Any] = YAML(typ="safe").load(f)
    return loaded


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    out = tmp_path_factory.mktemp("demo")
    return out, write_demo_data(out, N, seed=7, today=TODAY)


@pytest.fixture(scope="module")
def rows(demo: tuple[Path, DemoSummary]) -> list[dict[str, str]]:
    with (demo[0] / "customers.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def good_rows(rows: list[dict[str, str]], schema: dict[str, Any]) -> list[dict[str, str]]:
    return [r for r in rows if not _problems(r, schema)]


def _problems(row: dict[str, str], schema: dict[str, Any]) -> list[str]:
    """What a loader must reject in one row, judged only by schema.yaml."""
    found = []
    for name, spec in schema["fields"].items():
        value = row[name]
        if value == "":
            found += [f"{name} missing"] if spec.get("required") else []
        elif not _valid(value, spec):
            found.append(f"{name}={value!r}")
    return found


PARSERS: dict[str, Callable[[str], object]] = {
    "integer": int,
    "number": float,
    "date": dt.date.fromisoformat,
}


def _valid(value: str, spec: dict[str, Any]) -> bool:
    if "values" in spec and value not in spec["values"]:
        return False
    try:
        PARSERS.get(spec["type"], str)(value)
    except ValueError:
        return False
    return spec["type"] != "boolean" or value in ("true", "false")


def _events(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(well-formed events, broken lines)."""
    good: list[dict[str, Any]] = []
    bad: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            bad.append(line)
            continue
        if "type" in event and isinstance(event.get("amount", 0), int | float):
            good.append(event)
        else:
            bad.append(line)
    return good, bad


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    def files(seed: int, name: str) -> tuple[bytes, bytes]:
        out = tmp_path / name
        write_demo_data(out, 1500, seed=seed, today=TODAY)
        return (out / "customers.csv").read_bytes(), (out / "events.jsonl").read_bytes()

    first = files(3, "a")
    assert files(3, "b") == first
    other = files(4, "c")
    assert other[0] != first[0] and other[1] != first[1]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["customers.csv", "events.jsonl"]


def test_header_is_schema_field_order(
    demo: tuple[Path, DemoSummary], schema: dict[str, Any]
) -> None:
    with (demo[0] / "customers.csv").open(encoding="utf-8", newline="") as f:
        assert next(csv.reader(f)) == list(schema["fields"])


def test_summary_counts_rows_and_lines(
    demo: tuple[Path, DemoSummary], rows: list[dict[str, str]]
) -> None:
    out, summary = demo
    assert summary.customers == len(rows) == N
    lines = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary.events == len(lines)
    assert 1.0 <= summary.events / N <= 3.0


def test_bad_customer_rows_are_counted_exactly(
    demo: tuple[Path, DemoSummary], rows: list[dict[str, str]], schema: dict[str, Any]
) -> None:
    bad = {r["customer_id"]: _problems(r, schema) for r in rows if _problems(r, schema)}
    assert len(bad) == demo[1].bad_customer_rows == N // 1000
    found = " ".join(p for problems in bad.values() for p in problems)
    for symptom in ("name missing", "balance=", "opened_on=", "kind="):
        assert symptom in found
    assert len({r["customer_id"] for r in rows}) == N  # no duplicate ids


def test_bad_rows_can_be_switched_off_and_have_a_minimum(tmp_path: Path) -> None:
    clean = write_demo_data(tmp_path / "clean", 2000, seed=1, today=TODAY, bad_rows=False)
    assert (clean.bad_customer_rows, clean.bad_event_rows) == (0, 0)
    _, broken = _events(tmp_path / "clean" / "events.jsonl")
    assert broken == []
    small = write_demo_data(tmp_path / "small", 100, seed=1, today=TODAY)
    assert small.bad_customer_rows >= 3 and small.bad_event_rows >= 3


def test_customer_ids_names_and_contacts_look_real(good_rows: list[dict[str, str]]) -> None:
    for r in good_rows:
        assert re.fullmatch(r"C\d{7}", r["customer_id"])
        if r["kind"] == "personal":
            assert CJK_NAME.match(r["name"]), r["name"]
        elif r["kind"] == "corporate":
            assert r["name"].endswith("公司") and r["industry"] and r["system"]
        elif r["kind"] == "institutional":
            assert any(w in r["name"] for w in INSTITUTION_WORDS), r["name"]
        assert r["phone"] == "" or re.fullmatch(r"1\d{10}", r["phone"])
        assert r["email"] == "" or "@" in r["email"]
    industries = {r["industry"] for r in good_rows}
    assert {"制造业", "批发零售", "房地产", "教育", "医疗", "政府机构"} <= industries


def test_kind_proportions(good_rows: list[dict[str, str]]) -> None:
    kinds = Counter(r["kind"] for r in good_rows if r["kind"])
    total = sum(kinds.values())
    assert abs(kinds["personal"] / total - 0.85) < 0.02
    assert abs(kinds["corporate"] / total - 0.12) < 0.02
    assert abs(kinds["institutional"] / total - 0.03) < 0.01


def test_corporate_groups_have_several_subsidiaries_mostly_of_one_system(
    good_rows: list[dict[str, str]],
) -> None:
    members: dict[str, list[dict[str, str]]] = {}
    for row in good_rows:
        if row["group_id"]:
            members.setdefault(row["group_id"], []).append(row)
    assert len(members) >= 3 and min(len(m) for m in members.values()) >= 2
    assert {r["kind"] for m in members.values() for r in m} == {"corporate"}
    grouped = sum(len(m) for m in members.values())
    corporate = sum(r["kind"] == "corporate" for r in good_rows)
    assert 0.2 < grouped / corporate < 0.4
    alike = sum(Counter(r["system"] for r in m).most_common(1)[0][1] for m in members.values())
    assert alike / grouped > 0.75


def test_partial_records_have_only_id_and_name(good_rows: list[dict[str, str]]) -> None:
    partial = [r for r in good_rows if not any(v for k, v in r.items() if k not in ID_NAME)]
    assert 0.01 < len(partial) / N < 0.03
    assert all(r["name"] for r in partial)


def test_deposits_are_extremely_concentrated(good_rows: list[dict[str, str]]) -> None:
    """ "不足10%的客户拥有90%以上的存款占比": a tenth of the customers hold over 90%."""
    balances = sorted((float(r["balance"]) for r in good_rows if r["balance"]), reverse=True)
    top_share = sum(balances[: N // 10]) / sum(balances)
    assert 0.90 < top_share <= 0.97


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_demos_own_deposits_are_as_concentrated_as_the_source_says(
    tmp_path: Path, seed: int
) -> None:
    """The demo's 2,000 customers (`guanxi demo`), not only the large sample above."""
    write_demo_data(tmp_path, 2000, seed=seed, today=TODAY)
    with (tmp_path / "customers.csv").open(encoding="utf-8") as file:
        cells = [r["balance"] for r in csv.DictReader(file)]
    balances = sorted((float(c) for c in cells if _is_number(c)), reverse=True)
    assert 0.90 < sum(balances[:200]) / sum(balances) <= 0.97


def _is_number(cell: str) -> bool:
    """A balance a loader would take; the rows made bad on purpose carry others."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_dormant_share_and_value_correlations(good_rows: list[dict[str, str]]) -> None:
    full = [r for r in good_rows if r["balance"]]
    cutoff = (TODAY - dt.timedelta(days=200)).isoformat()
    empty = ("balance", "wealth_balance", "loan_balance")
    dormant = [
        r for r in full if all(float(r[f]) == 0 for f in empty) and r["last_txn_date"] < cutoff
    ]
    assert 0.05 <= len(dormant) / N <= 0.11
    rich = [r for r in full if float(r["balance"]) > 1_000_000]
    mean = sum(float(r["annual_contribution"]) for r in full) / len(full)
    assert sum(float(r["annual_contribution"]) for r in rich) / len(rich) > 5 * mean
    for r in full:
        assert 1 <= float(r["expected_years"]) <= 20
        assert 1 <= int(r["satisfaction"]) <= 5 and 0 <= int(r["loyalty"]) <= 100
        assert r["opened_on"] <= (r["last_txn_date"] or r["opened_on"]) <= TODAY.isoformat()


def test_some_dormant_accounts_were_opened_and_never_used(good_rows: list[dict[str, str]]) -> None:
    never = [r for r in good_rows if r["kind"] and not r["last_txn_date"]]
    assert 0.02 <= len(never) / N <= 0.05
    assert all(float(r["balance"]) == 0 and r["monthly_txn_count"] == "0" for r in never)


def test_organisations_belong_to_the_system_of_their_line_of_business(
    good_rows: list[dict[str, str]],
) -> None:
    orgs = [r for r in good_rows if r["kind"] in ("corporate", "institutional")]
    assert all(r["system"].endswith("系统") for r in orgs)
    assert {r["system"] for r in orgs if "电力" in r["name"]} == {"电力系统"}
    assert {r["system"] for r in orgs if r["name"].endswith(("中学", "小学", "学院"))} == {
        "教育系统"
    }
    assert {r["system"] for r in orgs if r["name"].endswith("医院")} == {"卫生健康系统"}
    assert not any(r["system"] for r in good_rows if r["kind"] == "personal")


def test_winning_an_organisation_costs_more_than_winning_a_person(
    good_rows: list[dict[str, str]],
) -> None:
    def median(kind: str) -> float:
        costs = sorted(
            float(r["acquisition_cost"])
            for r in good_rows
            if r["kind"] == kind and r["acquisition_cost"]
        )
        return costs[len(costs) // 2]

    assert 100 <= median("personal") < median("corporate") < median("institutional") <= 100_000
    full = [r for r in good_rows if r["kind"]]
    assert 0.05 <= sum(not r["acquisition_cost"] for r in full) / len(full) <= 0.15


def test_relationship_managers_and_consent(good_rows: list[dict[str, str]]) -> None:
    rms = {r["rm_id"] for r in good_rows if r["rm_id"]}
    assert all(re.fullmatch(r"RM\d{3,}", rm) for rm in rms)
    assert 0.8 * N / 400 <= len(rms) <= N / 400
    full = [r for r in good_rows if r["kind"]]
    share = {f: sum(r[f] == "true" for r in full) / len(full) for f in CONSENTS}
    assert share["consent_sms"] > share["consent_marketing"] > share["consent_email"] > 0.1
    assert 0.02 <= share["do_not_contact"] <= 0.04


def test_events_reference_customers_inside_the_window(
    demo: tuple[Path, DemoSummary], good_rows: list[dict[str, str]], schema: dict[str, Any]
) -> None:
    events, broken = _events(demo[0] / "events.jsonl")
    assert len(broken) == demo[1].bad_event_rows >= 3
    ids = {r["customer_id"] for r in good_rows}
    first, last = TODAY - dt.timedelta(days=180), TODAY - dt.timedelta(days=1)
    for e in events:
        assert e["customer_id"] in ids
        at = dt.datetime.fromisoformat(e["at"])
        assert at.utcoffset() == dt.timedelta(hours=8)
        assert first <= at.date() <= last
        assert set(e) == {"id", "type", "customer_id", "at", *schema["events"][e["type"]]["fields"]}
    stamps = [e["at"] for e in events]
    assert stamps == sorted(stamps)
    assert len({e["id"] for e in events}) == len(events)
    # task outcomes are not drawn: guanxi records them when a manager closes a task
    assert set(Counter(e["type"] for e in events)) == set(schema["events"]) - {OUTCOME_EVENT}


def test_feedback_names_the_product_of_a_sale_before_it(demo: tuple[Path, DemoSummary]) -> None:
    """A post-sale call is cancelled only by feedback on the product sold (`cancel_same:`):
    the demo's feedback is about the customer's last sale before it, or names no product."""
    events, _ = _events(demo[0] / "events.jsonl")
    sales: dict[str, list[tuple[str, str]]] = {}
    named = 0
    for e in events:  # in time order
        if e["type"] == "sale":
            sales.setdefault(e["customer_id"], []).append((e["at"][:10], e["product"]))
        elif e["type"] == "feedback":
            earlier = [s for s in sales.get(e["customer_id"], []) if s[0] < e["at"][:10]]
            last = {product for day, product in earlier if day == max(earlier)[0]}
            assert e["product"] in (last or {None})
            named += e["product"] is not None
    assert named >= 100


def test_event_mix_is_plausible(demo: tuple[Path, DemoSummary]) -> None:
    events, _ = _events(demo[0] / "events.jsonl")
    kinds = Counter(e["type"] for e in events)
    assert 0.15 <= kinds["complaint"] / N <= 0.35  # about 0.5 per customer per year
    assert 0.7 <= kinds["complaint_resolved"] / kinds["complaint"] <= 0.95
    office = [e for e in events if e["type"] != "login"]
    in_hours = sum(9 <= int(e["at"][11:13]) < 18 for e in office)
    assert in_hours / len(office) > 0.75


def test_valuable_customers_buy_more(
    demo: tuple[Path, DemoSummary], good_rows: list[dict[str, str]]
) -> None:
    events, _ = _events(demo[0] / "events.jsonl")
    sales = Counter(e["customer_id"] for e in events if e["type"] == "sale")
    full = sorted((r for r in good_rows if r["balance"]), key=lambda r: -float(r["balance"]))
    top, rest = full[: len(full) // 10], full[len(full) // 10 :]
    per_top = sum(sales[r["customer_id"]] for r in top) / len(top)
    per_rest = sum(sales[r["customer_id"]] for r in rest) / len(rest)
    assert per_top > 2 * per_rest


def test_chinese_text_round_trips(demo: tuple[Path, DemoSummary]) -> None:
    raw = (demo[0] / "customers.csv").read_bytes()
    assert "有限公司".encode() in raw and not raw.startswith(b"\xef\xbb\xbf")
    with (demo[0] / "customers.csv").open(encoding="utf-8", newline="") as f:
        names = [row[1] for row in csv.reader(f)][1:]
    assert sum(bool(CJK_NAME.match(n)) for n in names) > 0.7 * N
    assert re.search(r',"\d+,\dx\d",', raw.decode("utf-8"))  # garbled balance quoted, not split
