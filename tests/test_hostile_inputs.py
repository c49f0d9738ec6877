"""Hostile input that is small but costly or misleading: a header of a hundred thousand
columns, files naming a million fields the schema lacks, Parquet files that unpack to
gigabytes, `events post --field` naming the event's own fields, JSON lines giving a key twice,
and clients that drip their request to the daemon's health port."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.daemon.health import MAX_CONNECTIONS, TIMEOUT, HealthServer, Metrics
from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.errors import DataError
from guanxi.engine.ingest import formats, load_customers, load_events, rows
from guanxi.engine.ingest.load import KEEP_WARNINGS
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)


# --- load: wide headers and unknown fields cost about what the file weighs --------------------


def test_a_header_of_a_hundred_thousand_columns_loads_in_seconds(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Finding a column given twice compared every column with every other: this file of
    0.8 MB held a load for minutes."""
    columns = [f"c{i}" for i in range(100_000)]
    path = tmp_path / "wide.csv"
    rows_text = "".join(f"W{r},名{r}" + "," * len(columns) + "\n" for r in range(3))
    path.write_text(",".join(["customer_id", "name", *columns]) + "\n" + rows_text, "utf-8")
    started = time.monotonic()
    report = load_customers(store, ruleset, path, NOW)
    assert time.monotonic() - started < 30
    assert report.loaded == 3
    assert len(report.warnings) == KEEP_WARNINGS
    assert report.more_warnings == len(columns) - KEEP_WARNINGS


