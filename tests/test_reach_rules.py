"""unreachable-rule and overlapping-rows on whole rule projects (the goldens show the text)."""

from __future__ import annotations

import shutil
from pathlib import Path

from guanxi.engine.ruleset.load import validate_project

RULES = Path(__file__).parent.parent / "rules"


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    project = tmp_path / "project"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    for name, text in files.items():
        (project / name).write_text(text, encoding="utf-8")
    return project


def _warnings(project: Path, code: str) -> list[str]:
    result = validate_project(project)
    assert result.ok, [d.headline() for d in result.diagnostics]
    return [d.message for d in result.diagnostics if d.code == code]


def test_the_shipped_rules_have_no_unreachable_rule() -> None:
    assert _warnings(RULES, "unreachable-rule") == []
    assert _warnings(RULES, "overlapping-rows") == []


STRATEGIES = """hit_policy: unique
strategies:
  - {name: gold_package, label: 甲, when: "kind = 'personal' AND balance >= 50万"}
  - {name: growth, label: 乙, when: "kind IN ('personal', 'corporate')"}
  - {name: general, label: 丙, when: "kind = 'institutional'"}
  - {name: unprofitable, label: 丁, when: "total_assets < 0 AND kind = 'institutional'"}
"""


def test_unique_rules_that_surely_overlap_are_reported(tmp_path: Path) -> None:
    project = _project(tmp_path, {"strategies.yaml": STRATEGIES})  # the names the steps use
    assert _warnings(project, "overlapping-rows") == [
        "'growth' and 'gold_package' (line 3) can match the same customer"
    ]  # not 'computed': no customer has total assets below 0, though the schema cannot say


TABLE = """name,label,kind,balance
gold_package,甲,personal,
growth,乙,not personal,>= 100
general,丙,not personal,< 100
unprofitable,丁,null,
"""


def test_table_rows_that_exclude_each_other_by_meaning_do_not_overlap(tmp_path: Path) -> None:
    yaml = "hit_policy: unique\ndecision_table: strategies.csv\n"
    project = _project(tmp_path, {"strategies.yaml": yaml, "strategies.csv": TABLE})
    assert _warnings(project, "overlapping-rows") == []  # the text check alone saw 3 overlaps


def test_a_step_for_customers_its_level_never_has_unless_the_level_is_held(tmp_path: Path) -> None:
    playbooks = (RULES / "playbooks.yaml").read_text(encoding="utf-8")
    # a high-value-added customer who repays the cost is responsible at least (levels.yaml)
    step = (
        "  basic:\n    - {id: basic_top, on: sale,"
        " when: \"tier = 'high_value_added' AND value_ratio >= 1\","
        " do: message, channel: preferred, template: invite_feedback}\n"
    )
    files = {"playbooks.yaml": playbooks.replace("  basic: []\n", step)}
    held = _project(tmp_path / "held", files)  # levels hold 2 runs, as the tiers do
    assert _warnings(held, "unreachable-rule") == []  # held at 'basic', already risen: it runs
    levels = (RULES / "levels.yaml").read_text(encoding="utf-8")
    files["levels.yaml"] = levels + "hold: 1 run\n"
    project = _project(tmp_path, files)
    line = levels.splitlines().index("  - name: responsible") + 1
    assert _warnings(project, "unreachable-rule") == [
        "this step can never run: every customer it could match is taken by level 'responsible' "
        f"(levels.yaml:{line}) before 'basic'"
    ]


def test_an_empty_date_range_is_unreachable(tmp_path: Path) -> None:
    """From 31 December to 1 January (the bounds swapped) is no day at all; the dates are
    shown as written."""
    tiers = (RULES / "tiers.yaml").read_text(encoding="utf-8")
    own = "AND products_held >= 4"
    assert own in tiers
    opened = "opened_on BETWEEN DATE '2026-12-31' AND DATE '2026-01-01'"
    project = _project(tmp_path, {"tiers.yaml": tiers.replace(own, f"{own} AND {opened}")})
    assert f"this rule can never match: '{opened}' is never true" in _warnings(
        project, "unreachable-rule"
    )
    ordered = "opened_on BETWEEN DATE '2026-01-01' AND DATE '2026-12-31'"
    project = _project(tmp_path / "2", {"tiers.yaml": tiers.replace(own, f"{own} AND {ordered}")})
    assert _warnings(project, "unreachable-rule") == []
