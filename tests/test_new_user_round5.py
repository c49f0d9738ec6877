"""A new user's fifth round, following the README command by command: the command as the
brief for a checkout spells it (`python -m guanxi.cli.main`) runs guanxi, and a file that
cannot be written (one open in Excel, a folder where a CSV goes) is one line naming it."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_new_user import RULES, invoke, loaded  # noqa: F401  (the fixture)


def test_python_m_guanxi_cli_main_runs_the_command(tmp_path: Path) -> None:
    """Before: it imported the commands, did nothing and exited 0."""
    command = [sys.executable, "-m", "guanxi.cli.main", "--lang", "zh", "init", "my-rules"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("已创建 my-rules")
    assert (tmp_path / "my-rules" / "guanxi.yaml").is_file()


@pytest.mark.parametrize(
    ("command", "file"),
    [(["report"], "distribution.csv"), (["simulate", "--days", "1"], "rules_volumes.csv")],
)
def test_a_folder_where_a_csv_file_goes_is_one_line_naming_it(
    loaded: Path,  # noqa: F811
    command: list[str],
    file: str,
) -> None:
    """Before: a traceback (IsADirectoryError) from `--csv DIR`."""
    out = loaded.parent / "报表"
    (out / file).mkdir(parents=True)
    where = ["--rules", str(RULES), "--store", str(loaded)]
    result = invoke(*command, "--csv", str(out), *where)
    assert result.exit_code == 1
    assert result.stderr.endswith(f"错误：无法写入 {out / file}：这是一个文件夹\n")


def test_a_csv_file_open_in_excel_is_one_line_saying_so(
    loaded: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Excel locks the files it has open: writing one is refused (EACCES)."""
    out = loaded.parent / "报表"
    locked = out / "concentration.csv"
    opened = Path.open

    def excel_holds(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", excel_holds)
    result = invoke("report", "--csv", str(out), "--rules", str(RULES), "--store", str(loaded))
    assert result.exit_code == 1
    said = f"错误：无法写入 {locked}：没有写入权限；文件是否正在 Excel 等程序中打开，或是只读的？\n"
    assert result.stderr.endswith(said)
