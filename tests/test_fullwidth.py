"""Full-width punctuation typed on a Chinese keyboard: reported where it was typed, read as
the ASCII it stands for, repaired by `guanxi validate --fix`; free text keeps it."""

from __future__ import annotations

import codecs
import datetime as dt
import random
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.ruleset.fix import fix_project
from guanxi.engine.ruleset.fullwidth import apply, diagnostics, scan_table
from guanxi.engine.ruleset.fullwidth_yaml import repair_yaml
from guanxi.engine.ruleset.tables import FREE_TEXT_COLUMNS
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_validate_golden import DATA, RULES, make_project, run_validate

FULL_WIDTH_CASES = sorted(
    p.name for p in DATA.iterdir() if p.is_dir() and p.name.startswith("fullwidth_")
)
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
TWINS = {",": "，", ":": "：", ";": "；", "(": "（", ")": "）", "<": "＜", ">": "＞", "=": "＝",
         "!": "！", "%": "％", "+": "＋", "-": "－", ".": "．", " ": "\u3000",
         **{str(d): chr(0xFF10 + d) for d in range(10)}}  # fmt: skip


def copy_rules(tmp_path: Path) -> Path:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return project


def full_width(project: Path) -> list[tuple[str, int, int]]:
    found = validate_project(project).diagnostics
    return [(Path(d.file).name, d.line, d.col) for d in found if d.code == "full-width"]


def test_the_shipped_rules_have_no_full_width_finding() -> None:
    result = validate_project(RULES)
    assert result.ok
    assert result.repairs == {}
    assert "，" in (RULES / "templates.yaml").read_text("utf-8")  # there is free text to skip


def test_free_text_keeps_its_full_width_punctuation(tmp_path: Path) -> None:
    project = copy_rules(tmp_path)
    levels = project / "levels.yaml"
    text = levels.read_text("utf-8").replace("label: 伙伴型", "label: 伙伴型（大客户）：重点")
    text = text.replace(
        "when: tier = 'low_value' AND value_ratio >= 1",
        "when: tier = 'low_value' AND value_ratio >= 1 AND industry <> '制造业（重工），其他'",
    )
    levels.write_text("# 注释：（全角）\n" + text, "utf-8")
    table = project / "strategies.csv"
    table.write_text(table.read_text("utf-8").replace("低成本自助产品", "低成本（自助）：产品"))
    assert full_width(project) == []
    assert validate_project(project).ok


def test_text_in_chinese_quotes_is_quoted_text(tmp_path: Path) -> None:
    """Only the quotes are reported; what they enclose is text, as between ASCII quotes."""
    project = copy_rules(tmp_path)
    levels = project / "levels.yaml"
    written = "when: tier = 'low_value' AND industry <> ‘制造业（重工）’"
    text = levels.read_text("utf-8")
    text = text.replace("when: tier = 'low_value' AND value_ratio >= 1", written)
    levels.write_text(text, "utf-8")
    line = text.splitlines().index(f"    {written}") + 1
    opening, closing = (5 + written.index(q) for q in "‘’")
    result = validate_project(project)
    assert [(d.line, d.col, d.code) for d in result.diagnostics if d.severity == "error"] == [
        (line, opening, "full-width"),
        (line, closing, "full-width"),
    ]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """What the shipped rules assign to the population."""
    return assignments(tmp_path_factory.mktemp("p") / "clean", RULES)


@pytest.mark.parametrize("case", FULL_WIDTH_CASES)
def test_fix_gives_a_project_that_classifies_like_the_clean_one(
    tmp_path: Path, case: str, clean: list[tuple[Any, ...]]
) -> None:
    project = make_project(tmp_path, case)
    assert run_validate(project)[0] == 1
    code, stdout, stderr = run_validate(project, "--fix")
    assert code == 0, stderr
    assert stdout.startswith("--- <project>/")
    assert "valid (rule-set hash" in stderr
    assert full_width(project) == []
    assert assignments(tmp_path / "fixed", project) == clean


