"""`guanxi health` while an operator's edit has broken the rule project: the daemons' rows
and the dead letters are shown as usual, read from the store guanxi.yaml names, and the
broken project is one more problem (its file and first error, path:line:col; exit 1). Only
a broken guanxi.yaml, without --store, stops it: then nothing says where the store is.
A real SQLite store in the folder the command runs in."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.daemon import heartbeat
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import rules_copy

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
WORKER = "bank-app-1:4242"
WIDE = {"COLUMNS": "300"}  # the table's rows unwrapped


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A rule project in ./rules and its store at ./guanxi.db (its `store:` setting), with
    one daemon's row: it ticked a minute ago, every second."""
    monkeypatch.chdir(tmp_path)
    folder = rules_copy(tmp_path)
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(load_ruleset(folder).schema)
    beat = heartbeat.Beat(WORKER, NOW - dt.timedelta(hours=1), NOW - dt.timedelta(seconds=1), 1.0)
    heartbeat.record(store, beat)
    store.close()
    yield folder


def health(rules: Path, *options: str, lang: str = "en") -> Result:
    return CliRunner().invoke(
        cli,
        ["health", "--rules", str(rules), "--now", NOW.isoformat(), *options],
        env={**WIDE, "GUANXI_LANG": lang},
    )


def break_yaml(rules: Path, name: str) -> None:
    """Leave a bracket unclosed at the top of `name`."""
    path = rules / name
    path.write_text("broken: [\n" + path.read_text("utf-8"), "utf-8")


def name_unknown_field(rules: Path) -> tuple[int, int]:
    """A tier's condition names a field the schema does not declare (balanse): its line and
    column."""
    path = rules / "tiers.yaml"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("balance = 0 AND"))
    lines[at] = lines[at].replace("balance = 0", "balanse = 0")
    path.write_text("".join(lines), "utf-8")
    return at + 1, lines[at].index("balanse") + 1


def test_a_valid_project_is_healthy(rules: Path) -> None:
    result = health(rules)
    assert result.exit_code == 0, result.output
    assert WORKER in result.stdout


def test_a_syntax_error_in_tiers_yaml_shows_the_daemons_and_the_problem(rules: Path) -> None:
    break_yaml(rules, "tiers.yaml")
    result = health(rules)
    assert result.exit_code == 1, result.output
    assert WORKER in result.stdout
    assert "dead letters: 0" in result.stdout
    problem = [row for row in result.stdout.splitlines() if "tiers.yaml" in row]
    assert len(problem) == 1
    assert re.search(r"rules/tiers\.yaml:\d+:\d+: error\[yaml-syntax\]", problem[0])
    assert "the rule project has errors" in result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_field_names_its_file_line_and_column(rules: Path) -> None:
    line, col = name_unknown_field(rules)
    result = health(rules)
    assert result.exit_code == 1, result.output
    assert WORKER in result.stdout
    assert f"tiers.yaml:{line}:{col}: error[unknown-field]: " in result.stdout
    assert "balanse" in result.stdout


def test_in_chinese(rules: Path) -> None:
    line, col = name_unknown_field(rules)
    result = health(rules, lang="zh")
    assert result.exit_code == 1, result.output
    assert WORKER in result.stdout
    assert "死信：0" in result.stdout
    problem = f"规则项目有错误（guanxi validate 可列出全部）：{rules}/tiers.yaml:{line}:{col}: 错误"
    assert problem in result.stdout
    assert "不健康：规则项目有错误" in result.stderr
    assert "rule project" not in result.output


def test_json_includes_the_problem(rules: Path) -> None:
    line, col = name_unknown_field(rules)
    result = health(rules, "--json")
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)
    assert not found["healthy"]
    assert [d["worker"] for d in found["daemons"]] == [WORKER]
    problem = found["rules_problem"]
    assert problem["file"].endswith("tiers.yaml")
    assert (problem["line"], problem["col"]) == (line, col)
    assert problem["code"] == "unknown-field"


def test_a_broken_guanxi_yaml_without_store_is_a_clear_error(rules: Path) -> None:
    break_yaml(rules, "guanxi.yaml")
    result = health(rules)
    assert result.exit_code == 1
    assert "guanxi.yaml:" in result.output
    assert "error[yaml-syntax]" in result.output
    assert WORKER not in result.stdout
    assert "Traceback" not in result.output


def test_a_broken_guanxi_yaml_with_store_still_shows_the_daemons(
    rules: Path, tmp_path: Path
) -> None:
    break_yaml(rules, "guanxi.yaml")
    result = health(rules, "--store", str(tmp_path / "guanxi.db"))
    assert result.exit_code == 1, result.output
    assert WORKER in result.stdout
    assert "guanxi.yaml:" in result.stdout
    assert "error[yaml-syntax]" in result.stdout
