"""A new user's fifth round, following the README command by command: the command as the
brief for a checkout spells it (`python -m guanxi.cli.main`) runs guanxi, and a file that
cannot be written (one open in Excel, a folder where a CSV goes) is one line naming it."""

from __future__ import annotations

import datetime as dt
import errno
import re
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.store.sqlite_utils_import import sqlite_utils
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


@pytest.fixture
def read_only_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SQLite store opened read-only, as a file copied from a share or a backup is:
    SQLite itself refuses each write (SQLITE_READONLY), as for a file root may not write."""
    opened = sqlite_utils.Database

    def read_only(path: Path, *args: Any, **kwargs: Any) -> Any:
        return opened(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False))

    monkeypatch.setattr(sqlite_utils, "Database", read_only)


@pytest.mark.parametrize(
    "command", [["classify"], ["plan"], ["load", "customers", "customers.csv"]]
)
def test_a_read_only_store_is_said_so_with_what_to_do(
    loaded: Path,  # noqa: F811
    read_only_store: None,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: 'the store could not be used just then: attempt to write a readonly database',
    run again when it answers (load: 'the store failed: …'), in English; waiting never helps."""
    monkeypatch.chdir(loaded.parent)
    (loaded.parent / "customers.csv").write_text("客户编号,客户名称\nC9,赵六\n", "utf-8")
    result = invoke(*command, "--rules", str(RULES), "--store", str(loaded))
    assert result.exit_code == 1
    said = (
        "错误：数据库只读，因此没有写入任何内容：请让当前用户可以写入数据库文件及其所在文件夹"
        "（从共享盘或备份复制来的文件常常是只读的），或用 --store 指定另一个数据库\n"
    )
    assert result.stderr.endswith(said), result.stderr


# --- a full disk, as `ulimit -f` makes one: writes past the limit fail with EFBIG -----------


def guanxi_within(limit_bytes: int, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    command = [sys.executable, "-m", "guanxi.cli", "--lang", "zh", *args]
    return subprocess.run(
        command, cwd=folder, capture_output=True, text=True, preexec_fn=limited, check=False
    )


def test_a_store_past_the_file_size_limit_is_one_line_saying_to_make_room(tmp_path: Path) -> None:
    """Before: 'the store failed: disk I/O error', in English."""
    write_demo_data(tmp_path, 2000, 1, dt.date(2026, 11, 28))
    where = ["--rules", str(RULES), "--store", "guanxi.db"]
    customers = guanxi_within(
        resource.RLIM_INFINITY, tmp_path, "load", "customers", "customers.csv", *where
    )
    assert customers.returncode == 3, customers.stderr
    size = (tmp_path / "guanxi.db").stat().st_size
    done = guanxi_within(size // 2, tmp_path, "load", "events", "events.jsonl", *where)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "错误：写入失败：有文件达到了系统允许的最大大小（ulimit -f），或磁盘已满或出了故障。"
        "数据库未完成的写入已撤销；请腾出空间后再运行一次命令\n"
    ), done.stderr


def test_a_file_past_the_file_size_limit_is_one_line_saying_to_make_room(tmp_path: Path) -> None:
    """Before: 'cannot write .: File too large' from demo-data, a traceback from --html."""
    done = guanxi_within(100_000, tmp_path, "demo-data", "--customers", "2000", "--dir", ".")
    assert done.returncode == 1
    assert done.stderr.endswith(
        "错误：写入失败：有文件达到了系统允许的最大大小（ulimit -f），或磁盘已满；"
        "请腾出空间后再运行一次命令；正在写的文件可能不完整\n"
    ), done.stderr


# --- an access request for an id the store does not hold ---------------------------------


def test_exporting_an_id_the_store_does_not_hold_is_refused_naming_it(
    loaded: Path,  # noqa: F811
) -> None:
    """Before: 'wrote 0 row(s) from 0 table(s)', an empty answer to the request, exit 0."""
    out = loaded.parent / "C0001.json"
    where = ["--rules", str(RULES), "--store", str(loaded)]
    for _ in range(2):  # the second finds the first's audit entry, and nothing else
        result = invoke("customer", "export", "C0001", "-o", str(out), *where)
        assert (result.exit_code, result.stderr) == (
            1,
            "错误：库中没有客户 C0001，也没有任何记录提到该编号：没有导出任何内容；"
            "请核对客户编号（与客户文件中的一致）\n",
        )
    assert not out.exists()


def test_an_erased_customer_is_named_so_and_the_receipt_is_in_the_projects_zone(
    loaded: Path,  # noqa: F811
) -> None:
    where = ["--rules", str(RULES), "--store", str(loaded), "--now", "2026-12-05T10:00+08:00"]
    erased = invoke("customer", "erase", "C1", "--yes", *where)
    assert erased.exit_code == 0, erased.output
    assert erased.stdout.startswith("删除回执 1：2026-12-05T10:00:00+08:00，")
    exported = invoke("customer", "export", "C1", *where)
    assert (exported.exit_code, exported.stderr) == (
        1,
        "错误：客户 C1 已于 2026-12-05 删除（回执 1）：数据库中已没有该客户的任何数据，"
        "因此没有导出任何内容\n",
    )


def test_a_daemons_status_is_not_called_a_follow_ups_status(
    loaded: Path,  # noqa: F811
) -> None:
    """Before: the health table headed the daemon's status 跟进状态 (a follow-up's status)."""
    where = ["--rules", str(RULES), "--store", str(loaded)]
    once = invoke("run", "--once", "--outbox", str(loaded.parent / "outbox.jsonl"), *where)
    assert once.exit_code == 0, once.output
    health = invoke("health", *where)
    assert health.exit_code == 0, health.output
    header = next(line for line in health.stdout.splitlines() if "守护进程" in line and "┃" in line)
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "守护进程",
        "状态",
        "最近一次轮询",
        "详情",
    ]


