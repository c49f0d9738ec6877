"""`guanxi test`: run the rule project's scenario tests and say which pass."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.cli.common import chosen, folder_or_rules, validated
from guanxi.cli.options import RULES_DIR, rules_option
from guanxi.cli.output import echo, print_json, printable, write_file
from guanxi.engine.i18n import N_, _
from guanxi.engine.scenarios import (
    Coverage,
    ScenarioResult,
    SuiteResult,
    coverage,
    junit_xml,
    run_scenarios,
)

MARKS = {
    "passed": (N_("PASS"), "green"),
    "failed": (N_("FAIL"), "red"),
    "error": (N_("ERROR"), "red"),
}


@click.command("test")
@click.argument("folder", type=RULES_DIR, required=False)
@rules_option
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write the results as JUnit XML, for CI systems.",
)
@click.option(
    "--coverage",
    "with_coverage",
    is_flag=True,
    help="List the tiers, levels, strategies, playbook steps and policies no scenario exercises.",
)
@click.option(
    "--only",
    default=None,
    metavar="TEXT",
    help="Run only the scenarios whose name contains TEXT.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def test_command(
    folder: Path | None,
    rules: Path | None,
    junit: Path | None,
    with_coverage: bool,
    only: str | None,
    as_json: bool,
) -> None:
    """Run the scenario tests in the rule project's tests/*.yaml (FOLDER, short for --rules
    FOLDER) through the real pipeline, each on a throw-away store, and print pass or fail for
    each with what differed; exit 1 if any fails."""
    folder = chosen(folder_or_rules(folder, rules), None).folder
    ruleset = validated(folder, as_json=False)
    suite = run_scenarios(ruleset, only)
    covered = coverage(ruleset, suite.outcomes()) if with_coverage else None
    if junit is not None:
        text = junit_xml(suite, name=f"guanxi test {folder}")
        write_file(junit, lambda path: path.write_text(text, encoding="utf-8"))
    if as_json:
        print_json(_as_dict(suite, covered))
    else:
        _print(suite, covered, folder)
    if not suite.ok:
        raise SystemExit(1)


def _as_dict(suite: SuiteResult, covered: Coverage | None) -> dict[str, object]:
    data: dict[str, object] = {
        "passed": suite.count("passed"),
        "failed": suite.count("failed"),
        "errors": suite.count("error"),
        "scenarios": [r.to_dict() for r in suite.results],
    }
    if covered is not None:
        data["coverage"] = covered.to_dict()
    return data


def _print(suite: SuiteResult, covered: Coverage | None, folder: Path) -> None:
    if not suite.results:
        none = _("{folder}: no scenario tests to run in {tests}/*.yaml")
        click.echo(none.format(folder=folder, tests=folder / "tests"), err=True)
    for result in suite.results:
        print_result(result)
    counts = [_("{count} passed").format(count=suite.count("passed"))]
    counts += [_(words).format(count=n) for words, n in _bad_counts(suite) if n]
    click.echo(f"{', '.join(counts)} ({suite.seconds:.2f} s)")
    if covered is not None:
        _print_coverage(covered)


def _bad_counts(suite: SuiteResult) -> list[tuple[str, int]]:
    return [
        (N_("{count} failed"), suite.count("failed")),
        (N_("{count} could not run"), suite.count("error")),
    ]


def print_result(result: ScenarioResult) -> None:
    mark, colour = MARKS[result.status]
    mark = _(mark)  # marked with N_ in MARKS
    click.echo(f"{click.style(mark, fg=colour)}  {printable(f'{result.where}  {result.name}')}")
    if result.error:
        echo(f"      {result.error}")
    for difference in result.differences:
        echo(f"      {difference.message}")
        for line in difference.lines:
            echo(f"        {line}")


def _print_coverage(covered: Coverage) -> None:
    click.echo(
        _("coverage: {exercised} of {total} exercised by some scenario").format(
            exercised=covered.exercised, total=covered.total
        )
    )
    if not covered.missed:
        click.echo(_("every tier, level, strategy, playbook step and policy is exercised"))
        return
    click.echo(_("not exercised by any scenario:"))
    for item in covered.missed:
        echo(f"  {item.kind} {item.name} ({item.where})")
