"""`guanxi --version` and `guanxi --help` start without importing the engine: commands are
imported on first use, and the help lists each one with the line its module would give."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from guanxi.cli.lazy import load
from guanxi.cli.main import COMMANDS, cli
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES
from tests.test_classify import population

HEAVY = ("duckdb", "pyarrow", "durable_rules", "psycopg", "httpx", "pika", "sqlite_utils")


def imported_by(*args: str) -> set[str]:
    """The modules loaded by running `guanxi ARGS` in a fresh interpreter."""
    code = (
        "import sys\nfrom guanxi.cli.main import cli\n"
        f"try:\n    cli({list(args)!r}, prog_name='guanxi')\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(run.stdout.splitlines()[-1].split())


def libraries(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_lists_every_command_with_its_own_short_help() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=400)
    assert result.exit_code == 0
    listed = {
        line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1]
        for line in result.output.split("Commands:\n")[1].splitlines()
        if line.strip()
    }
    context = click.Context(cli)
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        assert command is not None
        assert listed[name] == command.get_short_help_str(limit=10_000), name


def test_every_lazy_command_imports_and_its_help_line_is_its_own() -> None:
    for name, entry in COMMANDS.items():
        command = load(entry)
        assert command.get_short_help_str(limit=10_000) == entry.short_help, name


I18N = {"guanxi.engine.i18n", "guanxi.engine.i18n.catalog", "guanxi.engine.i18n.detect"}


def test_version_and_help_import_no_command_module_and_no_heavy_library() -> None:
    for args in (["--version"], ["--help"]):
        loaded = imported_by(*args)
        commands = {m for m in loaded if m.startswith("guanxi.cli.") and m != "guanxi.cli.main"}
        light = {"guanxi.cli.failures", "guanxi.cli.lazy", "guanxi.cli.lang"}
        light |= {"guanxi.cli.options", "guanxi.cli.coverage_options"}  # click options only
        light |= {"guanxi.cli.widths"}  # help measured in columns: unicodedata and click
        assert commands <= light, args
        assert not libraries(loaded) & set(HEAVY), args
        engine = {m for m in loaded if m.startswith("guanxi.engine")}
        assert engine <= {"guanxi.engine", *I18N}, args  # the catalog: the stdlib's gettext


def test_validate_imports_no_store_driver_or_batch_engine() -> None:
    loaded = imported_by("validate", str(RULES))
    assert "guanxi.engine.ruleset" in loaded  # it did run
    assert not libraries(loaded) & set(HEAVY)


def test_the_store_s_night_on_duckdb_imports_no_pandas(tmp_path: Path, ruleset: RuleSet) -> None:
    """pyarrow.dataset imports pandas (0.2 s of CPU a night): only Spark's reader of a folder
    of Parquet files needs it, so a night of the store's own customers never loads it."""
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    store.upsert_customers(population())
    store.close()
    loaded = imported_by(
        "classify", "--rules", str(RULES), "--store", str(tmp_path / "guanxi.db"),
        "--engine", "duckdb", "--now", "2026-11-28T02:00:00+00:00",
    )  # fmt: skip
    assert "guanxi.engine.classify.store_source" in loaded  # it did run on DuckDB
    assert "pandas" not in libraries(loaded)


def test_a_night_of_a_kept_project_imports_neither_holidays_nor_apscheduler(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    """A rule project read back from the disk cache counts business days from the days off
    its calendar carries, and a night fires no schedule: neither the `holidays` package (every
    country's module once one is built) nor APScheduler is imported."""
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    store.upsert_customers(population())
    store.close()
    night = ["classify", "--rules", str(RULES), "--store", str(tmp_path / "guanxi.db")]
    imported_by(*night, "--now", "2026-11-28T02:00:00+00:00")  # keeps the project
    loaded = imported_by(*night, "--now", "2026-11-29T02:00:00+00:00")
    store = SQLiteStore(tmp_path / "guanxi.db")
    [runs] = store.execute("SELECT COUNT(*) AS n FROM classification_runs")
    store.close()
    assert runs["n"] == 2  # both nights ran
    assert not libraries(loaded) & {"holidays", "apscheduler"}
