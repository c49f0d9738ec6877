"""A new user's fifth round, following the README command by command: the command as the
documentation spells it out for a checkout (`python -m guanxi.cli.main`) runs guanxi."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_python_m_guanxi_cli_main_runs_the_command(tmp_path: Path) -> None:
    """Before: it imported the commands, did nothing and exited 0."""
    command = [sys.executable, "-m", "guanxi.cli.main", "--lang", "zh", "init", "my-rules"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("已创建 my-rules")
    assert (tmp_path / "my-rules" / "guanxi.yaml").is_file()