def test_the_experiments_are_as_of_a_time_in_the_projects_zone(
    loaded: Path,  # noqa: F811
) -> None:
    """Before: 'as of 2026-12-05T02:00:00Z', in UTC, where every other time is local."""
    where = ["--rules", str(RULES), "--store", str(loaded), "--now", "2026-12-05T10:00+08:00"]
    result = invoke("report", "--section", "experiments", *where)
    assert result.exit_code == 0, result.output
    assert "  截至 2026-12-05 10:00 (Asia/Shanghai)：" in result.stdout


def test_one_simulated_day_is_one_day(loaded: Path) -> None:  # noqa: F811
    """Before: '(1 days, Asia/Shanghai)', and a blank line on standard error where a terminal
    would have shown the progress bar."""
    where = ["--rules", str(RULES), "--store", str(loaded), "--start", "2026-11-29"]
    result = CliRunner().invoke(cli, ["--lang", "en", "simulate", "--days", "1", *where])
    assert result.exit_code == 0, result.output
    assert "  period: 2026-11-29 – 2026-11-29 (1 day, Asia/Shanghai)\n" in result.stdout
    assert "" not in result.stderr.splitlines()


def test_a_store_in_a_folder_not_made_yet_names_the_folder(tmp_path: Path) -> None:
    """Before: SQLite's 'unable to open database file', in English."""
    data = tmp_path / "c.csv"
    data.write_text("客户编号,客户名称\nC1,张三\n", "utf-8")
    store = tmp_path / "数据" / "guanxi.db"
    result = invoke("load", "customers", str(data), "--rules", str(RULES), "--store", str(store))
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        1,
        f"错误：无法打开数据库 '{store}'：没有文件夹 '{store.parent}'：请先建立它，或核对 --store",
    )
    assert not store.parent.exists()


def test_planning_before_the_first_classification_says_to_classify(
    loaded: Path,  # noqa: F811
) -> None:
    """Before: '0 new follow-ups' and nothing more; a step finds customers by their level."""
    result = invoke("plan", "--rules", str(RULES), "--store", str(loaded))
    assert result.exit_code == 0, result.output
    assert "数据库还没有分类过：请运行 'guanxi classify'\n" in result.stderr
    classify = invoke("classify", "--rules", str(RULES), "--store", str(loaded))
    assert classify.exit_code == 0, classify.output
    again = invoke("plan", "--rules", str(RULES), "--store", str(loaded))
    assert "guanxi classify" not in again.stderr


def test_a_quarantined_row_is_shown_with_its_time_in_the_projects_zone(tmp_path: Path) -> None:
    """Before: '(2026-12-06T18:02:49.619342+00:00)', in UTC, to the microsecond."""
    data = tmp_path / "c.csv"
    data.write_text("客户编号,客户名称,存款余额\nC1,张三,abc\n", "utf-8")
    where = ["--rules", str(RULES), "--store", str(tmp_path / "guanxi.db")]
    assert invoke("load", "customers", str(data), *where).exit_code == 3
    shown = invoke("quarantine", "show", "1", *where)
    assert shown.exit_code == 0, shown.output
    first = shown.stdout.splitlines()[0]
    local = r"（\d{4}-\d\d-\d\d \d\d:\d\d Asia/Shanghai）"
    assert re.fullmatch(f"客户：{re.escape(str(data))} 第 2 行{local}：未导入", first), first