def test_the_clean_rules_give_the_strategy_the_table_comma_case_lost(
    clean: list[tuple[Any, ...]],
) -> None:
    strategies = [row[3] for row in clean]
    assert strategies.count("growth") >= 5


def assignments(folder: Path, rules: Path) -> list[tuple[Any, ...]]:
    folder.mkdir()
    ruleset = load_ruleset(rules)
    store = SQLiteStore(folder / "guanxi.db")
    store.prepare(ruleset.schema)
    try:
        store.upsert_customers(population())
        classify(store, ruleset, NOW)
        rows = store.execute(
            "SELECT customer_id, tier, level, strategy, gold FROM current_assignments ORDER BY 1"
        )
    finally:
        store.close()
    return [tuple(r.values()) for r in rows]


def population() -> list[dict[str, Any]]:
    """60 customers across every tier, level and strategy; every third one young, well paid
    and of good credit (growth, if not otherwise placed)."""
    rng = random.Random(14)
    rows = []
    for i in range(60):
        potential = {"age": 30, "occupation": "工程师", "annual_income": 150_000.0,
                     "credit_rating": "AA"} if i % 3 == 0 else {}  # fmt: skip
        rows.append(
            {"customer_id": f"F{i:03d}", "name": f"客户{i}", "kind": "personal",
             "monthly_txn_count": 20, **potential,
             "balance": rng.choice([12.5, 5_000.0, 600_000.0, 2_000_000.0]),
             "last_txn_date": str(NOW.date() - dt.timedelta(days=rng.choice([2, 40, 400]))),
             "products_held": rng.randint(1, 6),
             "annual_contribution": rng.choice([0.0, 800.0, 6_000.0, 90_000.0, 2_000_000.0]),
             "cost_to_serve": rng.choice([60.0, 1_000.0, 3_000.0]),
             "expected_years": float(rng.randint(1, 15))}
        )  # fmt: skip
    return rows


def test_fix_keeps_the_byte_order_mark_line_endings_and_comments(tmp_path: Path) -> None:
    project = make_project(tmp_path, "fullwidth_quotes")
    levels = project / "levels.yaml"
    broken = levels.read_text("utf-8").replace("\n", "\r\n")
    levels.write_bytes(codecs.BOM_UTF8 + broken.encode("utf-8"))
    fix_project(project)
    expected = broken.replace("‘low_value’", "'low_value'")
    assert levels.read_bytes() == codecs.BOM_UTF8 + expected.encode("utf-8")
    assert validate_project(project).ok


def test_fix_with_nothing_to_fix_changes_nothing(tmp_path: Path) -> None:
    project = copy_rules(tmp_path)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = CliRunner().invoke(cli, ["validate", str(project), "--fix"])
    assert result.exit_code == 0
    assert result.stdout == "nothing to fix\n"
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_a_key_with_a_full_width_colon_is_read_as_a_key(tmp_path: Path) -> None:
    """`after：5` needs 'after: 5' (YAML wants a space), and a later mistake on the same line
    is still shown at its own column."""
    project = make_project(tmp_path, "fullwidth_colon")
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text("utf-8").replace("after：5 business days", "after：5 busines days")
    playbooks.write_text(text, "utf-8")
    found = validate_project(project).diagnostics
    assert [(d.line, d.col, d.code) for d in found if d.severity == "error"] == [
        (28, 12, "full-width"),
        (28, 13, "invalid-duration"),
    ]
    fix_project(project)
    assert "      after: 5 busines days\n" in playbooks.read_text("utf-8")


# --- the property: any structural ASCII character typed full-width ---------------------

YAML_FILES = sorted(
    str(p.relative_to(RULES)) for p in [*RULES.glob("*.yaml"), *RULES.glob("tests/*.yaml")]
)


