"""The default rule project says what the source text says (科学的分类管理, 科特勒的五种关系水平)
where its scenarios cannot show it: a schema the bank has changed, the text of templates."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from guanxi.cli.main import cli

RULES = Path(__file__).parent.parent / "rules"


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return project


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


OVERDRAWN = """\
scenarios:
  - name: 透支 an overdrawn, long-idle account is credit in use, not an empty account
    today: "2026-11-02"
    customer: {customer_id: O1, name: 透支, kind: personal, balance: -500,
               last_txn_date: "2025-06-01", opened_on: "2019-05-01",
               annual_contribution: 0, cost_to_serve: 60}
    expect:
      tier: low_value
"""


def test_an_overdrawn_account_is_not_dormant_where_the_schema_allows_one(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(
        project / "schema.yaml",
        "{type: number, unit: 元, min: 0, label: 存款余额,",
        "{type: number, unit: 元, label: 存款余额,",
    )
    (project / "tests" / "overdrawn.yaml").write_text(OVERDRAWN, encoding="utf-8")
    result = CliRunner().invoke(cli, ["test", str(project), "--only", "透支"])
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output
