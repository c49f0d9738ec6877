"""`guanxi validate --store` warns of a text compared with a free-text field (one without
`values:`) that no customer holds: 公务元 typed for 公务员 drops every civil servant from a
rule that still catches the teachers, so nothing else would tell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify.coverage import coverage
from guanxi.engine.classify.held_values import is_close
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from tests.test_coverage import AT, NOW, project, shown

pytestmark = pytest.mark.every_store

CODE = "value-held-by-nobody"
CIVIL_SERVANT = '"公务员, 教师'
STRATEGIES_LINE = (
    '  3 | …,,personal,not dormant,[25..45],>= 8万,"公务元, 教师, 医生, 护士, 工程师, 律师, 会计,'
    ' 企业职员, 私营企业主","AAA, AA, A, BBB",,< 1,,年轻、收入稳定、信用好，…\n'
    "    |                                          ^^^^^^\n"
)
TYPO_EN = (
    "<project>/strategies.csv:3:83: warning[value-held-by-nobody]: '公务元' is held by no"
    " customer in the store (occupation (职业): 1,635 customers have one)\n"
    + STRATEGIES_LINE
    + "  hint: did you mean '公务员' (99 customers)?\n"
)
TYPO_ZH = (
    "<project>/strategies.csv:3:83: 警告[value-held-by-nobody]: 数据库中没有客户的 occupation"
    " (职业) 是 '公务元'（此字段有值的客户共 1,635 位）\n"
    + STRATEGIES_LINE
    + "  提示: 您是不是想写 '公务员'（99 位客户）？\n"
)
GROWTH_STEP = "when: strategy = 'growth' AND kind = 'personal' AND consent_marketing"


@pytest.fixture
def loaded(store: Store, ruleset: RuleSet, demo: Path) -> Store:
    load_customers(store, ruleset, demo, NOW)
    return store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 demo customers (seed 1, data ending 2026-11-28, no bad rows)."""
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, 2000, 1, NOW.date(), bad_rows=False)
    return out / "customers.csv"


def civil_servant_typo(tmp_path: Path) -> Path:
    return project(tmp_path, "strategies.csv", CIVIL_SERVANT, CIVIL_SERVANT.replace("员", "元"))


def step_with(tmp_path: Path, condition: str) -> Path:
    """The personal growth step of the playbooks, its `when:` also requiring `condition`."""
    new = GROWTH_STEP.replace(" AND consent", f" AND {condition} AND consent")
    return project(tmp_path, "playbooks.yaml", GROWTH_STEP, new)


def validate(folder: Path, store: Store, *more: str, lang: str = "en") -> Result:
    arguments = ["validate", str(folder), "--store", store.location, *AT, *more]
    result = CliRunner().invoke(cli, arguments, env={"GUANXI_LANG": lang})
    assert result.exit_code == 0, result.output
    return result


def warned(result: Result, folder: Path) -> str:
    """The value-held-by-nobody warnings of stderr, each with its source line and hint."""
    blocks = shown(result, folder).split("<project>")
    return "".join(f"<project>{b}" for b in blocks if f"[{CODE}]" in b.split("\n")[0])


def position(folder: Path, file: str, text: str) -> tuple[int, int]:
    """1-based line and column of the first `text` in the project's `file`."""
    for number, line in enumerate((folder / file).read_text("utf-8").splitlines(), start=1):
        if text in line:
            return number, line.index(text) + 1
    raise AssertionError(f"{text} not in {file}")


def test_a_typo_in_a_table_cell_is_warned_at_its_column_with_the_value_meant(
    loaded: Store, tmp_path: Path
) -> None:
    folder = civil_servant_typo(tmp_path)
    assert position(folder, "strategies.csv", "公务元") == (3, 83)
    assert warned(validate(folder, loaded), folder) == TYPO_EN


def test_the_warning_speaks_chinese(loaded: Store, tmp_path: Path) -> None:
    folder = civil_servant_typo(tmp_path)
    assert warned(validate(folder, loaded, lang="zh"), folder) == TYPO_ZH


def test_a_typo_in_a_yaml_condition_is_warned_at_the_text(loaded: Store, tmp_path: Path) -> None:
    folder = step_with(tmp_path, "branch IN ('长沙望城支行', '湘谭岳塘支行')")
    line, col = position(folder, "playbooks.yaml", "'湘谭岳塘支行'")
    result = validate(folder, loaded)
    headline, source, caret, hint = warned(result, folder).splitlines()
    assert headline == (
        f"<project>/playbooks.yaml:{line}:{col}: warning[{CODE}]: '湘谭岳塘支行' is held by no"
        " customer in the store (branch (所属网点): 1,955 customers have one)"
    )
    assert caret.endswith(" " + "^" * 14)  # the text in its quotes, two columns a 汉字
    assert hint == "  hint: did you mean '湘潭岳塘支行' (417 customers)?"
    assert "'长沙望城支行'" in source


