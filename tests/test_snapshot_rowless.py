"""A snapshot night (`classify --input`) into a store that keeps no customer rows assigns
customers whose follow-ups nothing can plan: classify and `guanxi doctor` say so, and how to
load them; once loaded, neither does."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.doctor.rows import stored_row_checks
from guanxi.engine.ruleset import RuleSet
from tests.conftest import RULES

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
CUSTOMERS = 40


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    write_demo_data(tmp_path, CUSTOMERS, 7, NOW.date(), bad_rows=False)
    return tmp_path / "customers.csv"


def guanxi(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def night(db: Path, snapshot: Path, *options: str) -> str:
    now = ["--now", NOW.isoformat()]
    return guanxi("classify", "--rules", str(RULES), "--store", str(db), *now, *options,
                  "--input", str(snapshot))  # fmt: skip


def test_a_snapshot_night_into_a_store_without_customers_says_to_load_them(
    tmp_path: Path, snapshot: Path
) -> None:
    db = tmp_path / "guanxi.db"
    shown = " ".join(night(db, snapshot).split())
    assert (
        f"{CUSTOMERS} classified customers have no customer row in the store: their follow-ups"
        " cannot be planned or sent (no name, phone or consent)"
    ) in shown
    assert "Fix: load them with" in shown
    assert f"guanxi load customers {snapshot}" in shown
    assert "if the store holds their customer row (guanxi load customers)" in shown
    assert json.loads(night(db, snapshot, "--json"))["customers_without_row"] == CUSTOMERS


def test_once_the_snapshot_is_loaded_as_customers_no_warning(
    tmp_path: Path, snapshot: Path, ruleset: RuleSet
) -> None:
    db = tmp_path / "guanxi.db"
    night(db, snapshot)
    [check] = stored_row_checks(str(db), ruleset)
    assert (check.code, check.status) == ("customer rows", "warn")
    assert check.detail.startswith(f"{CUSTOMERS} classified customer(s) have no customer row")
    guanxi("load", "customers", "--rules", str(RULES), "--store", str(db), str(snapshot))
    shown = night(db, snapshot)
    assert "no customer row" not in shown
    assert json.loads(night(db, snapshot, "--json"))["customers_without_row"] == 0
    [check] = stored_row_checks(str(db), ruleset)
    assert (check.status, check.detail) == ("ok", "every classified customer has a customer row")
