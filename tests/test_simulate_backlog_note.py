"""The README's day on a fresh folder, up to `guanxi simulate`: the note counting the backlog
("7 of them were due before the start") stands right under the deliveries it counts, not
under the note about quarantined rows that comes between them otherwise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli


def guanxi(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code in (0, 3), result.output  # 3: the demo's bad rows quarantined
    return result.stdout


def test_the_backlog_note_follows_the_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    guanxi("init", "my-rules")
    guanxi("demo-data", "--customers", "300", "--dir", ".")
    guanxi("load", "customers", "customers.csv", "--rules", "my-rules")
    guanxi("classify", "--rules", "my-rules")
    guanxi("load", "events", "events.jsonl", "--rules", "my-rules")
    shown = guanxi("simulate", "--rules", "my-rules", "--days", "1", "--json")
    notes = json.loads(shown)["rules"]["notes"]
    assert any(note.startswith("not simulated: 4 customer rows quarantined") for note in notes)
    delivered = next(i for i, note in enumerate(notes) if note.startswith("delivered: "))
    assert re.fullmatch(r"\d+ of them were due before the start: .*", notes[delivered + 1])
