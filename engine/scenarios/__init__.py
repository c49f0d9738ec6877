"""Scenario tests: the rule project's `tests/*.yaml` played through the real pipeline.

run_scenarios(ruleset)                  -> SuiteResult (pass, fail or error for each)
play(ruleset, scenario, population)     -> Outcome (the customer's assignment, follow-ups)
coverage(ruleset, outcomes)             -> Coverage (what no scenario exercises)
junit_xml(suite)                        -> str (JUnit XML for CI systems)
"""

from guanxi.engine.scenarios.compare import Difference
from guanxi.engine.scenarios.coverage import Coverage, coverage
from guanxi.engine.scenarios.junit import junit_xml
from guanxi.engine.scenarios.replay import Outcome, Planned, ScenarioError, play
from guanxi.engine.scenarios.run import ScenarioResult, SuiteResult, run_scenarios

__all__ = [
    "Coverage",
    "Difference",
    "Outcome",
    "Planned",
    "ScenarioError",
    "ScenarioResult",
    "SuiteResult",
    "coverage",
    "junit_xml",
    "play",
    "run_scenarios",
]
