"""A store that is not there is an error for every command but those that create one: a
mistyped --store creates nothing. On PostgreSQL, a schema without guanxi's tables is no store."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli

RULES = Path(__file__).parent.parent / "rules"
NEEDS_A_STORE = [
    ["classify"],
    ["explain", "C1"],
    ["plan"],
    ["followups", "list"],
    ["followups", "retry", "1"],
    ["tasks", "list", "--rm", "RM1"],
    ["tasks", "done", "K1", "--outcome", "done"],
    ["events", "plan"],
    ["events", "post", "complaint", "--customer", "C1"],
    ["report"],
    ["simulate"],
    ["run", "--once"],
    ["quarantine", "list"],
    ["quarantine", "show", "1"],
    ["quarantine", "clear", "--yes"],
]


def run(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args), prog_name="guanxi")


def no_store(where: str) -> str:
    return (
        f"Error: no store at '{where}' — create one with 'guanxi load customers FILE'"
        " (or 'guanxi demo'), or check --store\n"
    )


@pytest.mark.parametrize("command", NEEDS_A_STORE, ids=" ".join)
def test_a_mistyped_store_is_an_error_and_creates_nothing(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*command, "--rules", str(RULES), "--store", "guanxi.bd")
    assert (result.exit_code, result.stderr) == (1, no_store("guanxi.bd"))
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_simulate_on_no_store_prints_no_table_of_zeros(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("simulate", "--rules", str(RULES))  # the project's store: guanxi.db
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", no_store("guanxi.db"))


def test_load_and_migrate_create_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.csv").write_text("customer_id,name\nC1,张三\n", encoding="utf-8")
    loaded = run("load", "customers", "c.csv", "--rules", str(RULES), "--store", "a.db")
    assert loaded.exit_code == 0, loaded.output
    migrated = run("migrate", "--rules", str(RULES), "--store", "b.db")
    assert migrated.exit_code == 0, migrated.output
    assert (tmp_path / "a.db").is_file() and (tmp_path / "b.db").is_file()
    assert run("followups", "list", "--rules", str(RULES), "--store", "a.db").exit_code == 0


def test_a_postgresql_schema_without_guanxi_tables_is_no_store(postgres_url: str) -> None:
    result = run("followups", "list", "--rules", str(RULES), "--store", postgres_url)
    assert (result.exit_code, result.stderr) == (1, no_store(postgres_url))
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
    assert tables == (0,)  # nothing was created


def test_load_makes_a_postgresql_schema_a_store(postgres_url: str, tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("customer_id,name\nC1,张三\n", encoding="utf-8")
    loaded = run("load", "customers", str(tmp_path / "c.csv"), "--rules", str(RULES),
                 "--store", postgres_url)  # fmt: skip
    assert loaded.exit_code == 0, loaded.output
    listed = run("followups", "list", "--rules", str(RULES), "--store", postgres_url, "--json")
    assert listed.exit_code == 0, listed.output
