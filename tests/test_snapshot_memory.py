"""The memory DuckDB may use for a snapshot: written as a bank writes it, checked where it is
written, and a run that needs more says so in words a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.errors import DataError
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.ruleset.sizes import SizeError, doubled, parse_memory
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import rules_copy
from tests.test_snapshot_screen import NOW, RULES, good, write_csv, write_parquet


@pytest.mark.parametrize(
    ("written", "spelled"),
    [("3GB", "3GB"), ("3 gb", "3GB"), ("３ＧＢ", "3GB"), ("6g", "6GB"), ("512MB", "512MB"),
     ("1.5 GiB", "1.5GiB"), (" 800 mib ", "800MiB"), ("16000GB", "16000GB")],
)  # fmt: skip
def test_amounts_are_read_as_written_on_any_keyboard(written: str, spelled: str) -> None:
    assert parse_memory(written) == spelled


@pytest.mark.parametrize("written", ["3", "lots", "3 斤", "GB", "-3GB", "50MB", "17000GB", "3TBs"])
def test_what_is_not_an_amount_from_100_mb_to_16_tb_is_refused_with_a_hint(written: str) -> None:
    with pytest.raises(SizeError) as refused:
        parse_memory(written)
    assert written in str(refused.value)
    assert refused.value.hint


@given(st.integers(min_value=100, max_value=16_000_000))
def test_every_whole_number_of_megabytes_in_range_reads_back_and_doubles(megabytes: int) -> None:
    assert parse_memory(f"{megabytes} MB") == f"{megabytes}MB"
    assert doubled(f"{megabytes}MB") == f"{megabytes * 2}MB"


def test_a_bad_snapshot_memory_is_a_diagnostic_at_its_line(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    settings = rules / "guanxi.yaml"
    settings.write_text(settings.read_text("utf-8") + "\nsnapshot_memory: 三个G\n", "utf-8")
    found = {(d.code, d.line) for d in validate_project(rules).diagnostics}
    line = settings.read_text("utf-8").splitlines().index("snapshot_memory: 三个G") + 1
    assert ("invalid-memory", line) in found


def test_the_command_refuses_a_bad_limit_or_one_for_another_engine(tmp_path: Path) -> None:
    snapshot = write_csv(tmp_path / "night.csv", [good(i, 100.0 * i) for i in range(1, 30)])
    common = ["classify", "--rules", str(RULES), "--store", str(tmp_path / "s.db")]
    bad = CliRunner().invoke(cli, [*common, "--input", str(snapshot), "--memory-limit", "lots"])
    assert bad.exit_code == 2
    assert "'lots' is not an amount of memory" in bad.output
    in_store = CliRunner().invoke(cli, [*common, "--engine", "sqlite", "--memory-limit", "6GB"])
    assert in_store.exit_code == 2
    assert "--memory-limit is for --engine duckdb" in in_store.output
    enough = CliRunner().invoke(
        cli, [*common, "--input", str(snapshot), "--memory-limit", "1 GB", "--json"]
    )
    assert enough.exit_code == 0, enough.output


def test_a_run_out_of_memory_names_the_limit_and_a_larger_one_and_writes_nothing(
    tmp_path: Path,
) -> None:
    snapshot = write_parquet(tmp_path / "night.parquet", [good(i, 10.0 * i) for i in range(4000)])
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(DataError) as refused:
        classify_snapshot(store, load_ruleset(RULES), NOW, snapshot, memory_limit="1MB")
    assert "needed more than the 1MB of memory" in str(refused.value)
    assert "snapshot_memory:" in str(refused.value) and "'2MB'" in str(refused.value)
    assert store.execute("SELECT COUNT(*) AS n FROM classification_runs")[0]["n"] == 0
    store.close()
