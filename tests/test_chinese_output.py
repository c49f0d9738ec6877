"""A Chinese reader of the CLI reads Chinese: the demo project's commands, their help and
their error paths, run under GUANXI_LANG=zh, print no English sentence. Ids, field and rule
names, paths, quoted text and the commands to type stay as they are written."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.i18n import language
from guanxi.engine.simulate.compare import against

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`|「[^」\n]*」")
COMMAND = re.compile(r"\bguanxi(?: [a-z][a-z-]*)+")  # a command to type: guanxi load customers
PATH = re.compile(r"\S*[/\\]\S*")
NOT_ASCII = re.compile(r"[^\x00-\x7f]")  # Chinese text or punctuation: a run ends there
WORD = re.compile(r"[A-Za-z][a-z]*(?:'[a-z]+)?")  # 'ID', 'CSV', 'DIR' are names, not words
CJK = re.compile(r"[\u4e00-\u9fff]")


def english_sentences(text: str, least: int = 3) -> list[str]:
    """Runs of `least` or more English words in a row, outside quotes, paths and commands."""
    found = []
    for line in text.splitlines():
        bare = NOT_ASCII.sub(" | ", PATH.sub(" | ", COMMAND.sub(" | ", QUOTED.sub(" | ", line))))
        run: list[str] = []
        for token in [*bare.split(), "|"]:
            if WORD.fullmatch(token.strip("()[]{},.;:!?")) and not token.isupper():
                run.append(token)
                continue
            if len(run) >= least:
                found.append(" ".join(run))
            run = []
    return found


def run(*args: str | Path, lang: str = "zh") -> Result:
    env = {"GUANXI_LANG": lang, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None}
    result = CliRunner(env={**env, "COLUMNS": "200"}).invoke(
        cli, [str(a) for a in args], prog_name="guanxi"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def guanxi(*args: str | Path, lang: str = "zh") -> tuple[int, str]:
    """The exit code, and what it printed to stdout and stderr."""
    result = run(*args, lang=lang)
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, run in Chinese, with a bad events file and a bad rule project beside it."""
    folder = tmp_path_factory.mktemp("zh")
    code, shown = guanxi("demo", "--customers", "200", "--dir", folder / "demo", "--now", NOW)
    assert code == 0 and english_sentences(shown) == [], shown
    (folder / "bad.jsonl").write_text('{not json\n{"a" 1}\n"abc\n', encoding="utf-8")
    (folder / "bad_rules").mkdir()
    guanxi("init", folder / "bad_rules")
    tiers = folder / "bad_rules" / "tiers.yaml"
    tiers.write_text(tiers.read_text(encoding="utf-8").replace("balance", "balanse", 1))
    return folder


COMMANDS = [
    ["--help"],
    ["classify", "--help"],
    ["consent", "record", "--help"],
    ["classify", "--store", "{db}", "--now", NOW.isoformat()],
    ["classify", "--input", "{demo}/customers.csv", "--store", "{snapshot_db}"],
    ["classify", "--input", "{demo}/customers.csv", "--store", "{snapshot_db}"],
    ["doctor", "--store", "{snapshot_db}"],
    ["explain", "C0000001", "--store", "{db}"],
    ["explain", "NOBODY", "--store", "{db}"],
    ["explain", "C0000001", "--store", "{folder}/missing.db"],
    ["followups", "list", "--limit", "5", "--store", "{db}"],
    ["followups", "list", "--status", "bogus", "--store", "{db}"],
    ["followups", "retry", "abc", "--store", "{db}"],
    ["plan", "--from", "2026-02-30", "--store", "{db}"],
    ["load", "customers", "{folder}/missing.csv", "--store", "{db}"],
    ["load", "events", "{folder}/bad.jsonl", "--store", "{db}"],
    ["quarantine", "list", "--store", "{db}"],
    ["report", "--section", "scorecard", "--store", "{db}"],
    ["tasks", "list", "--store", "{db}"],
    ["validate", "{folder}/bad_rules"],
    ["validate", "{folder}/no_such_folder"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_command_in_chinese_prints_no_english_sentence(project: Path, command: list[str]) -> None:
    places = {
        "folder": project,
        "demo": project / "demo",
        "db": project / "demo" / "guanxi.db",
        "snapshot_db": project / "snapshot.db",
    }
    _code, shown = guanxi(*(part.format(**places) for part in command))
    assert CJK.search(shown), shown
    assert english_sentences(shown) == [], shown


def test_the_baseline_note_and_the_snapshot_warning_are_chinese_only(tmp_path: Path) -> None:
    guanxi("demo-data", "--customers", "50", "--dir", tmp_path, "--today", "2026-03-02")
    snapshot = ["--input", tmp_path / "customers.csv", "--store", tmp_path / "zh.db"]
    _code, shown = guanxi("classify", *snapshot)
    assert "这是该数据库的首次分类：只建立基线" in shown
    assert shown.count("只建立基线") == 1, shown  # said once, not in two versions
    assert "个已分类的客户在数据库中没有客户资料" in shown
    assert "解决办法：用 'guanxi load customers" in shown
    assert english_sentences(shown) == []


def test_in_english_the_baseline_note_and_the_snapshot_warning_are_english_only(
    tmp_path: Path,
) -> None:
    guanxi("demo-data", "--customers", "50", "--dir", tmp_path, "--today", "2026-03-02")
    snapshot = ["--input", tmp_path / "customers.csv", "--store", tmp_path / "en.db"]
    shown = run("classify", *snapshot, lang="en").stdout  # tables keep their 中文 labels
    notes = shown[shown.index("first classification of this store: a baseline") :]
    assert "classified customers have no customer row in the store" in notes
    assert CJK.search(notes) is None, notes


def test_single_words_of_click_the_doctor_and_the_tables_are_chinese(project: Path) -> None:
    db = project / "demo" / "guanxi.db"
    assert "命令:" in guanxi("--help")[1]
    assert "[必填]" in guanxi("tasks", "list", "--help")[1]
    marks = {line.split()[0] for line in run("doctor", "--store", db).stdout.splitlines()}
    assert marks <= {"正常", "警告", "失败"}, marks
    scorecard = guanxi("report", "--section", "scorecard", "--store", db)[1]
    assert "均值" in scorecard and re.search(r"\bmean\b", scorecard) is None, scorecard


def test_the_comparison_columns_follow_the_language_of_the_moment() -> None:
    with language("zh"):
        assert [c.label for c in against()] == ["规则", "基准", "差"]
    with language("en"):
        assert [c.label for c in against()] == ["rules", "baseline", "delta"]


def test_english_sentences_are_found_outside_quotes_paths_and_commands() -> None:
    mixed = "首次分类只建立基线。From the next run on, customers get their steps"
    assert english_sentences(mixed) == ["From the next run on, customers get their steps"]
    quoted_path_and_command = "错误：'no such file' 在 /tmp/x.csv；请运行 guanxi load customers"
    assert english_sentences(quoted_path_and_command) == []
    assert english_sentences("用法: guanxi classify [OPTIONS] FILE DIR ID") == []
