"""`guanxi release` as people use it: a proposal is checked (validation, scenarios) and kept
with its simulation; another person approves it; `show` gives the diff; the daemon's
releases mode needs a live release."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.releases.proposal import simulation_summary
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store
from tests.daemon_helpers import plan_due, rules_copy

NOW = "2026-12-01T10:00:00+08:00"
GREETING, CHANGED = "感谢您购买", "谢谢您选择"


def guanxi(actor: str, *args: str) -> Result:
    runner = CliRunner(env={"COLUMNS": "200", "GUANXI_ACTOR": actor})
    return runner.invoke(cli, list(args), prog_name="guanxi")


def project(tmp_path: Path) -> Path:
    """The default rules with one scenario file of three (the checks run them all)."""
    rules = rules_copy(tmp_path)
    for scenarios in (rules / "tests").glob("*.yaml"):
        if scenarios.name != "falls_and_rises.yaml":
            scenarios.unlink()
    return rules


def replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text("utf-8").replace(old, new, 1), "utf-8")


def test_propose_approve_by_another_person_and_show_the_diff(store: Store, tmp_path: Path) -> None:
    rules = project(tmp_path)
    plan_due(store, 3, dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC))  # customers to simulate
    where = ["--store", store.location, "--now", NOW]
    proposed = guanxi("li.na", "release", "propose", str(rules), "--days", "1", *where)
    assert proposed.exit_code == 0, proposed.output
    assert "release 1 proposed by li.na" in proposed.stdout
    assert "scenario tests: 3 passed" in proposed.stdout
    assert "simulation: 1 days from 2026-12-02" in proposed.stdout

    refused = guanxi("li.na", "release", "approve", "1", "--rules", str(rules), *where)
    assert refused.exit_code == 1
    assert "release 1 was proposed by li.na: another person must approve it" in refused.stderr
    approved = guanxi("wang", "release", "approve", "1", "--rules", str(rules), *where)
    assert "release 1 approved by wang and live" in approved.stdout

    replace(rules / "templates.yaml", GREETING, CHANGED)
    again = guanxi("li.na", "release", "propose", str(rules), "--days", "1", *where)
    assert "against release 1" in again.stdout
    assert "deliveries (live release: 3)" in again.stdout
    assert "0 of 3 customers (0 %) classified differently" in again.stdout
    assert "as many follow-ups as under the live release" in again.stdout
    shown = guanxi("wang", "release", "show", "2", "--rules", str(rules), "--store", store.location)
    assert "changes against release 1:" in shown.stdout
    assert f'+    body: "{{{{ name }}}}您好，{CHANGED}' in shown.stdout
    listed = guanxi("wang", "release", "list", "--json", "--rules", str(rules), *where[:2])
    releases = json.loads(listed.stdout)
    assert [(r["id"], r["status"], r["proposer"], r["approver"]) for r in releases] == [
        (2, "proposed", "li.na", None),
        (1, "live", "li.na", "wang"),
    ]


def test_a_project_with_errors_or_failing_scenarios_is_not_proposed(
    store: Store, tmp_path: Path
) -> None:
    rules = project(tmp_path)
    settings = rules / "guanxi.yaml"
    settings.write_text(settings.read_text("utf-8") + "rules:\n  mode: release\n", "utf-8")
    where = ["--store", store.location]
    invalid = guanxi("li.na", "release", "propose", str(rules), *where)
    assert invalid.exit_code == 1
    line = settings.read_text("utf-8").splitlines().index("  mode: release") + 1
    assert f"guanxi.yaml:{line}:9: error[invalid-value]: 'release' is not allowed" in invalid.stderr
    assert "release not proposed: the rule project has errors" in invalid.stderr

    replace(settings, "mode: release", "mode: releases")
    replace(rules / "tests" / "falls_and_rises.yaml", "tier: low_value", "tier: dormant")
    failing = guanxi("li.na", "release", "propose", str(rules), *where)
    assert failing.exit_code == 1
    assert f"FAIL  {rules}/tests/falls_and_rises.yaml:8" in failing.stdout  # not the snapshot's
    assert "release not proposed: 1 of 3 scenario tests failed" in failing.stderr
    assert store.execute("SELECT count(*) AS n FROM releases")[0]["n"] == 0


def test_the_daemon_in_releases_mode_needs_a_live_release(store: Store, tmp_path: Path) -> None:
    rules = project(tmp_path)
    settings = rules / "guanxi.yaml"
    settings.write_text(settings.read_text("utf-8") + "rules:\n  mode: releases\n", "utf-8")
    ran = guanxi("li.na", "--lang", "zh", "run", "--once", "--rules", str(rules),
                 "--store", store.location)  # fmt: skip
    assert ran.exit_code == 1
    assert "guanxi release propose" in ran.stderr and "没有" in ran.stderr


def test_a_proposal_on_postgresql_says_why_no_simulation_is_kept(ruleset: RuleSet) -> None:
    summary = simulation_summary("postgresql://db/guanxi", ruleset, None, dt.date(2026, 12, 2), 7)
    assert summary == {"skipped": "postgresql"}
