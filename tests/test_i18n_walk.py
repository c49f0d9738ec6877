"""A walk through every command in Chinese, as a bank's staff would see it: LANG=zh_CN.UTF-8
(GUANXI_LANG unset), on a small demo store. Each command runs in this process, as the
CLI's own entry point with that environment (the language is chosen per invocation); each
command's `-h` runs as `guanxi` in a subprocess, since click binds some help words when the
CLI starts. Every line a person reads must hold Chinese or be pure data (ids, numbers,
dates, paths, code words, table borders); a line with an English sentence fails the test,
and the failure lists every such line with the command that printed it."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.defaults import default_rules_path

TODAY = "2026-12-01"
NOW = "2026-12-01T10:00:00+08:00"
CJK = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|‘[^’]*’|“[^”]*”")
# a token that is data: a path, a file, an option, an identifier, a number, an email, a URL
DATA_TOKEN = re.compile(r"\S*[/\\_=@<>0-9]\S*|--?\S+|\S+\.[a-z]{2,5}\b")
# three English words in a row, one space apart (table columns are two or more apart)
CHINESE = {"LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8", "COLUMNS": "160"}
# Prints, as JSON, [exit code, stdout, stderr] of `guanxi PATH -h` for each PATH read as JSON.
HELP_SCRIPT = """
import json, sys
from click.testing import CliRunner
from guanxi.cli.main import cli
paths = json.load(sys.stdin)
helped = [CliRunner().invoke(cli, [*path, "-h"], prog_name="guanxi") for path in paths]
print(json.dumps([[r.exit_code, r.stdout, r.stderr] for r in helped]))
"""
SENTENCE = re.compile(r"\b[A-Za-z][a-z]+(?:'[a-z]+)?(?: [A-Za-z][a-z]+(?:'[a-z]+)?){2,}\b")


def english_sentences(text: str) -> list[str]:
    """The lines of `text` a Chinese reader would find untranslated."""
    found = []
    for raw in ANSI.sub("", text).splitlines():
        line = raw.strip()
        if not line or CJK.search(line):
            continue
        bare = DATA_TOKEN.sub(" ", QUOTED.sub(" ", line))
        if SENTENCE.search(bare):
            found.append(line)
    return found


def test_the_check_tells_a_sentence_from_data() -> None:
    assert english_sentences("the store has no customers: nothing to count") != []
    assert english_sentences("-h, --help  Show this message and exit.") != []
    assert english_sentences("数据库中没有客户 (load them with 'guanxi load customers FILE')") == []
    for data in (
        "C0000042  low_value  basic  2026-12-01 09:30",
        "│ welcome_call │ rm_task │ pending │ 12 │",
        "rules/tiers.yaml:14:22: 'valuable customer'",
        "/tmp/demo/guanxi.db",
        "┏━━━━━━┳━━━━━┓",
    ):
        assert english_sentences(data) == [], data


class Walk:
    """Runs `guanxi` in Chinese in one folder and keeps what each command printed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = str(folder / "guanxi.db")
        self.seen: list[tuple[str, str]] = []
        self.env: dict[str, str | None] = {"GUANXI_LANG": None, **CHINESE}

    def __call__(self, *args: str, codes: tuple[int, ...] = (0,)) -> str:
        with contextlib.chdir(self.folder):
            result = CliRunner().invoke(cli, list(args), env=self.env, prog_name="guanxi")
        return self._seen(args, result.exit_code, result.stdout, result.stderr, codes)

    def helps(self, paths: list[list[str]]) -> None:
        """`guanxi PATH -h` for each of `paths`, all in one new process that started in Chinese."""
        env = {k: v for k, v in os.environ.items() if k not in ("GUANXI_LANG", "LC_ALL")}
        result = subprocess.run(
            [sys.executable, "-c", HELP_SCRIPT],
            input=json.dumps(paths),
            cwd=self.folder,
            env={**env, **CHINESE},
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
        for path, (code, stdout, stderr) in zip(paths, json.loads(result.stdout), strict=True):
            self._seen((*path, "-h"), code, stdout, stderr, (0,))

    def quietly(self, *args: str) -> str:
        """A command run for its data (--json): its output is not read by a person."""
        with contextlib.chdir(self.folder):
            result = CliRunner().invoke(cli, list(args), env=self.env, prog_name="guanxi")
        assert result.exit_code in (0, 3), result.stderr
        return result.stdout

    def _seen(
        self, args: tuple[str, ...], code: int, stdout: str, stderr: str, codes: tuple[int, ...]
    ) -> str:
        command = "guanxi " + " ".join(args)
        assert code in codes, f"{command}: {code}\n{stderr}"
        self.seen.append((command, stdout + "\n" + stderr))
        return stdout


def _first_customer(folder: Path) -> str:
    with (folder / "data" / "customers.csv").open(encoding="utf-8-sig") as file:
        return next(csv.DictReader(file))["customer_id"]


def _bad_project(folder: Path) -> Path:
    bad = folder / "bad_rules"
    shutil.copytree(default_rules_path(), bad, ignore=shutil.ignore_patterns("*.py", "*.db*"))
    tiers = bad / "tiers.yaml"
    text = tiers.read_text(encoding="utf-8")
    tiers.write_text(text.replace("balance", "balanse", 1), encoding="utf-8")
    return bad


def _walk_commands(walk: Walk) -> None:
    store = ("--store", walk.store)
    walk("demo-data", "--dir", "data", "--customers", "60", "--today", TODAY)
    walk("load", "customers", "data/customers.csv", *store, codes=(0, 3))
    walk("load", "events", "data/events.jsonl", *store, "--now", NOW, codes=(0, 3))
    walk("classify", *store, "--now", NOW)
    customer = _first_customer(walk.folder)
    walk("explain", customer, *store, "--now", NOW)
    walk("explain", customer, *store, "--now", NOW, "--unmask")
    walk("audit", "list", *store)
    walk("events", "post", "complaint", "--customer", customer, *store, "--now", NOW)
    walk("events", "plan", *store, "--now", NOW)
    walk("followups", "list", *store)
    walk("followups", "retry", "999999", *store, codes=(1,))
    tasks = json.loads(walk.quietly("followups", "list", *store, "--json"))
    owners = [f["owner"] for f in tasks.get("followups", []) if f.get("owner")]
    rm = owners[0] if owners else "RM001"
    walk("tasks", "list", "--rm", rm, *store)
    listed = json.loads(walk.quietly("tasks", "list", "--rm", rm, *store, "--json"))["tasks"]
    if listed:
        walk("tasks", "done", listed[0]["key"], "--outcome", "done", *store, "--now", NOW)
    walk("plan", *store, "--now", NOW)
    walk("run", "--once", *store, "--now", NOW)
    walk("report", *store)
    walk("simulate", *store, "--days", "1", "--start", "2026-12-02")
    walk("test", codes=(0, 1))
    walk("quarantine", "list", *store)
    rows = json.loads(walk.quietly("quarantine", "list", *store, "--json"))["quarantined"]
    if rows:
        walk("quarantine", "show", str(rows[0]["id"]), *store)
    walk("doctor", *store, "--timeout", "0.2", codes=(0, 1))
    walk("validate")
    walk("validate", str(_bad_project(walk.folder)), codes=(1,))
    walk("validate", *store)
    walk("rules")
    walk("init", "new_rules")
    walk("migrate", *store)
    walk("demo", "--dir", "demo", "--customers", "40")
    walk("retention", "--dry-run", *store)
    walk("customer", "export", customer, *store, "--output", "export.json")
    walk("customer", "erase", customer, "--yes", *store)
    walk("customer", "erasures", *store)
    walk("quarantine", "clear", "--yes", *store)


def _commands(walk: Walk) -> Iterator[list[str]]:
    """Every command and subcommand, by name, as `guanxi -h` lists them."""
    import click

    pending: list[tuple[list[str], click.Command]] = [([], cli)]
    while pending:
        path, command = pending.pop()
        yield path
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    pending.append(([*path, name], sub))


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Walk:
    walk = Walk(tmp_path_factory.mktemp("walk"))
    (walk.folder / "rules").symlink_to(default_rules_path(), target_is_directory=True)
    _walk_commands(walk)
    walk.helps(list(_commands(walk)))
    return walk


def test_every_command_and_its_help_speak_chinese(walked: Walk) -> None:
    found = [
        f"{command}: {line}" for command, text in walked.seen for line in english_sentences(text)
    ]
    assert found == [], "untranslated:\n" + "\n".join(found)


def test_the_walk_saw_every_command(walked: Walk) -> None:
    helped = {command for command, _text in walked.seen if command.endswith(" -h")}
    assert "guanxi -h" in helped and "guanxi quarantine show -h" in helped
    assert len(helped) >= 25