def test_a_column_given_twice_is_still_named(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("customer_id,name,b,a,b,a\nC1,x,1,2,3,4\n", "utf-8")
    with pytest.raises(Exception, match=r"twice.csv:1: column 'a' appears twice"):
        load_customers(store, ruleset, path, NOW)


def test_a_csv_line_longer_than_a_line_may_be_is_unreadable_and_the_rest_loads(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A 30 MB line of commas was held whole and split into thirty million cells (ten times
    its size in memory, a gigabyte for 100 MB); now it is skipped as a JSON line is."""
    path = tmp_path / "long.csv"
    long_quoted = '"' + "x" * (formats.LINE_CHARS + 5) + '"'
    lines = ["customer_id,name", "," * 30_000_000, "C1,王芳", f"C2,{long_quoted}", "C3,李娜"]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    tracemalloc.start()
    try:
        report = load_customers(store, ruleset, path, NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40_000_000
    assert (report.loaded, report.quarantined) == (2, 2)
    assert [(p["row_number"], p["reason"]) for p in report.problems] == [
        (2, "longer than 1,048,576 characters: not read"),
        (4, "longer than 1,048,576 characters: not read"),
    ]
    stored = store.execute("SELECT customer_id FROM customers ORDER BY customer_id")
    assert [r["customer_id"] for r in stored] == ["C1", "C3"]


def test_a_csv_header_longer_than_a_line_may_be_is_refused(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "header.csv"
    path.write_text("customer_id,name," + "x" * formats.LINE_CHARS + "\nC1,王芳,\n", "utf-8")
    with pytest.raises(DataError, match=r"header.csv:1: longer than 1,048,576 characters"):
        load_customers(store, ruleset, path, NOW)


@pytest.fixture
def hints(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names a 'did you mean' hint was looked for."""
    looked: list[str] = []

    def counted(word: str, choices: Iterable[str]) -> str | None:
        looked.append(word)
        return did_you_mean(word, choices)

    for module in (formats, rows):
        monkeypatch.setattr(module, "did_you_mean", counted)
    return looked


def test_customer_lines_naming_many_unknown_fields_are_warned_of_briefly(
    store: Store, ruleset: RuleSet, tmp_path: Path, hints: list[str]
) -> None:
    """Each unknown field had its own 'did you mean' and its own warning, searched in a list:
    an 18 MB file of such lines held a load for many minutes and printed a million lines."""
    path = tmp_path / "c.jsonl"
    records = [
        {"customer_id": f"C{r}", "name": "王芳", **{f"x{r}_{i}": 1 for i in range(2_000)}}
        for r in range(5)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    report = load_customers(store, ruleset, path, NOW)
    assert report.loaded == 5
    assert len(report.warnings) == KEEP_WARNINGS
    assert report.more_warnings == 10_000 - KEEP_WARNINGS
    assert len(hints) <= 5 * formats.HINTED


def test_events_naming_unknown_fields_are_hinted_once_a_field(
    store: Store, ruleset: RuleSet, tmp_path: Path, hints: list[str]
) -> None:
    path = tmp_path / "e.jsonl"
    event = {"type": "sale", "customer_id": "C1", "at": "2026-11-20T10:00+08:00", "amount": 5}
    lines = [
        json.dumps({**event, "id": f"E{n}", "colour": "red", f"odd{n}": 1}) for n in range(500)
    ]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    report = load_events(store, ruleset, path, NOW)
    assert report.loaded == 500
    assert hints.count("colour") == 1
    assert len(hints) <= formats.HINTED
    assert report.warnings[0].startswith("ignored field 'colour' of 'sale' events")
    assert len(report.warnings) + report.more_warnings == 501


# --- Parquet: a file that unpacks to far more than it weighs -----------------------------------


def one_text_parquet(path: Path, rows: int, text: str) -> Path:
    """`rows` customers named `text`, stored once in the column's dictionary."""
    names = pa.array([text] * rows).dictionary_encode()
    table = pa.table({"customer_id": [f"D{i}" for i in range(rows)], "name": names})
    pq.write_table(table, path, compression="zstd", use_dictionary=True)
    return path


def test_a_text_every_row_refers_to_is_not_copied_into_every_row(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """30 KB of Parquet naming one 20 KB text in 10,000 rows: each row held its own copy, 200
    MB of Python text at once (and gigabytes with a longer text or more rows)."""
    path = one_text_parquet(tmp_path / "bomb.parquet", 10_000, "名" * 20_000)
    assert path.stat().st_size < 50_000
    tracemalloc.start()
    try:
        report = load_customers(store, ruleset, path, NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.quarantined == 10_000
    assert peak < 120_000_000


def test_a_row_longer_than_a_line_may_be_is_unreadable(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = one_text_parquet(tmp_path / "long.parquet", 3, "x" * (formats.LINE_CHARS + 1))
    report = load_customers(store, ruleset, path, NOW)
    assert report.quarantined == 3
    assert {p["reason"] for p in report.problems} == {"longer than 1,048,576 characters: not read"}


def test_a_column_of_lists_is_refused_before_a_row_is_read(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A list of twenty million zeros packs into a few hundred bytes."""
    zeros = pa.array([[0] * 20_000_000], type=pa.list_(pa.int8()))
    path = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"customer_id": ["C1"], "name": ["王芳"], "tags": zeros}), path)
    with pytest.raises(DataError, match="column 'tags' holds lists or records"):
        load_customers(store, ruleset, path, NOW)


def test_a_column_unpacking_to_megabytes_a_row_is_refused(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "packed.parquet"
    table = pa.table({"customer_id": ["C1"], "name": ["a" * 20_000_000]})
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    assert path.stat().st_size < 10_000
    with pytest.raises(DataError, match="column 'name' unpacks to more than 1,048,576 bytes"):
        load_customers(store, ruleset, path, NOW)


def test_plain_parquet_customers_load_as_before(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "plain.parquet"
    names = ["王芳", "李娜", None]
    pq.write_table(pa.table({"customer_id": ["C1", "C2", "C3"], "name": names}), path)
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (2, 1)
    stored = store.execute("SELECT customer_id, name FROM customers ORDER BY customer_id")
    assert [(r["customer_id"], r["name"]) for r in stored] == [("C1", "王芳"), ("C2", "李娜")]


# --- events post: --field cannot stand for the event's own fields ----------------------------


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--rules", str(RULES), "--store", str(store)])


@pytest.fixture
def erased(tmp_path: Path) -> Path:
    """A store holding C1, and C2 erased at their request."""
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,name\nC1,张伟\nC2,李娜\n", "utf-8")
    store = tmp_path / "guanxi.db"
    assert invoke(store, "load", "customers", str(customers)).exit_code == 0
    assert invoke(store, "customer", "erase", "C2", "--yes").exit_code == 0
    return store


def events_of(store: Path) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(store) as connection:
        return connection.execute("SELECT id, customer_id FROM events").fetchall()


def test_a_field_cannot_record_the_event_for_an_erased_customer(erased: Path) -> None:
    """`--field customer_id=C2` took the place of --customer C1, and the event of the erased
    customer was recorded: the check for erasure looks at --customer."""
    posted = invoke(erased, "events", "post", "sale", "--customer", "C1", "--field=customer_id=C2")
    assert posted.exit_code == 2
    assert "'customer_id' is not given with --field; give it with --customer" in posted.output
    assert events_of(erased) == []


@pytest.mark.parametrize(
    ("field", "option"), [("id", "--id"), ("type", "TYPE"), ("at", "--at"), (" customer_id ", "")]
)
def test_the_events_own_fields_are_refused_in_field(erased: Path, field: str, option: str) -> None:
    posted = invoke(erased, "events", "post", "sale", "--customer", "C1", "--field", f"{field}=x")
    assert posted.exit_code == 2, posted.output
    assert f"give it with {option or '--customer'}" in posted.output
    assert events_of(erased) == []


def test_ordinary_fields_are_still_posted(erased: Path) -> None:
    posted = invoke(erased, "events", "post", "sale", "--customer", "C1", "--field", "amount=5")
    assert posted.exit_code == 0, posted.output
    assert [customer for _, customer in events_of(erased)] == ["C1"]


def test_a_field_given_twice_with_two_values_is_refused(erased: Path) -> None:
    """`--field amount=5 --field amount=50000` recorded 50000 without a word: a JSON line
    giving a key twice is quarantined, and so the command refuses it."""
    twice = ["--field", "amount=5", "--field", "amount=50000"]
    posted = invoke(erased, "events", "post", "sale", "--customer", "C1", *twice)
    assert posted.exit_code == 2
    assert "'amount' is given twice (5, then 50000); give it once" in posted.output
    assert events_of(erased) == []


# --- the health port: a client dripping its request gives its place up ------------------------


@pytest.fixture
def health() -> Iterator[HealthServer]:
    server = HealthServer(Metrics(1.0), 0).start()
    yield server
    server.stop()


def drip(port: int, stop: threading.Event) -> None:
    """A request's first line, then a byte of header every 0.3 s (each read times out at 2 s)."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")
        while not stop.wait(0.3):
            try:
                connection.sendall(b"X")
            except OSError:
                return


def test_clients_dripping_their_requests_do_not_keep_a_scraper_out(health: HealthServer) -> None:
    stop = threading.Event()
    drippers = [
        threading.Thread(target=drip, args=(health.port, stop), daemon=True)
        for _ in range(MAX_CONNECTIONS)
    ]
    for dripper in drippers:
        dripper.start()
    try:
        time.sleep(TIMEOUT + 1.5)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health.port}/healthz", timeout=5):
                status = 200
        except urllib.error.HTTPError as error:
            status = error.code  # 503: no tick yet; what matters is the answer
        assert status in (200, 503)
    finally:
        stop.set()
        for dripper in drippers:
            dripper.join(5)


def test_clients_that_come_back_for_ever_do_not_keep_a_scraper_out(health: HealthServer) -> None:
    """Twice as many drippers as threads, each reconnecting as soon as it is cut off: every
    thread stayed taken, and a scrape was refused nine times in ten."""
    stop = threading.Event()

    def come_back() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                drip(health.port, stop)

    drippers = [threading.Thread(target=come_back, daemon=True) for _ in range(2 * MAX_CONNECTIONS)]
    for dripper in drippers:
        dripper.start()
    try:
        time.sleep(1.0)
        answered = 0
        for _ in range(10):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health.port}/healthz", timeout=5):
                    answered += 1
            except urllib.error.HTTPError:
                answered += 1  # 503: no tick yet; what matters is the answer
            except OSError:
                pass
            time.sleep(0.2)
        assert answered == 10
    finally:
        stop.set()
        for dripper in drippers:
            dripper.join(5)


# --- JSON Lines: a key given twice is refused, as a column given twice is ------------------


def test_an_event_naming_its_customer_twice_is_quarantined_not_given_to_the_last(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """JSON readers disagree on `{"customer_id": "C1", "customer_id": "C2"}` (Python keeps
    the last, others the first): the event must reach neither customer by a guess."""
    path = tmp_path / "twice.jsonl"
    good = '{"id": "E1", "type": "sale", "customer_id": "C1", "at": "2026-11-03T10:00+08:00"}'
    twice = (
        '{"id": "E2", "type": "sale", "customer_id": "C1",'
        ' "at": "2026-11-03T10:00+08:00", "customer_id": "C2"}'
    )
    path.write_text(good + "\n" + twice + "\n", "utf-8")
    report = load_events(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert [r["id"] for r in store.execute("SELECT id FROM events")] == ["E1"]
    reasons = store.execute("SELECT row_number, reason FROM quarantine")
    assert reasons == [
        {
            "row_number": 2,
            "reason": "key 'customer_id' is given twice; keep one of them",
        }
    ]


def test_a_customer_line_giving_a_key_twice_is_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "twice.jsonl"
    lines = [
        '{"customer_id": "C1", "name": "张三"}',
        '{"customer_id": "C2", "name": "李", "name": "王"}',
    ]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    reason = store.execute("SELECT reason FROM quarantine")[0]["reason"]
    assert reason == "key 'name' is given twice; keep one of them"
