"""Golden files: each bad rule project gives exactly the diagnostics in its .expected file.

A case is a folder under data/bad_rules/ whose files replace those of the default project.
Set GUANXI_UPDATE_GOLDEN=1 to rewrite the .expected files after a deliberate change.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli

DATA = Path(__file__).parent / "data" / "bad_rules"
RULES = Path(__file__).parent.parent / "rules"
CASES = sorted(p.name for p in DATA.iterdir() if p.is_dir())
# warnings at most: the project is valid
VALID = {"warnings", "bankers_numbers", "unreachable", "short_lease", "unread_files"}


def make_project(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "project"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    shutil.copytree(DATA / case, project, dirs_exist_ok=True)
    if (DATA / case / "tiers.yaml").exists():  # its scenarios pin the default measures
        (project / "tests" / "assessments.yaml").unlink()
    return project


def run_validate(project: Path, *options: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", str(project), *options])
    normal = [r.replace(str(project), "<project>") for r in (result.stdout, result.stderr)]
    return result.exit_code, normal[0], normal[1]


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[int, str, str]]:
    """`validate` of a case's project, run once per case for the tests below (it is
    deterministic; the case's folder name is replaced by <project> in the output)."""

    @functools.cache
    def validate(case: str) -> tuple[int, str, str]:
        return run_validate(make_project(tmp_path_factory.mktemp(case), case))

    return validate


@pytest.mark.parametrize("case", CASES)
def test_diagnostics_match_golden_file(
    validated: Callable[[str], tuple[int, str, str]], case: str
) -> None:
    code, _, stderr = validated(case)
    expected_file = DATA / f"{case}.expected"
    if os.environ.get("GUANXI_UPDATE_GOLDEN"):
        expected_file.write_text(f"exit {code}\n{stderr}", encoding="utf-8")
    assert f"exit {code}\n{stderr}" == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", [c for c in CASES if c not in VALID])
def test_every_bad_project_exits_1(
    validated: Callable[[str], tuple[int, str, str]], case: str
) -> None:
    code, _, stderr = validated(case)
    assert code == 1
    assert "Traceback" not in stderr


def test_warnings_alone_leave_the_project_valid(tmp_path: Path) -> None:
    code, _, stderr = run_validate(make_project(tmp_path, "warnings"))
    assert code == 0
    codes = {"no-catch-all", "shadowed-rule", "overlapping-rows", "unused-template"}
    assert all(f"warning[{c}]" in stderr for c in codes)


def test_bankers_numbers_compile_to_plain_numbers(tmp_path: Path) -> None:
    """`50万`, `1.2亿`, `70%`, and `>= 1,000` / `>= 300%` in a table cell: `rules` shows the
    plain numbers each back end gets."""
    project = make_project(tmp_path, "bankers_numbers")
    result = CliRunner(env={"COLUMNS": "400"}).invoke(cli, ["rules", str(project)])
    assert result.exit_code == 0, result.stderr
    shown = " ".join(result.stdout.split())
    assert "total_assets >= 500000 OR loan_balance >= 120000000" in shown
    assert "contribution_pct >= 0.7" in shown
    assert "value_ratio >= 1000" in shown
    assert "value_ratio >= 3" in shown
    assert "万" not in shown and "%" not in shown


def test_json_output_has_the_same_diagnostics(tmp_path: Path) -> None:
    code, stdout, _ = run_validate(make_project(tmp_path, "unknown_field"), "--json")
    found = json.loads(stdout)
    assert code == 1
    assert [(d["line"], d["col"], d["code"]) for d in found] == [
        (37, 41, "unknown-field"),
        (41, 40, "unknown-field"),
    ]
    assert set(found[0]) == {
        "file",
        "line",
        "col",
        "code",
        "message",
        "hint",
        "expected",
        "severity",
    }
    assert found[0]["hint"] == "did you mean 'balance'?"


def test_a_file_over_the_size_limit_is_rejected(tmp_path: Path) -> None:
    project = make_project(tmp_path, "empty_file")
    big = "# padding\n" * 500_000  # 5 MB
    (project / "levels.yaml").write_text(big, encoding="utf-8")
    code, _, stderr = run_validate(project)
    assert code == 1
    assert "<project>/levels.yaml:1:1: error[file-too-large]: the file is 5.0 MB" in stderr


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "is not a folder with a rule project" in result.stderr
