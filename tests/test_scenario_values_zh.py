"""Scenario tests written by hand in Chinese: a customer's or an event's value said as staff say
it (`一万`, `三十五`, `明天`) is answered at the scenario file's line and column with what to
write, in English and Chinese, as a load answers it; an id typed in full width (`００１`) is the
customer the load stores; a full-width quote is named without a stray space in Chinese."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from guanxi.engine import ingest
from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.ruleset.models import Scenario
from guanxi.engine.scenarios import ScenarioError, play

RULES = Path(__file__).parent.parent / "rules"
FILE = "tests/staff.yaml"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
SCENARIO = """scenarios:
  - name: 手写的场景
    today: "2026-11-02"
    customer:
      customer_id: T900
      name: 王五
      kind: personal
      balance: 0
      age: 40
      opened_on: 2020-01-06
    events:
      - {type: sale, at: "2026-11-02T10:00", fields: {product: 定期, amount: 1000}}
    expect:
      tier: dormant
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return copy


def write_scenario(project: Path, old: str, new: str) -> tuple[int, int]:
    """The scenario with `old` written `new`; the line and column `new` starts at."""
    assert SCENARIO.count(old) == 1
    text = SCENARIO.replace(old, new)
    (project / FILE).write_text(text, encoding="utf-8")
    row, line = next((n, line) for n, line in enumerate(text.splitlines(), 1) if new in line)
    return row, line.index(new) + new.index(": ") + len(": ") + 1  # where the value starts


def errors_in(project: Path, lang: str) -> list[Diagnostic]:
    with language(lang):
        found = validate_project(project).diagnostics
    return [d for d in found if d.severity == "error" and d.file.endswith(FILE)]


@pytest.mark.parametrize(
    ("old", "new", "english", "chinese"),
    [
        (
            "balance: 0",
            "balance: 一万",
            "balance: '一万' is written in Chinese numerals: write the number in digits, 10000",
            "balance: '一万' 是用中文数字写的：请用阿拉伯数字写成 10000",
        ),
        (
            "age: 40",
            "age: 三十五",
            "age: '三十五' is written in Chinese numerals: write the number in digits, 35",
            "age: '三十五' 是用中文数字写的：请用阿拉伯数字写成 35",
        ),
        (
            "amount: 1000",
            "amount: 一万元",
            "amount: '一万元' is written in Chinese numerals: write the number in digits, 10000",
            "amount: '一万元' 是用中文数字写的：请用阿拉伯数字写成 10000",
        ),
    ],
    ids=["balance", "age", "event amount"],
)
def test_a_number_in_chinese_numerals_is_answered_at_its_place_with_its_digits(
    project: Path, old: str, new: str, english: str, chinese: str
) -> None:
    """Before: "'一万' is not a number", with nothing to write instead."""
    place = write_scenario(project, old, new)
    [in_english] = errors_in(project, "en")
    [in_chinese] = errors_in(project, "zh")
    assert (in_english.code, (in_english.line, in_english.col)) == ("invalid-value", place)
    assert (in_english.message, in_chinese.message) == (english, chinese)


def test_a_load_answers_a_number_in_chinese_numerals_as_a_scenario_does() -> None:
    ruleset = load_ruleset(RULES)
    record = {"customer_id": "T900", "name": "王五", "monthly_txn_count": "二十"}
    _row, problems = ingest.check_customer(ruleset.schema, "Asia/Shanghai", record)
    [(field, _value, reason)] = problems
    assert field == "monthly_txn_count"
    assert reason == "'二十' is written in Chinese numerals: write the number in digits, 20"


@pytest.mark.parametrize(
    ("at", "english", "chinese"),
    [
        (
            "明天",
            "write 2026-11-03: a scenario's days are dates (2026-11-02 is its today)",
            "请写成 2026-11-03：场景中的日子都写成日期（它的 today 是 2026-11-02）",
        ),
        (
            "后天上午10点",
            "write 2026-11-04T10:00: a scenario's days are dates (2026-11-02 is its today)",
            "请写成 2026-11-04T10:00：场景中的日子都写成日期（它的 today 是 2026-11-02）",
        ),
    ],
    ids=["tomorrow", "the day after at ten"],
)
def test_an_event_at_a_day_counted_from_today_is_answered_with_its_date(
    project: Path, at: str, english: str, chinese: str
) -> None:
    """Before: only the general hint, 'write 2026-03-31 or 2026-03-31T09:30'."""
    place = write_scenario(project, 'at: "2026-11-02T10:00"', f"at: {at}")
    [in_english] = errors_in(project, "en")
    [in_chinese] = errors_in(project, "zh")
    assert (in_english.code, (in_english.line, in_english.col)) == ("invalid-value", place)
    assert in_english.message == f"'{at}' is not a date or time"
    assert (in_english.hint, in_chinese.hint) == (english, chinese)


