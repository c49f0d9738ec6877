"""Ctrl-C in the middle of a long command ends it with one line saying what was kept and what
to do, exit 130 (as a shell reports SIGINT), never a traceback; running it again carries on."""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from guanxi.engine.demo_data import write_demo_data

RULES = Path(__file__).parent.parent / "rules"
INTERRUPTED = {
    "en": "interrupted (已中断): the store keeps what it had finished writing and rolled back"
    " its unfinished write; a file being written may be incomplete. Run the command again"
    " to carry on\n",
    "zh": "已中断：数据库保留已写完的部分，未完成的写入已撤销；正在写的文件可能不完整。"
    "再运行一次命令即可继续\n",
}


def as_from_a_terminal() -> None:
    """Ctrl-C's default in the child. A shell starts a background job with SIGINT ignored, and
    a process started so inherits that (Python then installs no KeyboardInterrupt): whoever
    runs the suite from a script with `&` would see the load carry on, exit 0, stderr empty."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def guanxi(folder: Path, lang: str, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "guanxi.cli", "--lang", lang, *args]
    return subprocess.Popen(
        [*command, "--rules", str(RULES), "--store", str(folder / "guanxi.db")],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        preexec_fn=as_from_a_terminal,
    )


def customers_in(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM customers").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def interrupted_after_a_batch(folder: Path, lang: str) -> tuple[int, str]:
    """Ctrl-C once the load has committed a batch of rows the store did not hold."""
    before = customers_in(folder / "guanxi.db")
    load = guanxi(folder, lang, "load", "customers", "customers.csv")
    deadline = time.monotonic() + 120
    while customers_in(folder / "guanxi.db") == before and load.poll() is None:
        assert time.monotonic() < deadline, "no batch was committed"
        time.sleep(0.05)
    assert load.poll() is None, "the load finished before it could be interrupted"
    load.send_signal(signal.SIGINT)
    _, err = load.communicate(timeout=60)
    return load.returncode, err


def test_ctrl_c_during_a_load_is_one_line_and_running_it_again_carries_on(
    tmp_path: Path,
) -> None:
    for lang in ("en", "zh"):  # each on a store of its own: a second load of the same file
        folder = tmp_path / lang  # has few rows left to add, and may end before the signal
        folder.mkdir()
        write_demo_data(folder, 60_000, 1, dt.date(2026, 11, 28), bad_rows=False)
        code, err = interrupted_after_a_batch(folder, lang)
        assert code == 130, err
        assert "Traceback" not in err and err.endswith(INTERRUPTED[lang]), err
        kept = customers_in(folder / "guanxi.db")
        assert 0 < kept < 60_000
    again = guanxi(folder, "en", "load", "customers", "customers.csv")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert customers_in(folder / "guanxi.db") == 60_000