def test_a_text_in_a_folded_block_after_amounts_in_万_is_pointed_at(
    loaded: Store, tmp_path: Path
) -> None:
    """The condition is compiled with 20万 written out; the column is the written text's."""
    old = "AND contribution_pct >= 70% AND products_held >= 4"
    folder = project(tmp_path, "tiers.yaml", old, f"{old} AND occupation <> '宇航员'")
    line, col = position(folder, "tiers.yaml", "'宇航员'")
    result = validate(folder, loaded)
    found = warned(result, folder).splitlines()
    assert found[0].startswith(f"<project>/tiers.yaml:{line}:{col}: warning[{CODE}]: '宇航员'")
    assert found[3] == (  # nothing close: the values held most
        "  hint: the occupation held most: '企业职员' 321, '退休' 213, '个体工商户' 129,"
        " '工人' 119, '自由职业' 113"
    )


def test_a_like_pattern_is_no_value(loaded: Store, tmp_path: Path) -> None:
    folder = step_with(tmp_path, "(occupation LIKE '公务元%' OR occupation = '公务元')")
    line, col = position(folder, "playbooks.yaml", "= '公务元'")
    found = [x for x in warned(validate(folder, loaded), folder).splitlines() if CODE in x]
    assert found == [
        f"<project>/playbooks.yaml:{line}:{col + 2}: warning[{CODE}]: '公务元' is held by no"
        " customer in the store (occupation (职业): 1,635 customers have one)"
    ]


def test_texts_some_customer_holds_are_not_warned(loaded: Store, ruleset: RuleSet) -> None:
    """The shipped rules compare occupation with nine texts, each held in the demo data."""
    compared = {(c.field, c.value) for c in ruleset.compared_values}
    assert ("occupation", "公务员") in compared and len(compared) == 9
    assert coverage(loaded, ruleset, NOW).unheld == ()
    assert CODE not in validate(Path(ruleset.root), loaded).stderr


def test_a_field_with_values_is_checked_once_without_the_store(
    loaded: Store, tmp_path: Path, ruleset: RuleSet
) -> None:
    """kind, credit_rating and preferred_channel list their values: a text outside them is an
    error of validate alone, never also a warning of the store."""
    assert {c.field for c in ruleset.compared_values} == {"occupation"}
    folder = project(tmp_path, "strategies.csv", ",personal,not dormant,", ",persnal,not dormant,")
    arguments = ["validate", str(folder), "--store", loaded.location, *AT]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1
    assert "error[unknown-value]: column 'kind': 'persnal' is not a value of kind" in result.stderr
    assert CODE not in result.stderr


def test_an_empty_store_warns_nothing(store: Store, tmp_path: Path) -> None:
    folder = civil_servant_typo(tmp_path)
    assert coverage(store, load_ruleset(folder), NOW).unheld == ()
    assert CODE not in validate(folder, store).stderr


def test_the_warning_is_in_the_json(loaded: Store, tmp_path: Path) -> None:
    folder = civil_servant_typo(tmp_path)
    found = json.loads(validate(folder, loaded, "--json").stdout)["diagnostics"]
    held = [d for d in found if d["code"] == CODE]
    assert [(d["line"], d["col"], d["severity"]) for d in held] == [(3, 83, "warning")]


@pytest.mark.parametrize(
    ("written", "held", "close"),
    [
        ("公务元", "公务员", True),  # one character typed wrong
        ("公务", "公务员", True),  # left out
        ("湘潭岳塘支行行", "湘潭岳塘支行", True),  # added
        ("ＲＭ００１", "RM001", True),  # full width, as ids are stored in NFKC
        ("manufacturing", "Manufacturing", True),
        ("教师", "医生", False),
        ("A", "B", False),  # one character of one: anything would be close
        ("公务员", "公务员", False),  # the same: nothing to suggest
        ("公务元员", "公务员元", False),  # two characters off
    ],
)
def test_a_slip_of_one_character_is_close(written: str, held: str, close: bool) -> None:
    assert is_close(written, held) is close


def test_the_project_compared_against_is_not_searched(loaded: Store, tmp_path: Path) -> None:
    """`--against OLD` counts OLD's customers per rule; its texts held by nobody are not the
    project's being validated, so they are neither shown nor queried."""
    typo = civil_servant_typo(tmp_path / "old")
    right = project(tmp_path / "new", "strategies.csv", CIVIL_SERVANT, CIVIL_SERVANT)
    assert CODE not in validate(right, loaded, "--against", str(typo)).stderr
    assert coverage(loaded, load_ruleset(typo), NOW, with_unheld=False).unheld == ()
    assert len(coverage(loaded, load_ruleset(typo), NOW).unheld) == 1