@pytest.mark.parametrize(
    ("day", "english", "chinese"),
    [
        (
            "昨天",
            "write 2026-11-01: a scenario's days are dates (2026-11-02 is its today)",
            "请写成 2026-11-01：场景中的日子都写成日期（它的 today 是 2026-11-02）",
        ),
        (
            "1月6日",
            "a date needs its year: write YYYY-01-06, YYYY being the year",
            "日期要写上年份：请写成 YYYY-01-06，把 YYYY 换成四位年份",
        ),
    ],
    ids=["yesterday", "without its year"],
)
def test_a_customers_day_said_by_staff_is_answered_with_the_date_to_write(
    project: Path, day: str, english: str, chinese: str
) -> None:
    """Before: only the load's reason, which lists the forms of a date."""
    place = write_scenario(project, "opened_on: 2020-01-06", f"opened_on: {day}")
    [in_english] = errors_in(project, "en")
    [in_chinese] = errors_in(project, "zh")
    assert (in_english.code, (in_english.line, in_english.col)) == ("invalid-value", place)
    assert in_english.message.startswith(f"opened_on: '{day}' is not a date: write it")
    assert (in_english.hint, in_chinese.hint) == (english, chinese)


def test_a_customer_id_typed_in_full_width_is_the_customer_the_scenario_checks(
    project: Path,
) -> None:
    """A load stores `００１` as `001`. Before: the scenario looked for `００１`, found no
    assignment and failed with 'expected tier dormant, got (none)'."""
    write_scenario(project, "customer_id: T900", "customer_id: ００１")
    ruleset = load_ruleset(project)
    [scenario] = next(f for f in ruleset.scenarios if f.file.endswith(FILE)).scenarios
    found = play(ruleset, scenario, None)
    assert (found.customer_id, found.tier, found.level) == ("001", "dormant", "basic")
    assert [p.step for p in found.followups if p.happens] == []


def staff_scenario(project: Path) -> tuple[Scenario, Path]:
    """The hand-written scenario as the project reads it, and its population file."""
    (project / FILE).write_text(SCENARIO, encoding="utf-8")
    ruleset = load_ruleset(project)
    [scenario] = next(f for f in ruleset.scenarios if f.file.endswith(FILE)).scenarios
    return scenario, project / "tests" / "population.csv"


def stopped(project: Path, scenario: Scenario, population: Path | None) -> dict[str, str]:
    """The message the scenario stops with, in English and in Chinese."""
    ruleset = load_ruleset(project)
    found = {}
    for lang in ("en", "zh"):
        with language(lang), pytest.raises(ScenarioError) as stop:
            play(ruleset, scenario, population)
        found[lang] = str(stop.value)
    return found


def test_a_customer_that_cannot_be_loaded_stops_the_scenario_in_the_users_language(
    project: Path,
) -> None:
    """A value `guanxi validate` cannot see (a scenario built in code). Before: the replay
    ran in English, so the Chinese user read 'the customer cannot be loaded: ...'."""
    scenario, _population = staff_scenario(project)
    broken = scenario.model_copy(update={"customer": {**scenario.customer, "age": "abc"}})
    found = stopped(project, broken, None)
    assert found["en"].startswith("the customer cannot be loaded: age: 'abc' is not")
    assert found["zh"].startswith("无法导入该客户：age：'abc' 不是")


def test_an_event_that_cannot_be_loaded_stops_the_scenario_in_the_users_language(
    project: Path,
) -> None:
    scenario, _population = staff_scenario(project)
    [event] = scenario.events
    wrong = event.model_copy(update={"fields": {"amount": "abc"}})
    broken = scenario.model_copy(update={"events": (wrong,)})
    found = stopped(project, broken, None)
    assert found["en"].startswith("event sale at 2026-11-02T10:00:00+08:00: amount: 'abc' is")
    assert found["zh"].startswith("2026-11-02T10:00:00+08:00 的事件 sale：amount：'abc' 不是")


