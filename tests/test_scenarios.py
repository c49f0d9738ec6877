"""Scenario tests (`guanxi test`): the default project's scenarios pass through the real
pipeline; a broken rule makes the scenario that guards it fail with a difference people can
read; JUnit XML, JSON and rule coverage."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import xml.etree.ElementTree as ET
import zoneinfo
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.models import Expectation, ExpectedFollowup, Scenario
from guanxi.engine.ruleset.ruleset import ScenarioFile
from guanxi.engine.scenarios import Outcome, Planned, junit_xml, play
from guanxi.engine.scenarios.compare import differences
from guanxi.engine.scenarios.run import SuiteResult, run_scenario

RULES = Path(__file__).parent.parent / "rules"
ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
RESPONSIBLE = "负责型 a valuable customer gets a call three business days after a sale"


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__", "*.py"))
    return project


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def guanxi_test(*arguments: str) -> Result:
    return CliRunner().invoke(cli, ["test", *arguments])


def test_the_default_scenarios_pass_and_cover_all_but_what_no_step_can_reach(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    junit = tmp_path / "scenarios.xml"
    result = guanxi_test(str(RULES), "--coverage", "--junit", str(junit))
    assert result.exit_code == 0, result.output
    count = sum(len(f.scenarios) for f in ruleset.scenarios)
    assert result.stdout.count("PASS  ") == count
    assert f"PASS  {RULES}/tests/tiers_and_levels.yaml:33  {RESPONSIBLE}\n" in result.stdout
    assert f"{count} passed (" in result.stdout
    # every message step is due at 10:00 or 10:30 and asks for the preferred channel, so no
    # default step can meet quiet hours or an explicit channel's consent
    missed = result.stdout.split("not exercised by any scenario:\n")[1].splitlines()
    assert [line.split(" (")[0].strip() for line in missed] == [
        "policy channel_consent",
        "policy quiet_hours",
    ]
    suites = ET.parse(junit).getroot()
    assert (suites.get("tests"), suites.get("failures"), suites.get("errors")) == (
        str(count),
        "0",
        "0",
    )
    [case] = [c for c in suites.iter("testcase") if c.get("name") == RESPONSIBLE]
    assert (case.get("line"), case.get("classname")) == ("33", "tests.tiers_and_levels")


def test_a_longer_delay_fails_the_scenario_that_guards_it_with_a_difference(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path)
    edit(project / "playbooks.yaml", "after: 3 business days", "after: 4 business days")
    junit = tmp_path / "scenarios.xml"
    result = guanxi_test(str(project), "--junit", str(junit))
    assert result.exit_code == 1
    block = result.stdout.split(f"FAIL  {project}/tests/tiers_and_levels.yaml:33  {RESPONSIBLE}\n")
    assert block[1].startswith(
        "      1 follow-up expectation(s) not met (- expected, + planned)\n"
        "        - responsible_post_sale_call · rm_task · due 2026-10-09T10:00\n"
        # 4 business days after 29 September: 30 Sep, 8, 9 and 10 Oct (a make-up Saturday)
        "        + responsible_post_sale_call · rm_task · due 2026-10-10 10:00 · pending\n"
    )
    assert f"PASS  {project}/tests/tiers_and_levels.yaml:6  " in result.stdout
    [case] = [c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == RESPONSIBLE]
    failure = case.find("failure")
    assert failure is not None and "due 2026-10-10 10:00" in (failure.text or "")


def test_a_higher_tier_threshold_fails_with_the_tier_expected_and_got(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    # valuable customers transact 20 times a month, not 10: 负责型's customer, 15, is not
    busy = "AND monthly_txn_count >= {} AND contribution_pct >= 70%\n  - name: low_value"
    edit(project / "tiers.yaml", busy.format(10), busy.format(20))
    result = guanxi_test(str(project), "--only", "负责型", "--json")
    assert result.exit_code == 1
    [found] = json.loads(result.stdout)["scenarios"]
    assert found["status"] == "failed"
    assert [d["message"] for d in found["differences"]] == ["expected tier valuable, got low_value"]
    assert found["actual"]["level"] == "responsible"  # a low-value customer worth 3× the cost


def test_a_quiet_hours_scenario_in_a_project_that_can_meet_them(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(
        project / "playbooks.yaml",
        'on: sale\n      after: 1 day\n      at: "10:00"',
        'on: sale\n      after: 1 day\n      at: "22:00"',
    )
    (project / "tests" / "quiet.yaml").write_text(
        """population: population.csv
