"""One CLI: `-h` everywhere, the rule project given and found the same way by every command,
and the store remembering the project of its latest classification (migration m013)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.project import remembered
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store, open_store

RULES = Path(__file__).parent.parent / "rules"
NOW = "2026-11-20T10:00"
TODAY = dt.date(2026, 11, 20)
SHIPPED = str(default_rules_path())
# commands that use no rule project; `release propose DIR`: the project proposed is DIR
NO_RULES = {"init", "demo-data", "release propose"}
# the daemon runs until stopped (`run --once --json` prints counts); an export is JSON
NO_JSON = {"run", "customer export"}


def run(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args), prog_name="guanxi")


def leaves(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)  # imports a lazily registered command
        assert command is not None, name
        if isinstance(command, click.Group):
            found.update(leaves(command, f"{prefix}{name} "))
        else:
            found[f"{prefix}{name}"] = command
    return found


def options(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in p.opts}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder: no ./rules, no guanxi.db."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def bank(here: Path) -> Path:
    """A bank's own copy of the rules (another rule-set hash) and customers loaded into
    ./bank.db with it (the store is not classified yet)."""
    rules = here / "bank"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    with (rules / "guanxi.yaml").open("a", encoding="utf-8") as file:
        file.write("# the bank's copy\n")
    write_demo_data(here / "data", 40, seed=3, today=TODAY, bad_rows=False)
    loaded = run("load", "customers", "data/customers.csv", "--rules", "bank", "--store", "bank.db")
    assert loaded.exit_code == 0, loaded.output
    return rules


def first_customer(here: Path) -> str:
    return (here / "data" / "customers.csv").read_text("utf-8").splitlines()[1].split(",")[0]


def test_h_is_help_on_the_group_and_on_every_command() -> None:
    assert run("-h").stdout.startswith("Usage: guanxi [OPTIONS] COMMAND [ARGS]...")
    for name in leaves(cli):
        result = run(*name.split(), "-h")
        assert result.exit_code == 0, (name, result.output)
        assert result.stdout.startswith(f"Usage: guanxi {name} "), name


def test_the_help_lists_every_exit_code() -> None:
    text = run("--help").stdout
    assert "Exit codes:\n    0  done\n    1  an error" in text
    assert "3  guanxi load: loaded, some rows quarantined" in text


def test_every_command_takes_rules_and_json_by_the_same_names() -> None:
    for name, command in leaves(cli).items():
        if name not in NO_RULES:
            assert "--rules" in options(command), name
        assert "--json" in options(command) or name in NO_JSON, name
    assert "--json" in options(leaves(cli)["run"])  # with --once


def test_demo_and_demo_data_take_the_same_folder_option_and_size() -> None:
    demo, data = leaves(cli)["demo"], leaves(cli)["demo-data"]
    for command in (demo, data):
        folder = next(p for p in command.params if "--dir" in p.opts)
        assert folder.default == Path("guanxi-demo")
        assert next(p for p in command.params if "--customers" in p.opts).default == 2000
        assert "--out" in options(command)  # demo-data's old name, hidden
    assert "--out" not in run("demo-data", "-h").stdout


def test_demo_data_still_takes_out(here: Path) -> None:
    result = run("demo-data", "--customers", "20", "--out", "old", "--today", "2026-11-20")
    assert result.exit_code == 0, result.output
    assert (here / "old" / "customers.csv").is_file()


def test_validate_test_and_rules_take_folder_or_rules(here: Path) -> None:
    for command in ("validate", "rules", "test"):
        short = run(command, str(RULES))
        long = run(command, "--rules", str(RULES))
        timeless = (short.stdout.splitlines()[:-1], long.stdout.splitlines()[:-1])  # test's seconds
        assert short.exit_code == long.exit_code
        assert timeless[0] == timeless[1], command
        assert long.exit_code == 0, long.output
    both = run("validate", str(RULES), "--rules", "elsewhere")
    assert both.exit_code == 2
    assert f"two rule projects given: '{RULES}' and --rules 'elsewhere'" in both.stderr


def test_validate_without_a_folder_falls_back_as_the_others_do(here: Path) -> None:
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"rules: {SHIPPED} (the shipped default rules)"
    shutil.copytree(RULES, here / "rules", ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    found = run("validate")
    assert found.stderr.splitlines() == [
        "rules: ./rules (found in this folder)",
        f"rules: valid (rule-set hash {load_ruleset(here / 'rules').hash})",
    ]


def test_a_command_given_rules_says_nothing_about_them(bank: Path) -> None:
    result = run("classify", "--rules", "bank", "--store", "bank.db", "--now", NOW, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_explain_followups_and_report_use_the_project_the_store_was_classified_with(
    bank: Path, here: Path
) -> None:
    classified = run("classify", "--rules", "bank", "--store", "bank.db", "--now", NOW)
    assert classified.exit_code == 0, classified.output
    customer = first_customer(here)
    explained = run("explain", customer, "--store", "bank.db", "--now", NOW, "--json")
    assert explained.exit_code == 0, explained.output
    assert explained.stderr == "rules: ./bank (remembered by the store)\n"
    assert json.loads(explained.stdout)["ruleset_hash"] == load_ruleset(bank).hash
    assert "differs" not in run("explain", customer, "--store", "bank.db", "--now", NOW).stdout
    for command in (["followups", "list"], ["report", "--section", "distribution"]):
        result = run(*command, "--store", "bank.db", "--json")
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith("rules: ./bank (remembered by the store)\n"), command


def test_the_project_named_by_its_store_setting_is_found_in_the_default_store(
    bank: Path, here: Path
) -> None:
    """No --store either: ./guanxi.db (the shipped project's `store:`) remembers ./bank."""
    (here / "bank.db").rename(here / "guanxi.db")
    assert run("classify", "--rules", "bank", "--now", NOW).exit_code == 0
    result = run("rules", "--json")
    assert result.stderr == "rules: ./bank (remembered by the store)\n"
    assert json.loads(result.stdout)["hash"] == load_ruleset(bank).hash


def test_rules_edited_since_the_classification_are_used_and_said_so(bank: Path, here: Path) -> None:
    assert run("classify", "--rules", "bank", "--store", "bank.db", "--now", NOW).exit_code == 0
    before = load_ruleset(bank).hash
    with (bank / "guanxi.yaml").open("a", encoding="utf-8") as file:
        file.write("# edited\n")
    result = run("explain", first_customer(here), "--store", "bank.db", "--now", NOW, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "rules: ./bank (remembered by the store)",
        f"warning: the rules in {bank.resolve()} changed since the store's classification"
        f" run 1 (rule set {before}, now {load_ruleset(bank).hash}): run 'guanxi classify'"
        " to classify with them",
    ]


def test_a_remembered_project_that_is_gone_is_said_and_skipped(bank: Path, here: Path) -> None:
    assert run("classify", "--rules", "bank", "--store", "bank.db", "--now", NOW).exit_code == 0
    shutil.rmtree(bank)
    result = run("followups", "list", "--store", "bank.db", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"the store was classified with the rules in {bank.resolve()}, which are gone;"
        f" using {SHIPPED} instead",
        f"rules: {SHIPPED} (the shipped default rules)",
    ]


@pytest.mark.every_store
def test_a_classification_run_records_its_project(store: Store, ruleset: RuleSet) -> None:
    assert remembered(store) is None
    store.upsert_customers([{"customer_id": "C1", "name": "甲", "balance": 1000}])
    classify(store, ruleset, dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC))
    known = remembered(store)
    assert known is not None
    assert (known.folder, known.ruleset_hash, known.run_id) == (RULES.resolve(), ruleset.hash, 1)


