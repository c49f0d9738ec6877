"""Scenario results as JUnit XML, the report format CI systems read: one <testsuite> per
scenario file, one <testcase> per scenario, a <failure> with the differences, an <error>
when a scenario could not run.

XML 1.0 cannot carry a control character but tab and line breaks, nor a lone surrogate,
escaped or not; a scenario's name may hold one (YAML writes "\x1b"), and ElementTree would
write it as it is, leaving a file no CI system reads. Such a character is written as its
escape (`\x1b`), as the terminal shows it.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import PurePath

from guanxi.engine.scenarios.run import ScenarioResult, SuiteResult

NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def junit_xml(suite: SuiteResult, name: str = "guanxi scenarios") -> str:
    root = ET.Element("testsuites", _counts(name, suite.results))
    for file, results in itertools.groupby(suite.results, key=lambda r: r.file):
        group = list(results)
        element = ET.SubElement(root, "testsuite", _counts(file, group))
        for result in group:
            _testcase(element, result)
    ET.indent(root)
    return _xml_chars(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n"


def _xml_chars(text: str) -> str:
    """`text` with each character XML cannot hold written as its escape."""
    return NOT_IN_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _counts(name: str, results: list[ScenarioResult]) -> dict[str, str]:
    return {
        "name": name,
        "tests": str(len(results)),
        "failures": str(sum(r.status == "failed" for r in results)),
        "errors": str(sum(r.status == "error" for r in results)),
        "time": f"{sum(r.seconds for r in results):.3f}",
    }


def _testcase(parent: ET.Element, result: ScenarioResult) -> None:
    classname = f"tests.{PurePath(result.file).stem}"  # scenario files are tests/<name>.yaml
    case = ET.SubElement(
        parent,
        "testcase",
        {
            "classname": classname,
            "name": result.name,
            "file": result.file,
            "line": str(result.line),
            "time": f"{result.seconds:.3f}",
        },
    )
    if result.status == "failed":
        failure = ET.SubElement(case, "failure", {"message": result.differences[0].message})
        failure.text = "\n".join(line for d in result.differences for line in (d.message, *d.lines))
    elif result.status == "error":
        error = ET.SubElement(case, "error", {"message": result.error or "error"})
        error.text = f"{result.where}: {result.error}"
