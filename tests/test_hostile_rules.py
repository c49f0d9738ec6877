"""Hostile rule projects: files named outside the project, endless or huge files, YAML bombs,
deep nesting. Each is refused with a diagnostic, quickly and in bounded memory, and a running
daemon keeps its last good rules and keeps ticking."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.diagnostics import Diagnostic, summary
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import CONSENTS, invitation, plan_due, rules_copy
from tests.test_validate_golden import DATA, RULES, make_project, run_validate

HOSTILE = [
    "rule_file_names_outside_project",
    "yaml_alias_bomb",
    "yaml_too_deep",
    "huge_numbers",
    "condition_too_complex",
    "empty_condition",
]
SECRET = "s3cret-from-the-environment"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return project


def _replace(project: Path, name: str, old: str, new: str) -> None:
    path = project / name
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def _codes(project: Path) -> list[tuple[str, str]]:
    return [(Path(d.file).name, d.code) for d in validate_project(project).diagnostics]


# --- files a rule project names -----------------------------------------------------------


def test_decision_table_proc_self_environ_does_not_print_the_environment(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _replace(project, "strategies.yaml", "table: strategies.csv", "table: /proc/self/environ")
    code, stdout, stderr = run_validate(project)
    assert code == 1
    assert "<project>/strategies.yaml:4:17: error[outside-project]" in stderr
    assert "PATH=" not in stdout + stderr  # the process's environment, as it started


def test_a_symlink_to_a_file_outside_the_project_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(f"name,label\n{SECRET},x\n", "utf-8")
    project = _project(tmp_path)
    (project / "strategies.csv").unlink()
    (project / "strategies.csv").symlink_to(outside)
    code, stdout, stderr = run_validate(project)
    assert code == 1
    assert (
        "strategies.yaml:4:17: error[outside-project]: 'strategies.csv' links to a file" in stderr
    )
    assert SECRET not in stdout + stderr


def test_a_rule_file_that_links_out_of_the_project_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "levels.yaml"
    shutil.copy(_project(tmp_path / "a") / "levels.yaml", outside)
    project = _project(tmp_path / "b")
    (project / "levels.yaml").unlink()
    (project / "levels.yaml").symlink_to(outside)
    assert _codes(project) == [("levels.yaml", "outside-project")]


def test_a_link_inside_the_project_is_followed(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "tables").mkdir()
    (project / "strategies.csv").rename(project / "tables" / "strategies.csv")
    (project / "strategies.csv").symlink_to(project / "tables" / "strategies.csv")
    assert _codes(project) == []


def test_a_pipe_named_as_a_decision_table_is_refused_without_blocking(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "strategies.csv").unlink()
    os.mkfifo(project / "strategies.csv")  # reading it would wait for a writer forever
    assert _codes(project) == [("strategies.yaml", "not-a-file")]


def test_a_huge_table_is_refused_after_reading_no_more_than_the_limit(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with (project / "strategies.csv").open("r+b") as table:
        table.truncate(2_000_000_000)  # sparse: 2 GB on paper, nothing on disk
    tracemalloc.start()
    try:
        result = validate_project(project)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [diagnostic] = result.diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "file-too-large",
        "the file is 2000.0 MB; this file may be at most 5 MB",
    )
    assert peak < 50_000_000


# --- every hostile project: exit 1, a diagnostic, quickly, in bounded memory ---------------


@pytest.mark.parametrize("case", HOSTILE)
def test_validate_refuses_each_hostile_project_quickly_with_a_diagnostic(
    tmp_path: Path, case: str
) -> None:
    project = make_project(tmp_path, case)
    started = time.perf_counter()
    code, _, stderr = run_validate(project)
    assert time.perf_counter() - started < 10  # the alias bomb took 58 s, then MemoryError
    assert code == 1
    assert "error[" in stderr and "Traceback" not in stderr
    assert max(len(line) for line in stderr.splitlines()) < 300


def test_a_yaml_alias_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    project = make_project(tmp_path, "yaml_alias_bomb")
    tracemalloc.start()
    try:
        result = validate_project(project)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [d.code for d in result.diagnostics] == ["too-many-aliases"]
    assert peak < 50_000_000  # 2.4 GB before the limit


# --- diagnostics quote little ---------------------------------------------------------------


def test_a_diagnostic_quotes_only_a_short_sanitized_excerpt() -> None:
    hostile = "\x1b[31m" + "SECRET=" * 10_000
    diagnostic = Diagnostic("x.csv", 1, 50_001, "unknown-field", f"column '{hostile}'", hostile)
    rendered = diagnostic.render(hostile + "\n")
    assert "\x1b" not in rendered
    assert all(len(line) <= 260 for line in rendered.splitlines())
    assert len(rendered) < 800
    caret_line = rendered.splitlines()[2]
    source_line = rendered.splitlines()[1]
    assert source_line[caret_line.index("^")] == hostile[50_000]


def test_a_reload_log_shows_a_bounded_summary_of_the_diagnostics() -> None:
    many = [Diagnostic("t.yaml", n, 1, "yaml-syntax", "x" * 5_000) for n in range(1, 501)]
    lines = {"t.yaml": ["y" * 100_000] * 500}
    text = summary(many, lines)
    assert len(text) < 10_000
    assert text.endswith("… and 490 more; 'guanxi validate' lists them all")


# --- the daemon keeps its last good rules ---------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    rules = rules_copy(tmp_path)
    store = SQLiteStore(tmp_path / "guanxi.db")
    daemon = Daemon(rules, load_ruleset(rules), store, FixedClock(NOW), folder=tmp_path, port=None)
    yield daemon
    daemon.running.adapters.close()
    store.close()


def test_the_daemon_keeps_its_last_good_rules_and_ticks_through_every_hostile_reload(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    good = daemon.running.ruleset.hash
    due = NOW - dt.timedelta(minutes=1)
    plan_due(daemon.store, 1, due)
    assert daemon.dispatch_tick().sent == 1
    for number, case in enumerate(HOSTILE, start=1):  # a customer each: caps stay out of it
        shutil.copytree(DATA / case, daemon.rules, dirs_exist_ok=True)
        with caplog.at_level(logging.ERROR, logger="guanxi.daemon"):
            assert daemon.reload_if_changed() is False, case
        record = caplog.records[-1]
        assert "still using the last good rules" in record.getMessage()
        assert "error[" in record.diagnostics and len(record.diagnostics) < 10_000, case  # type: ignore[attr-defined]
        assert daemon.running.ruleset.hash == good
        customer = {"customer_id": f"C{number:06d}", "name": "客户", "phone": "13800000000"}
        daemon.store.upsert_customers([{**customer, **CONSENTS}])
        insert_followups(
            daemon.store, [invitation(customer["customer_id"], case, due)], "test", due
        )
        assert daemon.dispatch_tick().sent == 1, case
        shutil.copytree(rules_copy(daemon.rules.parent / case), daemon.rules, dirs_exist_ok=True)