scenarios:
  - name: an invitation due at 22:00 waits for the morning
    today: "2026-11-02"
    customer: {customer_id: Q1, name: 夜, kind: personal, balance: 30000,
               last_txn_date: "2026-10-28", annual_contribution: 600, cost_to_serve: 300,
               preferred_channel: sms, consent_sms: true}
    events:
      - {type: sale, at: "2026-11-02T11:00", fields: {product: 信用卡}}
    expect:
      followups:
        - {step: passive_invite_feedback, due: "2026-11-04", channel: sms,
           policy: quiet_hours, reason: "quiet hours 21:00–08:30"}
""",
        encoding="utf-8",
    )
    result = guanxi_test(str(project), "--only", "an invitation", "--coverage", "--json")
    found = json.loads(result.stdout)
    assert [s["status"] for s in found["scenarios"]] == ["passed"]
    missed = {i["name"] for i in found["coverage"]["not_exercised"]}
    assert "quiet_hours" not in missed
    assert {"channel_consent", "capacity", "partner"} <= missed


def test_a_field_given_only_for_the_day_before_is_empty_today(ruleset: RuleSet) -> None:
    scenario = Scenario(
        name="wealth taken out",
        today="2026-11-02",
        customer={
            "customer_id": "B1",
            "name": "乙",
            "kind": "personal",  # gold is ranked within a kind: without one, B1 is alone (gold)
            "balance": 20000,
            "monthly_txn_count": 15,
            "annual_contribution": 9000,
            "cost_to_serve": 2000,
            "consent_marketing": True,
            "rm_id": "RM002",
        },
        before={"wealth_balance": 900000},
        expect=Expectation(),
    )
    outcome = play(ruleset, scenario, RULES / "tests" / "population.csv")
    assert (outcome.tier, outcome.level) == ("low_value", "responsible")
    [call] = outcome.followups
    assert (call.step, call.due, call.status) == (
        "retention_call",
        dt.datetime(2026, 11, 3, 10, 0, tzinfo=ZONE),
        "pending",
    )


def test_a_scenario_that_cannot_run_is_an_error_not_a_crash(ruleset: RuleSet) -> None:
    scenario = ruleset.scenarios[0].scenarios[0]
    broken = ScenarioFile("tests/broken.yaml", (scenario,), (3,), "tests/nowhere.csv")
    result = run_scenario(ruleset, broken, 0, scenario)
    assert result.status == "error"
    assert result.error is not None and "nowhere.csv: no such file" in result.error
    suites = ET.fromstring(junit_xml(SuiteResult([result])))
    error = suites.find("testsuite/testcase/error")
    assert error is not None and "nowhere.csv" in str(error.get("message"))


def test_invalid_rules_are_reported_before_any_scenario_runs(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit(project / "tests" / "tiers_and_levels.yaml", "tier: dormant", "tier: dormnt")
    result = guanxi_test(str(project))
    assert result.exit_code == 1
    assert "error[unknown-tier]: no tier 'dormnt'" in result.stderr
    assert "PASS" not in result.stdout


def test_a_project_without_scenarios_says_so(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    shutil.rmtree(project / "tests")
    result = guanxi_test(str(project))
    assert result.exit_code == 0
    assert "no scenario tests to run" in result.stderr
    assert load_ruleset(project).scenarios == ()


# --- comparing expectations with what was planned (no store needed) -----------------------


def planned(step: str, due: dt.datetime, status: str = "pending", policy: str = "") -> Planned:
    policies = (policy,) if policy else ()
    reasons = (f"{policy} said so",) if policy else ()
    return Planned(step, "task", "rm_task", due, status, policies, reasons)


def outcome(*followups: Planned) -> Outcome:
    return Outcome("C1", "valuable", "responsible", "growth", False, followups)


MORNING = dt.datetime(2026, 11, 5, 10, 0, tzinfo=ZONE)
NEXT_DAY = MORNING + dt.timedelta(days=1)


def test_a_date_matches_the_local_day_and_a_time_the_instant() -> None:
    found = outcome(planned("call", MORNING))
    for due, matches in [
        ("2026-11-05", True),
        ("2026-11-05T10:00", True),
        ("2026-11-05T02:00:00+00:00", True),
        ("2026-11-05T10:01", False),
        ("2026-11-04", False),
    ]:
        expect = Expectation(followups=(ExpectedFollowup(step="call", due=due),))
        assert (differences(expect, found, ZONE) == []) is matches, due


def test_each_expected_follow_up_needs_one_of_its_own() -> None:
    two = (ExpectedFollowup(step="call"), ExpectedFollowup(step="call", due="2026-11-05"))
    found = differences(Expectation(followups=two), outcome(planned("call", MORNING)), ZONE)
    [difference] = found
    assert difference.lines == ("- call",)  # the one call went to the expectation with a date
    both = outcome(planned("call", MORNING), planned("call", NEXT_DAY))
    assert differences(Expectation(followups=two), both, ZONE) == []


def test_suppressed_follow_ups_do_not_happen_and_are_matched_by_their_policy() -> None:
    stopped = outcome(planned("call", MORNING, "suppressed", "do_not_contact"))
    expect = Expectation(
        suppressed=(ExpectedFollowup(step="call", policy="do_not_contact"),),
        no_followups=("call",),
    )
    assert differences(expect, stopped, ZONE) == []
    happening = outcome(planned("call", MORNING))
    [difference] = differences(expect, happening, ZONE)
    assert difference.lines == (
        "- call · suppressed or cancelled · by do_not_contact",
        "- no call follow-up that happens",
        "+ call · rm_task · due 2026-11-05 10:00 · pending",
    )


def test_tier_level_strategy_and_gold_differences_read_as_sentences() -> None:
    expect = Expectation(tier="high_value_added", level="partner", strategy="growth", gold=True)
    assert [d.message for d in differences(expect, outcome(), ZONE)] == [
        "expected tier high_value_added, got valuable",
        "expected level partner, got responsible",
        "expected gold yes, got no",
    ]


def test_measures_differ_beyond_the_last_digits_of_a_double() -> None:
    expect = Expectation(measures={"a": 2.75, "b": 0.3, "c": None, "d": 1.0})
    found = replace(outcome(), measures={"a": 2.5, "b": 0.1 + 0.2, "c": None, "d": None})
    assert [d.message for d in differences(expect, found, ZONE)] == [
        "expected measure a 2.75, got 2.5",
        "expected measure d 1, got (none)",
    ]


def test_a_complaint_less_changes_the_assessed_satisfaction(tmp_path: Path) -> None:
    """The shipped assessments scenario fails with the measure expected and got once one of
    its two complaints is gone; a misspelt measure is an error at its place."""
    project = copy_project(tmp_path)
    scenarios = project / "tests" / "assessments.yaml"
    edit(scenarios, '      - {type: complaint, at: "2026-10-30T09:30"', "      # ")
    result = guanxi_test(str(project), "--only", "two complaints", "--json")
    [found] = json.loads(result.stdout)["scenarios"]
    assert [d["message"] for d in found["differences"]] == [
        "expected measure complaints_365d 2, got 1",
        "expected measure satisfaction_assessed 2.75, got 3.333333",
    ]
    edit(scenarios, "{complaints_365d: 2,", "{complaint_365d: 2,")
    result = guanxi_test(str(project))
    assert result.exit_code == 1
    assert "assessments.yaml:24:18: error[unknown-field]: no measure 'complaint_365d'" in (
        result.output
    )


def test_a_control_character_in_a_scenario_leaves_the_junit_file_readable(
    tmp_path: Path,
) -> None:
    """YAML writes any character in a quoted name ("\\x1b"); XML 1.0 has no way to write one:
    put in as it is, CI could not read the report at all."""
    project = copy_project(tmp_path)
    edit(
        project / "tests/tiers_and_levels.yaml", f"name: {RESPONSIBLE}", 'name: "负责\\x1b\\x0c型"'
    )
    edit(project / "playbooks.yaml", "after: 3 business days", "after: 4 business days")
    junit = tmp_path / "scenarios.xml"
    assert guanxi_test(str(project), "--junit", str(junit)).exit_code == 1
    cases = ET.parse(junit).getroot().iter("testcase")
    [case] = [c for c in cases if (c.get("name") or "").startswith("负责")]
    assert case.get("name") == "负责\\x1b\\x0c型"
    assert case.find("failure") is not None
