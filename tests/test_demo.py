"""`guanxi demo`: the whole pipeline on demo customers, from a fresh folder, and again."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from guanxi.cli.main import cli

NOW = "2026-11-28T09:00:00"


def test_the_demo_loads_classifies_and_plans(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--customers", "400", "--dir", str(out), "--now", NOW, "--json"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["customers"]["loaded"] + report["customers"]["quarantined"] == 400
    assert report["classification"]["customers"] == report["customers"]["loaded"]
    steps = {row["step_id"] for row in report["followups"]}
    assert {"responsible_post_sale_call", "proactive_product_news"} <= steps
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["followups"] == report["followups"]


def test_the_demo_leaves_a_folder_with_other_files_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path), "--now", NOW])
    assert result.exit_code == 1
    assert "holds other files; choose another folder with --dir" in result.stderr
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"