def test_a_population_row_that_cannot_be_loaded_stops_the_scenario_in_the_users_language(
    project: Path,
) -> None:
    """A population row changed after `guanxi validate` read it."""
    scenario, population = staff_scenario(project)
    rows = population.read_text(encoding="utf-8").splitlines()
    rows[1] = rows[1].replace(",0,50,", ",abc,50,")
    changed = project.parent / population.name
    changed.write_text("\n".join(rows) + "\n", encoding="utf-8")
    found = stopped(project, scenario, changed)
    assert found["en"].startswith("population.csv line 2: 'abc' is not a number (1 row(s)")
    assert found["zh"].startswith("population.csv 第 2 行：'abc' 不是")


def test_the_reasons_planned_under_chinese_are_stored_in_english() -> None:
    """The planning still runs in English: a scenario's `reason: SMS cap 2 per 7 days`
    matches on every machine."""
    ruleset = load_ruleset(RULES)
    policy = next(f for f in ruleset.scenarios if f.file.endswith("contact_policy.yaml"))
    population = ruleset.root / str(policy.population)
    for scenario in policy.scenarios:
        with language("zh"):
            in_chinese = play(ruleset, scenario, population)
        assert in_chinese == play(ruleset, scenario, population), scenario.name
        reasons = [r for planned in in_chinese.followups for r in planned.reasons]
        assert not any(CHINESE.search(r) for r in reasons), scenario.name


def expect_gold(project: Path, said: str) -> None:
    text = SCENARIO.replace("tier: dormant\n", f"tier: dormant\n      gold: {said}\n")
    (project / FILE).write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("said", "gold"), [("是", True), ("否", False), ("真", True), ("假", False)]
)
def test_an_expected_gold_flag_said_in_chinese_is_taken_as_the_customers_values_are(
    project: Path, said: str, gold: bool
) -> None:
    """`consent_sms: 是` loads the customer. Before: `gold: 是` beside it was an error."""
    expect_gold(project, said)
    assert errors_in(project, "en") == []
    ruleset = load_ruleset(project)
    [scenario] = next(f for f in ruleset.scenarios if f.file.endswith(FILE)).scenarios
    assert scenario.expect.gold is gold


def test_a_word_that_is_no_yes_or_no_is_still_answered_with_what_to_write(project: Path) -> None:
    expect_gold(project, "金牌")
    [in_english] = errors_in(project, "en")
    [in_chinese] = errors_in(project, "zh")
    assert in_english.message == "expected true or false in 'scenarios[0].expect.gold'"
    assert in_chinese.message == "应为 true 或 false（位置：'scenarios[0].expect.gold'）"


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "annual_contribution: '一万' is written in Chinese numerals: write the number in"
               " digits, 10000"),
        ("zh", "annual_contribution: '一万' 是用中文数字写的：请用阿拉伯数字写成 10000"),
    ],
)  # fmt: skip
def test_a_bad_population_value_is_named_at_its_cell_once(
    project: Path, lang: str, message: str
) -> None:
    """Six scenario files share population.csv. Before: its bad row was reported six times,
    at the row's first column, whatever the cell."""
    population = project / "tests" / "population.csv"
    text = population.read_text(encoding="utf-8")
    row = "P02,参照客户02,personal,0,80,,"
    assert text.count(row) == 1
    population.write_text(text.replace(row, row.replace(",0,", ",一万,")), encoding="utf-8")
    with language(lang):
        found = validate_project(project).diagnostics
    [problem] = [d for d in found if d.file.endswith("population.csv")]
    assert (problem.line, problem.col, problem.length) == (
        3,
        len("P02,参照客户02,personal,") + 1,
        2,
    )
    assert (problem.code, problem.message) == ("invalid-value", message)


def test_a_bad_population_line_of_json_is_named_at_its_key(project: Path) -> None:
    (project / "tests" / "people.jsonl").write_text(
        '{"customer_id": "J1", "name": "甲", "kind": "personal"}\n'
        '{"customer_id": "J2", "name": "乙", "kind": "personal", "age": "三十五"}\n',
        encoding="utf-8",
    )
    scenarios = project / "tests" / "staff.yaml"
    scenarios.write_text("population: people.jsonl\n" + SCENARIO, encoding="utf-8")
    [problem] = [d for d in errors_in_all(project) if d.file.endswith("people.jsonl")]
    line = (project / "tests" / "people.jsonl").read_text(encoding="utf-8").splitlines()[1]
    assert (problem.line, problem.col) == (2, line.index('"age"') + 1)
    assert problem.message.startswith("age: '三十五'")


def errors_in_all(project: Path) -> list[Diagnostic]:
    with language("en"):
        return [d for d in validate_project(project).diagnostics if d.severity == "error"]
