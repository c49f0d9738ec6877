"""The rule project's diagnostics in Chinese: with `--lang zh` every message, hint and
`expected:` of every bad project in data/bad_rules reads in Chinese (nothing is left in
English), and seven Chinese goldens (NAME.zh.expected) hold the exact text a bank user sees.
The English goldens are checked by test_validate_golden.py with GUANXI_LANG=en."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from tests.test_validate_golden import CASES, DATA, make_project

CJK = re.compile(r"[\u3400-\u9fff]")
ENGLISH = re.compile(r"\b(or|and)\b|[A-Za-z]{2,} [A-Za-z]{2,}")  # words, not a list of names
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|「[^」]*」")
KEYWORD = re.compile(r"\b[A-Z_]{2,}\b")  # AND, IS NULL: the words a condition is written in
PHRASE = re.compile(r"\b[a-z]{2,} [a-z]{2,} [a-z]{2,}\b")  # three English words in a row
ZH_GOLDEN = [
    "expression_syntax",
    "value_labels",
    "fullwidth_operators",
    "chinese_sentences",
    "tab_after_colon",
    "priority_words",
    "fullwidth_quotes",  # a quote named in words: 需要英文单引号, no space in between
]


def validate(project: Path, *options: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--lang", "zh", "validate", str(project), *options])
    normal = [r.replace(str(project), "<project>") for r in (result.stdout, result.stderr)]
    return result.exit_code, normal[0], normal[1]


def english_texts(diagnostics: list[dict[str, str | None]]) -> list[str]:
    """The message or hint of each diagnostic that has no Chinese in it, and each `expected:`
    that is more than the names to type (English words joined by 'or', 'and', a phrase)."""
    found = [
        f"{d['file']}:{d['line']}: {d['code']} {key}: {d[key]}"
        for d in diagnostics
        for key in ("message", "hint")
        if d[key] and not CJK.search(str(d[key]))
    ]
    found += [  # a Chinese sentence with an English one left in it (a library's own words)
        f"{d['file']}:{d['line']}: {d['code']} {key}: {d[key]}"
        for d in diagnostics
        for key in ("message", "hint")
        if d[key] and PHRASE.search(KEYWORD.sub("", QUOTED.sub("", str(d[key]))))
    ]
    found += [
        f"{d['file']}:{d['line']}: {d['code']} expected: {d['expected']}"
        for d in diagnostics
        if d["expected"] and not CJK.search(d["expected"]) and ENGLISH.search(d["expected"])
    ]
    return found


@pytest.mark.parametrize("case", CASES)
def test_every_diagnostic_reads_in_chinese(tmp_path: Path, case: str) -> None:
    _code, stdout, stderr = validate(make_project(tmp_path, case), "--json")
    assert "Traceback" not in stderr
    found = json.loads(stdout)
    assert english_texts(found) == []
    assert all(set(d) >= {"file", "line", "col", "code", "severity"} for d in found)


@pytest.mark.parametrize("case", ZH_GOLDEN)
def test_chinese_diagnostics_match_golden_file(tmp_path: Path, case: str) -> None:
    code, _, stderr = validate(make_project(tmp_path, case))
    expected_file = DATA / f"{case}.zh.expected"
    if os.environ.get("GUANXI_UPDATE_GOLDEN"):
        expected_file.write_text(f"exit {code}\n{stderr}", encoding="utf-8")
    assert f"exit {code}\n{stderr}" == expected_file.read_text(encoding="utf-8")


def test_codes_stay_english_in_chinese_output(tmp_path: Path) -> None:
    _code, stdout, _ = validate(make_project(tmp_path, "unknown_field"), "--json")
    found = json.loads(stdout)
    assert [d["code"] for d in found] == ["unknown-field", "unknown-field"]
    assert found[0]["hint"] == "您是不是想写 'balance'？"