def structural_positions() -> list[tuple[str, int, str]]:
    """(file, index, full-width twin) for every ASCII character of the shipped rules that a
    rule project needs as ASCII: a key's colon, indentation, list dashes, characters of a
    condition outside quoted text, of a duration or time, of a decision-table cell. In the
    indentation a full-width space stands for two spaces (it shows two columns wide)."""
    found: list[tuple[str, int, str]] = []
    for name in YAML_FILES:
        text = (RULES / name).read_text("utf-8")
        for line in _lines(text):
            found += [(name, i, t) for i, t in _yaml_line(text, *line)]
    text = (RULES / "strategies.csv").read_text("utf-8")
    for start, end in _lines(text)[1:]:
        cells = text[start:end].split(",")
        tier_start = start + sum(len(c) + 1 for c in cells[:4])
        for i in range(tier_start, start + len(text[start:end]) - len(cells[-1]) - 1):
            if text[i] in TWINS and text[i] != ",":  # a cell separator is the CSV's own
                found.append(("strategies.csv", i, TWINS[text[i]]))
            elif text[i] == "," and _inside_quotes(text[start:i]):
                found.append(("strategies.csv", i, "，"))
    return found


def _lines(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((start, start + len(line.rstrip("\r\n"))))
        start += len(line)
    return spans


CONDITION = re.compile(r"^\s*(?:- )?(?:when|unless|expr): (?!>)")
TIMING = re.compile(r"^\s*(?:- )?(?:after|expires|at|per|every|hold|priority|today): ")
KEY = re.compile(r"^( *)(- +)?([a-z_]+)(:)(?= |$)")


def _yaml_line(text: str, start: int, end: int) -> list[tuple[int, str]]:
    line = text[start:end]
    if not line.strip() or line.lstrip().startswith("#") or "{" in line:
        return []
    found: list[tuple[int, str]] = []
    if (key := KEY.match(line)) is not None:
        found += [(start + i, "\u3000") for i in range(0, key.end(1) - 1, 2)]
        if key.group(2):
            found.append((start + key.start(2), "－"))
        found.append((start + key.start(4), "："))
    value = line.split("#")[0].rstrip()
    if (head := CONDITION.match(line) or TIMING.match(line)) is not None:
        for i in range(head.end(), len(value)):
            if line[i] in TWINS and not _inside_quotes(line[head.end() : i]):
                found.append((start + i, TWINS[line[i]]))
            elif line[i] == "'" and CONDITION.match(line):
                found.append((start + i, "‘" if not _inside_quotes(line[head.end() : i]) else "’"))
    return found


def _inside_quotes(before: str) -> bool:
    return before.count("'") % 2 == 1 or before.count('"') % 2 == 1


POSITIONS = structural_positions()


def typed_for(text: str, index: int, twin: str) -> int:
    """How many ASCII characters at `index` the twin stands for: two spaces of indentation."""
    line_start = text.rfind("\n", 0, index) + 1
    return 2 if twin == "\u3000" and not text[line_start : index + 2].strip() else 1


def test_the_property_has_many_positions_of_every_kind() -> None:
    twins = {t for _, _, t in POSITIONS}
    assert len(POSITIONS) > 500
    assert {"：", "\u3000", "－", "（", "）", "，", "＞", "＝", "‘", "’", "１"} <= twins
    assert any(f == "strategies.csv" for f, _, _ in POSITIONS)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(POSITIONS))
def test_any_structural_character_typed_full_width_is_found_and_repaired(
    position: tuple[str, int, str],
) -> None:
    name, index, twin = position
    original = (RULES / name).read_text("utf-8")
    broken = original[:index] + twin + original[index + typed_for(original, index, twin) :]
    if name.endswith(".csv"):
        repairs = scan_table(broken, FREE_TEXT_COLUMNS)
        repaired = apply(broken, repairs)
    else:
        repaired, repairs = repair_yaml(broken, name)
    line = original.count("\n", 0, index) + 1
    col = index - (original.rfind("\n", 0, index) + 1) + 1
    assert [(d.line, d.col) for d in diagnostics(name, broken, repairs)] == [(line, col)]
    assert apply(broken, repairs) == original
    assert repaired == original


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(POSITIONS))
def test_the_whole_project_reports_only_that_character_and_fix_restores_the_bytes(
    tmp_path_factory: pytest.TempPathFactory, position: tuple[str, int, str]
) -> None:
    name, index, twin = position
    project = copy_rules(tmp_path_factory.mktemp("p"))
    original = (project / name).read_bytes()
    text = original.decode("utf-8")
    typed = text[:index] + twin + text[index + typed_for(text, index, twin) :]
    (project / name).write_text(typed, "utf-8")
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    errors = [d for d in validate_project(project).diagnostics if d.severity == "error"]
    assert [(Path(d.file).name, d.line, d.col, d.code) for d in errors] == [
        (Path(name).name, line, col, "full-width")
    ]
    fix_project(project)
    assert (project / name).read_bytes() == original