@pytest.mark.every_store
def test_m013_adds_the_column_and_older_runs_remember_nothing(
    store: Store, ruleset: RuleSet
) -> None:
    store.execute(
        "INSERT INTO classification_runs (ruleset_hash, engine, started_at)"
        " VALUES ('old', 'sqlite', '2026-01-01T00:00:00+00:00')"
    )
    table = "_sqlite_migrations" if store.dialect == "sqlite" else "guanxi_migrations"
    store.execute(f"DELETE FROM {table} WHERE name = 'm013_runs_rules'")
    store.execute("ALTER TABLE classification_runs DROP COLUMN rules")
    assert remembered(store) is None  # before m013: nothing to read, and no error
    assert store.migrate() == ["m013_runs_rules"]
    assert remembered(store) is None  # the old run has no folder


def test_a_project_entered_with_cd_is_the_one_used(here: Path) -> None:
    """`guanxi init proj && cd proj`: the commands run there use proj, with its edits (a
    webhook for every channel here), not the shipped rules beside it."""
    assert run("init", "proj").exit_code == 0
    project = here / "proj"
    settings = project / "guanxi.yaml"
    edited = settings.read_text("utf-8").replace("  default: outbox", "  default: console")
    settings.write_text(edited, "utf-8")
    write_demo_data(here / "data", 20, seed=3, today=TODAY, bad_rows=False)
    inside = project.resolve()
    with pytest.MonkeyPatch.context() as cd:
        cd.chdir(inside)
        loaded = run("load", "customers", "../data/customers.csv")
        classified = run("classify", "--now", NOW)
        shown = run("rules", "--json")
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stderr.startswith("rules: . (found in this folder)\n"), loaded.stderr
    assert classified.exit_code == 0, classified.output
    assert (inside / "guanxi.db").is_file()
    assert json.loads(shown.stdout)["hash"] == load_ruleset(inside).hash != load_ruleset(RULES).hash
    store = open_store(str(inside / "guanxi.db"))
    try:
        memory = remembered(store)
    finally:
        store.close()
    assert memory is not None and memory.folder == inside
