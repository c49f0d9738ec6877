"""The README's "A day with guanxi" runs as written, command by command, in an empty folder,
with the installed `guanxi` (as a new user types it, not through CliRunner)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.takes_minutes  # handed out first (conftest.py)

README = Path(__file__).parent.parent / "README.md"


def a_day() -> list[str]:
    """The commands of the first sh block under "## A day with guanxi", comments removed."""
    section = README.read_text(encoding="utf-8").split("## A day with guanxi\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no sh block under 'A day with guanxi'"
    lines = [line.split("  #", 1)[0].strip() for line in block[1].splitlines()]
    return [line for line in lines if line]


def test_the_block_is_the_day_the_readme_promises() -> None:
    commands = a_day()
    assert commands[0] == "guanxi init my-rules"
    assert any(c.startswith("guanxi demo-data") for c in commands)  # where the files come from
    assert not any("--baseline rules" in c for c in commands)  # no folder of the repository


def test_a_day_with_guanxi_runs_verbatim_in_an_empty_folder(tmp_path: Path) -> None:
    guanxi = shutil.which("guanxi")
    assert guanxi is not None, "the guanxi command is not installed (pip install -e .)"
    env = {**os.environ, "COLUMNS": "100"}
    for command in a_day():
        words = shlex.split(command)
        assert words[0] == "guanxi", command
        out = None
        if ">" in words:  # a redirection into a file in the folder
            at = words.index(">")
            words, out = words[:at], tmp_path / words[at + 1]
        run = subprocess.run(
            [guanxi, *words[1:]], cwd=tmp_path, env=env, capture_output=True, timeout=600
        )
        allowed = {0, 3} if words[1] == "load" else {0}  # 3: loaded, some rows quarantined
        assert run.returncode in allowed, f"{command}\n{run.stderr.decode(errors='replace')}"
        if out is not None:
            out.write_bytes(run.stdout)
    assert (tmp_path / "report.html").is_file()
    assert (tmp_path / "customers.csv").is_file() and (tmp_path / "guanxi.db").is_file()
    assert (tmp_path / "followups.csv").read_bytes().startswith(b"\xef\xbb\xbf")
