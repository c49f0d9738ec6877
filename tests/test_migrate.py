"""`guanxi migrate` on both stores, and a store that cannot be reached."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.store.postgresql import MIGRATIONS as PG_MIGRATIONS
from guanxi.engine.store.postgresql import PostgresStore

RULES = Path(__file__).parent.parent / "rules"
MIGRATIONS = list(PG_MIGRATIONS)  # the same names on SQLite (test_store checks the tables)


def migrate(store: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["migrate", "--rules", str(RULES), "--store", store, *args])


def test_migrate_a_new_sqlite_file_then_nothing(tmp_path: Path) -> None:
    where = str(tmp_path / "guanxi.db")
    first = migrate(where, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"store": where, "applied": MIGRATIONS}
    again = migrate(where)
    assert again.stdout == f"{where}: up to date, nothing to apply\n"


def test_migrate_a_new_postgresql_schema_then_nothing(postgres_url: str) -> None:
    first = migrate(postgres_url)
    assert first.exit_code == 0, first.output
    assert f"applied {len(MIGRATIONS)} migration(s): {', '.join(MIGRATIONS)}" in first.stdout
    with psycopg.connect(postgres_url) as conn:
        found = conn.execute("SELECT name FROM guanxi_migrations ORDER BY name").fetchall()
        assert [name for (name,) in found] == MIGRATIONS
        assert conn.execute("SELECT count(*) FROM followups").fetchone() == (0,)
    assert "up to date, nothing to apply" in migrate(postgres_url).stdout


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://guanxi:geheim@127.0.0.1:1/guanxi", "postgresql://guanxi:***@127.0.0.1:1/guanxi"),
        # libpq takes the password as a parameter too
        ("postgresql://guanxi@127.0.0.1:1/guanxi?sslmode=disable&password=geheim",
         "postgresql://guanxi@127.0.0.1:1/guanxi?sslmode=disable&password=***"),
    ],
)  # fmt: skip
def test_an_unreachable_server_is_a_message_without_the_password(url: str, shown: str) -> None:
    result = migrate(url)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot connect to the store {shown}: ")
    assert "geheim" not in result.output
    assert "Traceback" not in result.output


def test_two_processes_migrating_at_once_apply_each_migration_once(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url, migrate=False) for _ in range(3)]
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            applied = list(pool.map(lambda store: store.migrate(), stores))
    finally:
        for store in stores:
            store.close()
    assert sorted(applied, key=len) == [[], [], MIGRATIONS]


def test_the_rule_projects_store_setting_names_a_postgresql_database(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a SQLite store named guanxi.db would appear
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    settings = rules / "guanxi.yaml"
    text = settings.read_text(encoding="utf-8").replace(
        "store: guanxi.db", f"store: {postgres_url}"
    )
    settings.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["migrate", "--rules", str(rules), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["applied"] == MIGRATIONS
    assert not (tmp_path / "guanxi.db").exists()


def test_a_schema_not_created_yet_is_a_message_naming_the_fix(postgres_url: str) -> None:
    missing = postgres_url.replace("search_path%3D", "search_path%3Dnot_created_")
    result = migrate(missing)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "names no schema that exists in its database" in result.stderr
    assert "CREATE SCHEMA not_created_gx_test_" in result.stderr