OCCUPATIONS = '"公务员, 教师, 医生, 护士, 工程师, 律师, 会计, 企业职员, 私营企业主"'
CLEAN_OCCUPATIONS = '"公务员,教师,医生,护士,工程师,律师,会计,企业职员,私营企业主"'


@pytest.mark.parametrize("comma", ["，", "、"])
def test_a_chinese_comma_in_an_unquoted_table_cell_stays_in_its_cell(
    tmp_path: Path, comma: str, clean: list[tuple[Any, ...]]
) -> None:
    project = copy_rules(tmp_path)
    table = project / "strategies.csv"
    typed = OCCUPATIONS.strip('"').replace(", ", comma)
    table.write_text(table.read_text("utf-8").replace(OCCUPATIONS, typed), "utf-8")
    line = table.read_text("utf-8").splitlines()[2]
    commas = [i + 1 for i, c in enumerate(line) if c == comma and i < line.index(',"AAA')]
    found = validate_project(project).diagnostics
    assert [(d.line, d.col, d.code) for d in found] == [(3, c, "full-width") for c in commas]
    fix_project(project)
    assert CLEAN_OCCUPATIONS in table.read_text("utf-8")
    assert validate_project(project).diagnostics == []
    assert assignments(tmp_path / "fixed", project) == clean


def test_a_later_cell_of_a_row_so_repaired_is_pointed_at_in_the_file(tmp_path: Path) -> None:
    project = copy_rules(tmp_path)
    table = project / "strategies.csv"
    typed = OCCUPATIONS.strip('"').replace(", ", "，")
    text = table.read_text("utf-8").replace(OCCUPATIONS, typed)
    table.write_text(text.replace('"AAA, AA, A, BBB"', '"AAAA, AA"', 1), "utf-8")
    line = table.read_text("utf-8").splitlines()[2]
    [wrong] = [d for d in validate_project(project).diagnostics if d.code == "unknown-value"]
    assert (wrong.line, wrong.col) == (3, line.index("AAAA") + 1)


@pytest.mark.parametrize(("typed", "meant"), [("≥", ">="), ("≤", "<="), ("≠", "<>")])
def test_a_comparison_sign_of_a_chinese_keyboard_is_read_and_repaired(
    tmp_path: Path, typed: str, meant: str
) -> None:
    project = copy_rules(tmp_path)
    levels = project / "levels.yaml"
    clean = levels.read_text("utf-8")
    written = clean.replace("value_ratio >= 5", f"value_ratio {typed} 5")
    levels.write_text(written, "utf-8")
    line = next(i for i, text in enumerate(written.splitlines(), 1) if typed in text)
    col = written.splitlines()[line - 1].index(typed) + 1
    assert full_width(project) == [("levels.yaml", line, col)]
    fix_project(project)
    assert levels.read_text("utf-8") == clean.replace("value_ratio >= 5", f"value_ratio {meant} 5")


def test_a_comparison_sign_in_a_table_cell_is_read_and_repaired(tmp_path: Path) -> None:
    project = copy_rules(tmp_path)
    table = project / "strategies.csv"
    clean = table.read_text("utf-8")
    table.write_text(clean.replace(">= 8万", "≥ 8万"), "utf-8")
    assert [(name, line) for name, line, _col in full_width(project)] == [("strategies.csv", 3)]
    fix_project(project)
    assert table.read_text("utf-8") == clean
