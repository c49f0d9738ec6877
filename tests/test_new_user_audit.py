"""Mistakes a new user makes on a Chinese keyboard, found by an audit: full-width spaces in a
rule file's list items and indentation, amounts written with ¥ or in 万, a spreadsheet's blank
rows and encodings, Chinese dates on the command line. Each is read as meant, or named in
Chinese at its place with a fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import validate_project
from guanxi.engine.ruleset.fix import fix_project

RULES = Path(__file__).resolve().parent.parent / "rules"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


def edit(project: Path, file: str, old: str, new: str) -> Path:
    path = project / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def errors(project: Path) -> list[Diagnostic]:
    return [d for d in validate_project(project).diagnostics if d.severity == "error"]


# --- 1. full-width spaces in a list item and in the indentation --------------------------


def test_a_full_width_space_after_a_list_dash_is_named_and_fixed(project: Path) -> None:
    """Before: 'indented less than the lines above' at the dash, and --fix repaired nothing."""
    path = edit(project, "levels.yaml", "  - name: proactive", "  -\u3000name: proactive")
    with language("zh"):
        [error] = errors(project)
        message = error.message
    assert (error.code, error.line, error.col) == ("full-width", 10, 4)
    assert "全角空格" in message
    fix_project(project)
    assert path.read_text("utf-8") == (RULES / "levels.yaml").read_text("utf-8")


def test_a_full_width_space_of_indentation_is_fixed_to_two_spaces(project: Path) -> None:
    """It shows two columns wide: '　　label' lines up under '- name' as four spaces do.
    Before, each became one space and the line stayed wrongly indented."""
    path = edit(project, "levels.yaml", "    label: 能动型", "\u3000\u3000label: 能动型")
    with language("zh"):
        [error] = errors(project)
        message = error.message
    assert (error.code, error.line, error.col) == ("full-width", 11, 1)
    assert "全角空格" in message
    fix_project(project)
    assert path.read_text("utf-8") == (RULES / "levels.yaml").read_text("utf-8")
