"""One input, one answer on every engine: the snapshot engines leave out the rows load rejects.

A snapshot with every kind of bad value load quarantines (and good values written the ways
only load's own checks read) gives the same assignments through `load` + `classify` as through
`classify --engine duckdb`, and the rejected rows are quarantined with the same row numbers
and reasons. The SQL that screens a snapshot is held to the Python checks by a property test.
The Spark engine's share is in test_spark.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import shutil
import tempfile
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.classify import classify, snapshot
from guanxi.engine.classify.snapshot import _source, classify_snapshot, connect
from guanxi.engine.i18n import language
from guanxi.engine.ingest import check_customer, load_customers
from guanxi.engine.ingest.screen import (
    PLACEHOLDER_STARTS,
    BadValues,
    Screen,
    Stored,
    parquet_statistics,
    snapshot_screen,
)
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"
TODAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
COLUMNS = ("customer_id", "name", "kind", "balance", "age", "last_txn_date", "products_held",
           "annual_contribution", "cost_to_serve", "consent_marketing")  # fmt: skip


def good(i: int, contribution: float) -> dict[str, str]:
    return {
        "customer_id": f"C{i:03d}",
        "name": f"客户{i}",
        "kind": "personal",
        "balance": "1000",
        "age": "40",
        "last_txn_date": "2026-11-20",
        "products_held": "2",
        "annual_contribution": str(contribution),
        "cost_to_serve": "100",
        "consent_marketing": "true",
    }


# Each bad row has the largest contribution, so counting it would make it gold in place of a
# good customer, and move every customer's percentile.
BAD = [
    {"name": ""},
    {"kind": "vip"},
    {"balance": "-5"},
    {"balance": "1,5"},
    {"balance": "-nan"},
    {"age": "3.5"},
    {"age": "200"},
    {"last_txn_date": "2016-02-30"},
    {"last_txn_date": "0202-01-01"},
    {"consent_marketing": "maybe"},
    {"name": "王\x01"},
    {"name": "长" * 4001},
    {"customer_id": "X" * 65},
    {"customer_id": "  "},
    {"products_held": "1e400"},
    {"name": "#N/A"},
    {"name": "null"},
    {"name": "\\N", "balance": "NULL"},  # a required field left as a database export leaves it
]
# Written as only load's own checks read them: these rows are kept, with load's values.
ODD_BUT_GOOD = [
    {"balance": "1,234,567.50"},
    {"consent_marketing": "是"},
    {"name": " 前后有空格 "},
    {"age": "41.0"},
    {"kind": ""},
    {"name": "多行\n备注"},
    # a database export's and pandas' words for no value: an empty cell in every type
    {"balance": "NULL", "age": "nan", "last_txn_date": "\\N", "consent_marketing": "None"},
]


def rows() -> list[dict[str, str]]:
    found = [good(i, 100.0 * i) for i in range(1, 41)]
    found += [{**good(100 + i, 9e6 + i), **bad} for i, bad in enumerate(BAD)]
    found += [{**good(200 + i, 5e5 + i), **odd} for i, odd in enumerate(ODD_BUT_GOOD)]
    return found


def write_csv(path: Path, records: list[dict[str, str]]) -> Path:
    lines = [",".join(COLUMNS)]
    lines += [",".join(_cell(r[c]) for c in COLUMNS) for r in records]
    lines.insert(7, "C999,only three,cells")  # no record at all: line 8
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n ') else text


def write_parquet(path: Path, records: list[dict[str, str]]) -> Path:
    """The same rows as Parquet text columns (as some exports write every column)."""
    pq.write_table(pa.table({c: [r[c] for r in records] for c in COLUMNS}), path)
    return path


def assignments(store: Store) -> dict[str, tuple[Any, ...]]:
    found = store.execute(
        "SELECT customer_id, tier, level, strategy, gold FROM current_assignments"
    )
    return {
        r["customer_id"]: (r["tier"], r["level"], r["strategy"], bool(r["gold"])) for r in found
    }


def quarantined(store: Store) -> list[tuple[Any, ...]]:
    found = store.execute("SELECT row_number, field, value, reason FROM quarantine")
    return sorted((tuple(r.values()) for r in found), key=str)


def quarantined_customers(store: Store) -> list[tuple[Any, ...]]:
    """Each quarantined row's number and the customer it names (None: its id was bad)."""
    found = store.execute("SELECT DISTINCT row_number, customer_id FROM quarantine")
    return sorted((tuple(r.values()) for r in found), key=str)


@pytest.mark.every_store
@pytest.mark.parametrize("write", [write_csv, write_parquet])
def test_snapshot_rows_load_rejects_do_not_move_percentiles_or_gold(
    store: Store, ruleset: RuleSet, tmp_path: Path, write: Any
) -> None:
    snapshot = write(tmp_path / "night", rows())
    snapshot = snapshot.rename(snapshot.with_suffix(".csv" if write is write_csv else ".parquet"))
    loaded = load_customers(store, ruleset, snapshot, NOW)
    by_store = classify(store, ruleset, NOW)
    duck = SQLiteStore(tmp_path / "duck.db")
    by_duckdb = classify_snapshot(duck, ruleset, NOW, snapshot)

    assert assignments(duck) == assignments(store)
    # gold within each kind: 3 of the 45 personal customers (0, 1, 2 ahead < 5 % of 45), and
    # the one whose kind is empty, alone in its segment
    assert by_duckdb.cells == by_store.cells and by_duckdb.gold == 4
    assert by_duckdb.rejected == loaded.quarantined == len(BAD) + (write is write_csv)
    assert quarantined(duck) == quarantined(store)
    assert quarantined_customers(duck) == quarantined_customers(store)
    # a row names its customer unless its id was bad (or it was no record at all)
    named = [customer for _number, customer in quarantined_customers(store)]
    ids_good = {f"C{100 + i}" for i, bad in enumerate(BAD) if "customer_id" not in bad}
    assert {c for c in named if c is not None} == ids_good
    assert named.count(None) == 2 + (write is write_csv)
    assert by_duckdb.problems[0] == loaded.problems[0]
    duck.close()


@pytest.mark.every_store
def test_a_snapshot_of_typed_bad_values_is_screened_like_load(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Parquet columns of their own types: NaN, infinities, dates out of range, a year beyond
    what Python holds, negative balances, a whole number where text is expected."""
    count = 12
    columns = {
        "customer_id": pa.array([f"T{i}" for i in range(count)]),
        "name": pa.array(["名"] * count),
        "balance": pa.array([1.0, math.nan, math.inf, -1.0] + [5.0] * 8),
        "age": pa.array([40] * 4 + [151, -1] + [40] * 6, pa.int64()),
        "last_txn_date": pa.array(
            [dt.date(2026, 1, 1)] * 6
            + [dt.date(1899, 12, 30), dt.date(9999, 12, 31)]
            + [dt.date(2026, 1, 1)] * 4,
            pa.date32(),
        ),
        "annual_contribution": pa.array([float(i) for i in range(count)]),
        "kind": pa.array([None] * 8 + ["corporate", "vip", None, None]),
        "consent_marketing": pa.array([True] * 10 + [None, False]),
    }
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table(columns), path)
    duckdb.execute(  # a year beyond Python's dates: read, but not a plausible date
        f"COPY (SELECT * REPLACE (CASE WHEN customer_id = 'T11' THEN DATE '10000-01-01'"
        f" ELSE last_txn_date END AS last_txn_date) FROM '{path}') TO '{tmp_path / 'x.parquet'}'"
    )
    lite = SQLiteStore(tmp_path / "loaded.db")  # this time the snapshot run writes to `store`
    loaded = load_customers(lite, ruleset, tmp_path / "x.parquet", NOW)
    classify(lite, ruleset, NOW)
    report = classify_snapshot(store, ruleset, NOW, tmp_path / "x.parquet")
    assert report.rejected == loaded.quarantined == 9
    assert assignments(store) == assignments(lite)
    assert quarantined(store) == quarantined(lite)
    assert quarantined_customers(store) == quarantined_customers(lite)
    lite.close()


def test_a_snapshot_value_of_the_wrong_type_is_rejected_like_load(
    ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"customer_id": ["A1", "A2"], "name": ["甲", "乙"],
                             "balance": ["lots", "12"]}), path)  # fmt: skip
    store = SQLiteStore(tmp_path / "s.db")
    report = classify_snapshot(store, ruleset, NOW, path)
    assert (report.customers, report.rejected) == (1, 1)
    assert quarantined(store) == [(1, "balance", "lots", "'lots' is not a number")]
    assert quarantined_customers(store) == [(1, "A1")]
    store.close()


def test_classify_command_counts_and_shows_the_rejected_rows(tmp_path: Path) -> None:
    snapshot = write_csv(tmp_path / "night.csv", rows())
    common = ["classify", "--rules", str(RULES), "--store", str(tmp_path / "s.db")]
    result = CliRunner().invoke(cli, [*common, "--input", str(snapshot), "--now", "2026-11-28"])
    assert result.exit_code == 0, result.output
    assert f"{len(BAD) + 1} snapshot rows were rejected" in result.output
    said = " ".join(result.output.split())  # as wrapped to the terminal
    assert "as 'guanxi load' rejects them" in said  # a command there is, and where to look
    assert "all problems: guanxi quarantine list" in said
    assert "line 8: has 3 cells, but the header has 10 columns" in result.output
    assert "line 43: name: required, but empty" in result.output
    again = CliRunner().invoke(cli, [*common, "--input", str(snapshot), "--json"])
    data = json.loads(again.stdout)
    assert data["rejected"] == len(BAD) + 1
    assert data["problems"][1] == {
        "row_number": 43, "field": "name", "value": "", "reason": "required, but empty"
    }  # fmt: skip


# stored by an earlier version -> as the night names them (in a Parquet file: as reals)
STORED_AS_REALS = {"123.0": "123", "7.0": "7.0", "7": "7", "9.0": "9.0"}


def upgraded_store(ruleset: RuleSet, path: Path) -> None:
    """A store an earlier version filled: customers stored under ids a float export wrote
    (`123.0`, kept as written then), classified."""
    store = SQLiteStore(path)
    store.prepare(ruleset.schema)
    ids = enumerate(STORED_AS_REALS)
    store.upsert_customers([{**good(i, 10.0 * i), "customer_id": c} for i, c in ids])
    classify(store, ruleset, NOW - dt.timedelta(days=1))
    store.close()


def night_naming_digits(path: Path) -> Path:
    """The next night's snapshot (`path`'s suffix: CSV or Parquet) of those customers, naming
    them by the digits (a CSV cell `123` or `7.0`, a Parquet column of reals)."""
    ids = STORED_AS_REALS.values()
    night = [{**good(i, 10.0 * i), "customer_id": c} for i, c in enumerate(ids)]
    if path.suffix == ".csv":
        return write_csv(path, night)
    table = pq.read_table(write_parquet(path, night))
    reals = pa.array([float(c) for c in ids])
    pq.write_table(table.set_column(0, "customer_id", reals), path)
    return path


def assert_kept_as_stored(store: Store, changed: int, rejected: int, suffix: str) -> None:
    """The night classified the customers the store holds: no customer `123` beside `123.0`
    (nor `9`), nobody new; the second `7` (written 7.0) is the customer 7 again, rejected."""
    assert sorted(assignments(store)) == ["123.0", "7", "7.0", "9.0"]
    assert changed == 0
    assert rejected == 1 + (suffix == ".csv")  # a CSV's line 8 is no record


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_customer_an_earlier_version_stored_as_123_0_is_that_customer_to_the_night(
    ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    """A store upgraded from a version that kept a CSV cell's `123.0` as written: the night's
    snapshot naming `123` classifies that customer, as load keeps them, not a second customer
    `123` who would get every message again; where `7` is stored too, `7` is `7`."""
    upgraded_store(ruleset, tmp_path / "s.db")
    snapshot = night_naming_digits(tmp_path / f"night{suffix}")
    common = ["classify", "--rules", str(RULES), "--store", str(tmp_path / "s.db")]
    result = CliRunner().invoke(cli, [*common, "--input", str(snapshot), "--json"])
    assert result.exit_code == 0, result.output
    store = SQLiteStore(tmp_path / "s.db")
    report = json.loads(result.stdout)
    assert_kept_as_stored(store, report["changed"], report["rejected"], suffix)
    store.close()


# --- the SQL screen never passes what the Python checks reject --------------------------

TEXTS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(
        [
            "",
            " ",
            "1,234",
            "1e3",
            "-0",
            "0.5",
            "3.0",
            "+5",
            "1_0",
            "nan",
            "NaN",
            "-nan",
            "NULL",
            " None ",
            "\\N",
            "inf",
            "2026-02-30",
            "2026-02-28",
            "0202-01-01",
            "2199-12-31",
            "2200-01-01",
            "是",
            "否",
            "TRUE",
            "yes",
            "Yes",
            "1",
            "0",
            "personal",
            " personal",
            "AAA",
            "\u3000x",
            "x\x85",
            "١٢",
            "-1",
            "150",
            "151",
            "9" * 16,
            "123.0",  # an id a float export wrote: load reads 123
            "RMB 100",  # an amount naming its currency: 100 in a field of 元, else refused
            "人民币5元",
            "100 USD",  # another currency: refused wherever it is
            "HK$5",
            "\u212a",
            "ı",
            "x" * 70,
            "C1\u200b",  # invisible format characters: not in an id, fine in a name
            "\u202eC1",
            "\ufeffC1",
            "a\u00adb",
            "ＣＵＳＴ００１",  # typed in full width: an id reads it as CUST001, a name keeps it
            "长沙星沙支行",  # Chinese characters: NFKC keeps them, in an id (a branch) too
            "长沙第１支行",  # a full-width digit: a branch reads it as 长沙第1支行
            "C\u30001",
            "①",
            "#ﬁELD!",  # Excel's #FIELD! to Python's upper(), which writes ﬁ as FI
            "6.22848E+18",  # an id as Excel shows a long number: refused in an id
            "nULL",
            "#n/a",
        ]
    ),
)
SCHEMA = load_ruleset(RULES)
FIELDS = ("customer_id", "name", "kind", "age", "balance", "consent_marketing",
          "opened_on", "credit_rating", "branch")  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({f: TEXTS for f in FIELDS}), min_size=1, max_size=20))
def test_sql_screen_never_passes_a_value_the_python_checks_reject(
    records: list[dict[str, str]],
) -> None:
    """Field by field: a value the SQL calls clean is one load takes, and takes unchanged."""
    schema = SCHEMA.schema
    screen = Screen(schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    duck = duckdb.connect()
    duck.register("records", pa.table({f: [r[f] for r in records] for f in FIELDS}))
    tests = [
        f"{screen.clean({f: 'VARCHAR'}, 'duckdb')}, {screen.typed({f: 'VARCHAR'}, 'duckdb')}"
        for f in FIELDS
    ]
    found = duck.execute(f"SELECT {', '.join(tests)} FROM records").fetchall()
    for record, values in zip(records, found, strict=True):
        for i, name in enumerate(FIELDS):
            is_clean, typed = values[2 * i], values[2 * i + 1]
            if is_clean:
                row, problems = check_customer(schema, "Asia/Shanghai", {name: record[name]})
                assert [p for p in problems if p[0] == name] == [], record[name]
                assert _plain(typed) == row[name], record[name]


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_text_beginning_unlike_any_placeholder_is_not_put_in_capitals(dialect: str) -> None:
    """The placeholder test compares in capitals only text whose first character is one a
    placeholder begins with, in either case: no other character's capital is one (DuckDB's
    UPPER over every code point; Spark's upper is Java's, which writes none of them either)."""
    screen = Screen(SCHEMA.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    assert "ascii(" in screen.clean({"name": "STRING"}, "spark")
    starts = {chr(c) for c in PLACEHOLDER_STARTS}
    assert starts == {"#", "N", "n", "\\"}
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    capitals = duckdb.execute(
        "SELECT c FROM (SELECT UNNEST(?) AS c) WHERE UPPER(c)[1] IN ('#', 'N', '\\')", [every]
    ).fetchall()
    assert {c for (c,) in capitals} <= starts
    assert {c for c in every if c.upper()[:1] in ("#", "N", "\\")} <= starts


def test_excel_error_written_with_a_ligature_is_not_clean() -> None:
    """Python's upper() writes ﬁ as FI, so load refuses #ﬁELD! as Excel's #FIELD!; DuckDB's
    UPPER keeps ﬁ: the screen doubts the row and lets load's checks decide."""
    screen = Screen(SCHEMA.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    [(clean,)] = duckdb.execute(
        f"SELECT {screen.clean({'name': 'VARCHAR'}, 'duckdb')} FROM (SELECT '#ﬁELD!' AS name)"
    ).fetchall()
    assert not clean
    _, problems = check_customer(SCHEMA.schema, "Asia/Shanghai", {"name": "#ﬁELD!"})
    assert "name" in [p[0] for p in problems]


PLAIN = {"customer_id": "C1", "name": "王小明", "kind": "corporate", "age": "40",
         "balance": "-0.5e0", "consent_marketing": "否", "opened_on": "2020-02-29",
         "credit_rating": "", "branch": "长沙星沙支行"}  # fmt: skip


def test_plainly_written_values_take_the_fast_path() -> None:
    """Values as exports write them are clean: the Python checks never see them (and the
    property above is not vacuous)."""
    screen = Screen(SCHEMA.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    duck = duckdb.connect()
    duck.register("plain", pa.table({f: [v] for f, v in PLAIN.items()}))
    tests = [screen.clean({f: "VARCHAR"}, "duckdb") for f in PLAIN]
    assert duck.execute(f"SELECT {', '.join(tests)} FROM plain").fetchall() == [
        (True, True, True, True, False, True, True, True, True)  # 1e0 is for Python to read
    ]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


# --- the screen rejects what load rejects, row for row, on random snapshots -------------

# Each field takes a few good values (repeated across rows, as exports repeat them: the text
# fields are checked once per distinct value) and the bad or odd ones load must judge.
SOME = {
    "name": ["王小明", "长沙万通超市有限公司", "Li Lei"],
    "kind": ["personal", "corporate"],
    "industry": ["批发零售", "IT"],
    "branch": ["长沙星沙支行"],
    "phone": ["18920645759", "0731-8888"],
    "credit_rating": ["AAA", "BB"],
    "balance": ["1000", "0.5"],
    "age": ["40", "0"],
    "opened_on": ["2020-02-29", "2026-11-01"],
    "consent_marketing": ["true", "0"],
}
ODD = [None, "", " ", "\u3000", " 前后 ", "x ", "\t", "多行\n备注", "王\x01", "a\x85b", "长" * 4001,
       "vip", "AAA ", "aaa", "lots", "1,5", "-5", "nan", "NULL", "None", "\\N", "3.5", "200",
       "2016-02-30", "0202-01-01", "是", "maybe", "１２", "\u212a", "ＮＵＬＬ", "20261103",
       "20260230", "t", "F", "真", "1.0", "-", " — ", "(1,234.00)", "(5)", "5%", "√", "×",
       "1380013800O", "13800138000转2", "123.0"]  # fmt: skip
RANDOM_FIELDS = ("customer_id", *SOME)


def _value(field: str) -> st.SearchStrategy[str | None]:
    return st.one_of(st.sampled_from(SOME[field]), st.sampled_from(ODD), st.text(max_size=4))


ID_FORMS = ["C{}", "C{}", " C{}", "C{} ", "C{}\x02", "C{}\u200b", "客户{}", "X" * 64 + "{}", ""]
SNAPSHOT_ROWS = st.lists(
    st.tuples(st.sampled_from(ID_FORMS), st.fixed_dictionaries({f: _value(f) for f in SOME})),
    min_size=1,
    max_size=25,
)


def _records(drawn: list[tuple[str, dict[str, str | None]]]) -> list[dict[str, str | None]]:
    """Rows with distinct ids, bad ones among them (an empty id, spaces, too long, ...)."""
    return [{"customer_id": form.format(i), **values} for i, (form, values) in enumerate(drawn)]


def _csv_snapshot(path: Path, records: list[dict[str, str | None]]) -> Path:
    lines = [",".join(RANDOM_FIELDS)]
    lines += [",".join(_cell(r[c] or "") for c in RANDOM_FIELDS) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _parquet_snapshot(path: Path, records: list[dict[str, str | None]]) -> Path:
    table = {c: pa.array([r[c] for r in records], pa.string()) for c in RANDOM_FIELDS}
    pq.write_table(pa.table(table), path)
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    SNAPSHOT_ROWS,
    st.sampled_from([_csv_snapshot, _parquet_snapshot]),
    st.sampled_from([0, snapshot.REPEATING]),
)
def test_the_screen_rejects_the_rows_load_rejects_with_their_reasons(
    drawn: list[tuple[str, dict[str, str | None]]], write: Any, repeating: int
) -> None:
    """Random snapshots with bad values (text in numbers, bad dates, unknown values, NULLs,
    empty text, spaces, Chinese text, very long text), CSV and Parquet: the DuckDB screen
    quarantines the rows load quarantines, with the same row numbers and reasons, and passes
    the same customers on; every text field tested by its distinct values (`repeating` 0),
    or those of a few rows each tested row by row, as a snapshot this small has them."""
    suffix = ".csv" if write is _csv_snapshot else ".parquet"
    with tempfile.TemporaryDirectory() as folder, _repeating_from(repeating):
        path = write(Path(folder, "night" + suffix), _records(drawn))
        _assert_screened_as_loaded(SCHEMA, path)


def _assert_screened_as_loaded(
    ruleset: RuleSet, path: Path, field: str | None = None, zone: str | None = None
) -> None:
    """The DuckDB screen of the snapshot `path` quarantines what load quarantines, with the
    same row numbers and reasons, and passes on the customers load keeps (with the values
    load stores in `field`, if given; `zone`: DuckDB's session time zone, if not its own)."""
    loaded = SQLiteStore(path.with_name("loaded.db"))
    loaded.prepare(ruleset.schema)
    load_customers(loaded, ruleset, path, NOW)
    screened = SQLiteStore(path.with_name("screened.db"))
    screened.prepare(ruleset.schema)
    screen = snapshot_screen(screened, ruleset, NOW, path)
    duck = connect("1GB")
    if zone is not None:
        duck.execute(f"SET TimeZone = '{zone}'")
    source = _source(duck, screen, path)
    shown = f"customer_id, {field or 'NULL'} AS shown"
    passed = dict(duck.execute(f"SELECT {shown} FROM {source}").fetchall())
    duck.close()
    # the phones a channel sends to are checked by load only (the screen passes its rows on
    # in SQL): load's records of them, rows loaded all the same, are left out here
    phones = "loaded, but no message can go to this phone"
    assert quarantined(screened) == [r for r in quarantined(loaded) if not r[3].startswith(phones)]
    kept = loaded.execute(f"SELECT {shown} FROM customers")
    assert passed == {r["customer_id"]: r["shown"] for r in kept}
    loaded.close()
    screened.close()


# Amounts naming their currency, in a field of 元 (balance) and in a plain number (age):
# those read in a field of 元, then those refused in both.
CURRENCY_CELLS = ["RMB 100", "CNY 1,000", "人民币100元", "100 元", "100元", "￥139,300",
                  "100元整", "1,234.00元整", "人民币100元整", "100圆", "100圆整",
                  "人民币壹万贰仟叁佰肆拾伍元陆角柒分", "壹佰元整", "贰拾万元整", "零元整",
                  "壹亿元整", "伍角陆分", "壹拾万柒仟元",
                  "100 USD", "$100", "HK$100", "100港元", "100元整整", "RMB -5", "100块",
                  "100整", "壹佰佰元", "拾元角", "壹佰伍元", "壹百元"]  # fmt: skip
NO_AMOUNT = ["元", "人民币", "¥"]  # a blank amount: loaded without it, warned of
CURRENCY_CELLS += NO_AMOUNT
CURRENCY_READ = {"人民币壹万贰仟叁佰肆拾伍元陆角柒分": 12345.67, "伍角陆分": 0.56}


def currency_kept() -> list[int]:
    """Which of CURRENCY_CELLS a load keeps the row of, in balance: those read, and those
    loaded without the amount (NO_AMOUNT)."""
    read = CURRENCY_CELLS.index("100 USD")
    return [i for i, cell in enumerate(CURRENCY_CELLS) if i < read or cell in NO_AMOUNT]


def currency_snapshot(path: Path) -> Path:
    """A snapshot (.csv or .parquet) with each of CURRENCY_CELLS in balance, then in age."""
    records: dict[str, list[str]] = {"customer_id": [], "name": [], "balance": [], "age": []}
    for i, cell in enumerate(CURRENCY_CELLS):
        for field, other in (("balance", "age"), ("age", "balance")):
            records["customer_id"].append(f"{field}{i}")
            records["name"].append("张三")
            records[field].append(cell)
            records[other].append("30")
    if path.suffix == ".csv":
        rows = zip(*records.values(), strict=True)
        lines = [",".join(records), *(",".join(map(_cell, row)) for row in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:  # every column text, as some exports write them
        pq.write_table(pa.table(records), path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_amounts_naming_a_currency_read_alike_to_load_and_to_the_screen(
    tmp_path: Path, suffix: str
) -> None:
    path = currency_snapshot(tmp_path / ("night" + suffix))
    _assert_screened_as_loaded(SCHEMA, path, "balance")
    loaded = SQLiteStore(path.with_name("loaded.db"))
    kept = {r["customer_id"]: r["balance"] for r in loaded.execute("SELECT * FROM customers")}
    assert sorted(kept) == sorted(f"balance{i}" for i in currency_kept())
    assert {kept[f"balance{CURRENCY_CELLS.index(cell)}"] for cell in NO_AMOUNT} == {None}
    for cell, amount in CURRENCY_READ.items():
        assert kept[f"balance{CURRENCY_CELLS.index(cell)}"] == amount
    loaded.close()


# Dates typed with a Chinese input method left in full-width mode, in each form load takes
# half-width (ISO, slashes, dots, 年月日, YYYYMMDD, midnight after the day), and their day;
# the last, typed so, is no real day and is refused.
WIDE_DATES = {"２０２６－１１－０２": "2026-11-02", "２０２６/１１/０２": "2026-11-02",
              "２０２６／１１／０２": "2026-11-02", "２０２６．１１．０２": "2026-11-02",
              "２０２６年１１月２日": "2026-11-02", "２０２４１１０２": "2024-11-02",
              "２０２０－０１－０２　００：００：００": "2020-01-02",
              "2026年11月2日": "2026-11-02"}  # fmt: skip
WIDE_NOT_A_DAY = "２０２６－０２－３０"


def wide_dates_snapshot(path: Path) -> Path:
    """A snapshot (.csv or .parquet) with each of WIDE_DATES, then WIDE_NOT_A_DAY, as a
    customer's last_txn_date."""
    records = [good(i, 100.0 * i) for i in range(1, len(WIDE_DATES) + 2)]
    for record, day in zip(records, [*WIDE_DATES, WIDE_NOT_A_DAY], strict=True):
        record["last_txn_date"] = day
    return write_csv(path, records) if path.suffix == ".csv" else write_parquet(path, records)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_dates_typed_in_full_width_are_read_alike_by_load_and_the_screen(
    store: Store, ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    """`２０２６－１１－０２`, `２０２６年１１月２日`: the day their half-width twins are, stored by
    load and passed on by DuckDB's night with the same tiers; both were refused."""
    path = wide_dates_snapshot(tmp_path / f"night{suffix}")
    _assert_screened_as_loaded(SCHEMA, path, "CAST(last_txn_date AS VARCHAR)")
    load_customers(store, ruleset, path, NOW)
    classify(store, ruleset, NOW)
    days = store.execute("SELECT customer_id, last_txn_date FROM customers ORDER BY 1")
    assert [str(r["last_txn_date"]) for r in days] == list(WIDE_DATES.values())
    refused = [(q[1], q[2]) for q in quarantined(store) if q[1] == "last_txn_date"]
    assert refused == [("last_txn_date", WIDE_NOT_A_DAY)]
    duck = SQLiteStore(tmp_path / "duck.db")
    classify_snapshot(duck, ruleset, NOW, path)
    assert assignments(duck) == assignments(store)
    assert quarantined(duck) == quarantined(store)
    duck.close()


# Days as Excel keeps them, in a cell formatted as a number: refused, with the day named.
EXCEL_DAYS = {"46328": "2026-11-02", "46328.5": "2026-11-02", "４６３２８": "2026-11-02"}
EXCEL_CELLS = [*EXCEL_DAYS, "4632", "463280"]  # and a number of fewer or more digits


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_excel_day_numbers_are_refused_with_their_day_by_load_and_the_screen(
    store: Store, ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    """`46328` in a date column is the number Excel keeps for 2026-11-02: not read as a day
    (nothing in the file says it is one), but each refusal names the day and the fix, alike
    on load and DuckDB's night; a number of more or fewer digits is refused as before."""
    path = excel_days_snapshot(tmp_path / f"night{suffix}")
    _assert_screened_as_loaded(SCHEMA, path)
    with language("zh"):
        load_customers(store, ruleset, path, NOW)
    assert_excel_days_named(store)


def excel_days_snapshot(path: Path) -> Path:
    """A snapshot (.csv or .parquet) with each of EXCEL_CELLS as a last_txn_date."""
    records = [good(i, 100.0 * i) for i in range(1, len(EXCEL_CELLS) + 1)]
    for record, cell in zip(records, EXCEL_CELLS, strict=True):
        record["last_txn_date"] = cell
    return write_csv(path, records) if path.suffix == ".csv" else write_parquet(path, records)


def assert_excel_days_named(store: Store) -> None:
    """Every one of EXCEL_CELLS quarantined; those of EXCEL_DAYS with their day (in Chinese)."""
    refused = {q[2]: q[3] for q in quarantined(store) if q[1] == "last_txn_date"}
    assert sorted(refused) == sorted(EXCEL_CELLS)
    for cell, day in EXCEL_DAYS.items():
        assert f"是 Excel 表示 {day} 的数字" in refused[cell] and "设为“日期”" in refused[cell]
    assert all("Excel 表示" not in refused[cell] for cell in ("4632", "463280"))


# A database export's words for no value, in every type of field: optional ones are empty,
# the required name quarantines its row as empty, whether load or the snapshot screen reads it.
NO_VALUE_ROWS = [
    {"customer_id": "C1", "name": "张三", "kind": "personal", "balance": "NULL", "age": "None",
     "opened_on": "nan", "consent_marketing": "\\N", "credit_rating": "null"},
    {"customer_id": "C2", "name": "NULL", "kind": "corporate", "balance": "5", "age": "30",
     "opened_on": "2020-01-02", "consent_marketing": "true", "credit_rating": "AAA"},
    {"customer_id": "C3", "name": "李四", "kind": "NaN", "balance": " nan ", "age": "\\N",
     "opened_on": "NULL", "consent_marketing": "NONE", "credit_rating": "\\n"},
    {"customer_id": "C4", "name": "王五", "kind": "personal", "balance": "-nan", "age": "40",
     "opened_on": "2020-01-02", "consent_marketing": "true", "credit_rating": "AAA"},
    # typed in a Chinese keyboard's full-width mode
    {"customer_id": "C5", "name": "赵六", "kind": "ｎｏｎｅ", "balance": "ＮＵＬＬ",
     "age": "Ｎｏｎｅ", "opened_on": "ｎａｎ", "consent_marketing": "＼Ｎ",
     "credit_rating": "　ｎｕｌｌ　"},
    {"customer_id": "C6", "name": "ＮＵＬＬ", "kind": "personal", "balance": "5", "age": "30",
     "opened_on": "2020-01-02", "consent_marketing": "true", "credit_rating": "AAA"},
]  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_missing_value_word_is_no_value_to_load_and_to_the_screen_alike(
    tmp_path: Path, suffix: str
) -> None:
    fields = tuple(NO_VALUE_ROWS[0])
    path = tmp_path / ("night" + suffix)
    if suffix == ".csv":
        lines = [",".join(fields), *(",".join(_cell(r[f]) for f in fields) for r in NO_VALUE_ROWS)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:  # every column text, as some exports write them
        pq.write_table(pa.table({f: [r[f] for r in NO_VALUE_ROWS] for f in fields}), path)
    _assert_screened_as_loaded(SCHEMA, path)  # the same rows kept, the same ones quarantined
    loaded = SQLiteStore(path.with_name("loaded.db"))
    kept = loaded.execute(
        "SELECT customer_id, kind, balance, age, opened_on, consent_marketing, credit_rating"
        " FROM customers ORDER BY customer_id"
    )
    assert [tuple(r.values()) for r in kept] == [
        ("C1", "personal", None, None, None, None, None),
        ("C3", None, None, None, None, None, None),
        ("C5", None, None, None, None, None, None),
    ]
    first = 1 + (suffix == ".csv")  # a CSV's first row is its header's next line
    found = [(row - first, field, why) for row, field, _value, why in quarantined(loaded)]
    assert found == [
        (1, "name", "required, but empty"),
        (3, "balance", "'-nan' is not a number"),
        (5, "name", "required, but empty"),
    ]
    loaded.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_forms_of_dates_and_flags_read_alike_to_load_and_to_the_screen(
    tmp_path: Path, suffix: str
) -> None:
    """A core banking system's YYYYMMDD, PostgreSQL's t/f, pandas' 1.0/0.0 and 真/假."""
    written = [("20261103", "t"), ("20260230", "f"), ("2026.11.3", "1.0"), ("20261103", "假")]
    records = [
        {"customer_id": f"C{i}", "name": "张三", "opened_on": day, "consent_marketing": flag}
        for i, (day, flag) in enumerate(written)
    ]
    path = tmp_path / ("night" + suffix)
    if suffix == ".csv":
        lines = [",".join(records[0]), *(",".join(r.values()) for r in records)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        pq.write_table(pa.table({f: [r[f] for r in records] for f in records[0]}), path)
    _assert_screened_as_loaded(SCHEMA, path)
    loaded = SQLiteStore(path.with_name("loaded.db"))
    kept = loaded.execute("SELECT customer_id, opened_on, consent_marketing FROM customers")
    assert sorted(tuple(r.values()) for r in kept) == [
        ("C0", "2026-11-03", 1),
        ("C2", "2026-11-03", 1),
        ("C3", "2026-11-03", 0),
    ]
    [(_row, field, _value, why)] = quarantined(loaded)
    assert (field, why) == ("opened_on", "'20260230' is not a real calendar date")
    loaded.close()


def test_a_csv_cell_written_as_excels_text_formula_is_its_text_to_the_screen_too(
    tmp_path: Path,
) -> None:
    """="C1" is the customer C1, and ="20261103" the day, whether load or the screen reads."""
    lines = [
        "customer_id,name,balance,opened_on,consent_marketing",
        '="C1",="张三",="5",="20261103",="t"',
        '="C2",="",5,2026-11-03,true',
    ]
    path = tmp_path / "night.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_screened_as_loaded(SCHEMA, path)
    loaded = SQLiteStore(path.with_name("loaded.db"))
    kept = loaded.execute("SELECT customer_id, name, balance, opened_on FROM customers")
    assert [tuple(r.values()) for r in kept] == [("C1", "张三", 5.0, "2026-11-03")]
    assert [(row, field) for row, field, _value, _why in quarantined(loaded)] == [(3, "name")]
    loaded.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_phone_written_as_a_real_is_its_digits_to_the_screen_too(
    tmp_path: Path, suffix: str
) -> None:
    records = {"customer_id": ["C1", "C2"], "name": ["100.0", "张三"]}
    records["phone"] = ["13800000000.0", "13900000001"]
    path = tmp_path / ("night" + suffix)
    if suffix == ".csv":
        rows = zip(*records.values(), strict=True)
        lines = [",".join(records), *(",".join(row) for row in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        pq.write_table(pa.table(records), path)
    _assert_screened_as_loaded(SCHEMA, path)
    loaded = SQLiteStore(path.with_name("loaded.db"))
    kept = loaded.execute("SELECT customer_id, name, phone FROM customers ORDER BY customer_id")
    assert [tuple(r.values()) for r in kept] == [
        ("C1", "100.0", "13800000000"),
        ("C2", "张三", "13900000001"),
    ]
    loaded.close()
    screen = Screen(SCHEMA.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    duck = duckdb.connect()
    duck.register("records", pa.table(records))
    clean = screen.clean({"phone": "VARCHAR"}, "duckdb")
    found = duck.execute(f"SELECT {clean} FROM records").fetchall()
    assert found == [(False,), (True,)]  # the first is read by rows.py, which writes digits


def test_a_listed_value_that_is_a_missing_value_word_is_that_value(tmp_path: Path) -> None:
    """`values: [none, …]`: a file's `none` is the value listed, to load and to the screen
    alike; `None` (letter case counts in listed values) and NULL are no value."""
    rules = shutil.copytree(RULES, tmp_path / "rules", ignore=shutil.ignore_patterns("*.db*"))
    schema = rules / "schema.yaml"
    listed = "  loan_status: {type: string, label: 贷款状态, values: {none: 无贷款, active: 正常}}"
    text = schema.read_text("utf-8").replace("fields:\n", f"fields:\n{listed}\n", 1)
    schema.write_text(text, "utf-8")
    ruleset = load_ruleset(rules)
    written = ["none", " none ", "无贷款", "None", "NULL", "active", "nothing"]
    lines = ["customer_id,name,loan_status", *(f"C{i},张三,{w}" for i, w in enumerate(written))]
    path = tmp_path / "night.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_screened_as_loaded(ruleset, path)
    loaded = SQLiteStore(path.with_name("loaded.db"))
    kept = loaded.execute("SELECT customer_id, loan_status FROM customers ORDER BY customer_id")
    assert [r["loan_status"] for r in kept] == ["none", "none", "none", None, None, "active"]
    assert [(row, field) for row, field, _value, _why in quarantined(loaded)] == [
        (8, "loan_status")
    ]
    loaded.close()


@contextlib.contextmanager
def _repeating_from(rows: int) -> Iterator[None]:
    """snapshot.REPEATING set to `rows` (hypothesis runs many examples in one test call)."""
    kept = snapshot.REPEATING
    snapshot.REPEATING = rows
    try:
        yield
    finally:
        snapshot.REPEATING = kept


def test_only_fields_whose_values_repeat_are_tested_by_their_distinct_values() -> None:
    """A branch on every tenth row is tested once a value; a phone on every row differs and
    is tested row by row (its distinct values would cost more, and a hash table of them)."""
    screen = Screen(SCHEMA.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    duck = duckdb.connect()
    duck.register(
        "rows",
        pa.table(
            {
                "industry": [f"i{n % 100}" for n in range(10_000)],
                "occupation": [f"o{n % 2_000}" for n in range(10_000)],
                "name": [f"n{n}" for n in range(10_000)],
                snapshot.ROW: range(1, 10_001),
            }
        ),
    )
    duck.execute(f"CREATE TABLE {snapshot.RAW} AS SELECT * FROM rows")
    names = ["industry", "occupation", "name"]
    assert snapshot._repeating(duck, screen, names) == ["industry"]


def test_whether_values_repeat_is_counted_in_the_first_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A field whose values repeat in the first SAMPLE rows is tested by its distinct values,
    however the rows after them differ."""
    screen = Screen(SCHEMA.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    duck = duckdb.connect()
    branches = [f"b{n % 10}" if n < 1_000 else f"b{n}" for n in range(10_000)]
    table = pa.table({"branch": branches, snapshot.ROW: range(1, 10_001)})
    duck.register("rows", table)
    duck.execute(f"CREATE TABLE {snapshot.RAW} AS SELECT * FROM rows")
    assert snapshot._repeating(duck, screen, ["branch"]) == []
    monkeypatch.setattr(snapshot, "SAMPLE", 1_000)
    assert snapshot._repeating(duck, screen, ["branch"]) == ["branch"]


NO_NUL = st.one_of(  # text as Arrow holds it: no lone surrogate halves
    st.none(),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=5),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(NO_NUL, min_size=1, max_size=10), st.lists(NO_NUL, max_size=5))
def test_a_field_checked_once_is_clean_unless_its_value_is_one_found_bad(
    column: list[str | None], bad: list[str | None]
) -> None:
    """The bad values found among the distinct ones, written into the SQL, single out exactly
    the rows that hold one of them (quotes, backslashes, line breaks, controls, NULL)."""
    screen = Screen(SCHEMA.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    found = BadValues(frozenset({"industry"}), {"industry": bad})
    duck = duckdb.connect()
    duck.register("rows", pa.table({"industry": pa.array(column, pa.string())}))
    clean = screen.clean({"industry": "VARCHAR"}, "duckdb", found)
    got = [r[0] for r in duck.execute(f"SELECT {clean} FROM rows").fetchall()]
    assert got == [value not in bad for value in column]


# --- what a Parquet file's statistics prove is not tested row by row ----------------------

# age required, so that a column without NULLs loses its NULL test too
REQUIRED_AGE = dataclasses.replace(
    SCHEMA,
    schema=SCHEMA.schema.model_copy(
        update={
            "fields": {
                **SCHEMA.schema.fields,
                "age": SCHEMA.schema.fields["age"].model_copy(update={"required": True}),
            }
        }
    ),
)
EDGES = {  # in bounds mostly (row groups proven clean), and the values on and past them
    "age": st.one_of(st.integers(0, 150), st.sampled_from([None, -1, 151, 2**53, -(2**53), 2**62])),
    "products_held": st.one_of(st.integers(0, 20), st.sampled_from([None, -1])),
    "balance": st.one_of(
        st.floats(0, 1e9),
        st.sampled_from([None, -0.0, -0.01, math.nan, math.inf, -math.inf, 1e300]),
    ),
    "annual_contribution": st.one_of(
        st.floats(-1e6, 1e6, width=32), st.sampled_from([None, math.nan, -math.inf])
    ),
    "last_txn_date": st.one_of(
        st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)),
        st.sampled_from(
            [
                None,
                dt.date(1899, 12, 31),
                dt.date(1900, 1, 1),
                dt.date(2199, 12, 31),
                dt.date(2200, 1, 1),
                dt.date(1, 1, 1),
            ]
        ),
    ),
}
EDGE_TYPES = {"age": pa.int64(), "products_held": pa.int32(), "balance": pa.float64(),
              "annual_contribution": pa.float32(), "last_txn_date": pa.date32()}  # fmt: skip


def _typed_snapshot(
    path: Path, records: list[dict[str, Any]], group: int, statistics: Any, writer: str
) -> Path:
    """Typed columns in row groups of `group` rows, with `statistics` (True, False or the
    columns that have them) when pyarrow writes them; DuckDB writes its own."""
    columns = {"customer_id": pa.array([f"C{i}" for i in range(len(records))]),
               "name": pa.array(["名"] * len(records))}  # fmt: skip
    columns |= {f: pa.array([r[f] for r in records], EDGE_TYPES[f]) for f in EDGE_TYPES}
    table = pa.table(columns)
    if writer == "pyarrow":
        pq.write_table(table, path, row_group_size=group, write_statistics=statistics)
    else:
        duck = duckdb.connect()
        duck.register("typed", table)
        duck.execute(f"COPY typed TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE {group})")
        duck.close()
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.fixed_dictionaries(EDGES), min_size=1, max_size=25),
    st.integers(1, 10),
    st.sampled_from([True, False, ["age", "balance", "last_txn_date"]]),
    st.sampled_from(["pyarrow", "duckdb"]),
)
def test_the_screen_of_a_parquet_file_with_statistics_rejects_what_load_rejects(
    records: list[dict[str, Any]], group: int, statistics: Any, writer: str
) -> None:
    """Typed Parquet columns in several row groups, with statistics or without, some row
    groups in bounds and some not, NULLs, NaN (which no statistics count), infinities, dates
    out of range: the screen quarantines the rows load quarantines, with the same reasons,
    and passes the same customers on."""
    with tempfile.TemporaryDirectory() as folder:
        path = _typed_snapshot(Path(folder, "typed.parquet"), records, group, statistics, writer)
        _assert_screened_as_loaded(REQUIRED_AGE, path)


def _statistics_of(path: Path, table: pa.Table, **options: Any) -> dict[str, Stored]:
    pq.write_table(table, path, **options)
    return parquet_statistics(path)


def test_statistics_prove_a_column_only_when_every_row_group_has_them(tmp_path: Path) -> None:
    """Bounds and NULLs over all row groups; nothing of a column one row group has no
    statistics for, nor of text, timestamps, unsigned numbers or a file of nested columns."""
    table = pa.table({
        "age": pa.array([40, None, 3, 90], pa.int64()),
        "balance": pa.array([1.5, math.nan, 0.0, 7.0]),
        "opened_on": pa.array([dt.date(2020, 1, 1), None, None, dt.date(2001, 5, 6)]),
        "empty": pa.array([None, None, 1, 2], pa.int16()),
        "name": ["a", "b", "c", "d"],
        "at": pa.array([dt.datetime(2026, 1, 1)] * 4),
        "count": pa.array([1, 2, 3, 4], pa.uint32()),
    })  # fmt: skip
    found = _statistics_of(tmp_path / "a.parquet", table, row_group_size=2)
    assert found == {
        "age": Stored("whole", True, 3, 90),
        "balance": Stored("real", False, 0.0, 7.0),  # NaN counted nowhere
        "opened_on": Stored("date", True, dt.date(2001, 5, 6), dt.date(2020, 1, 1)),
        "empty": Stored("whole", True, 1, 2),
    }
    some = _statistics_of(tmp_path / "b.parquet", table, write_statistics=["age"])
    assert list(some) == ["age"]
    nested = pa.table({"age": [1], "place": [{"city": "长沙"}]})
    assert _statistics_of(tmp_path / "c.parquet", nested) == {}
    (tmp_path / "d.parquet").write_text("not parquet")
    assert parquet_statistics(tmp_path / "d.parquet") == {}


def test_a_date_beyond_pythons_proves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "far.parquet"
    duckdb.execute(f"COPY (SELECT DATE '10000-01-01' AS opened_on) TO '{path}'")
    assert parquet_statistics(path) == {}


def test_columns_the_statistics_prove_are_not_tested() -> None:
    """In bounds and without NULLs: no test at all; a real number keeps its test for NaN."""
    screen = Screen(REQUIRED_AGE.schema, "Asia/Shanghai", SQLiteStore(":memory:"), "s", "now")
    types = {"age": "BIGINT", "balance": "DOUBLE", "last_txn_date": "DATE"}
    stored = {
        "age": Stored("whole", False, 0, 150),
        "balance": Stored("real", True, 0.0, 5.0),
        "last_txn_date": Stored("date", True, dt.date(1900, 1, 1), dt.date(2199, 12, 31)),
    }
    assert screen.clean(types, "duckdb", None, stored) == (
        'COALESCE((("balance" IS NULL) OR ("balance" - "balance" = 0)), FALSE)'
    )
    beyond = {**stored, "age": Stored("whole", False, 0, 151)}
    assert '"age" <= 150' in screen.clean(types, "duckdb", None, beyond)
    with_nulls = {**stored, "age": Stored("whole", True, 0, 150)}
    assert 'NOT ("age" IS NULL)' in screen.clean(types, "duckdb", None, with_nulls)
    read_as_text = {"age": "VARCHAR", "balance": "DOUBLE", "last_txn_date": "DATE"}
    assert 'regexp_full_match("age"' in screen.clean(read_as_text, "duckdb", None, stored)


# A date field written as Parquet timestamps, as exports write them: without a zone (pandas,
# its wall clock in the project's zone), adjusted to UTC (Java, Spark, Hive) or in a named
# zone; in microseconds or in nanoseconds (pandas). Each instant is given by its wall clock in
# Asia/Shanghai, the rule project's zone.
TIMESTAMP_UNITS = ["us", "ns"]
TIMESTAMP_ZONES = [None, "UTC", "Asia/Shanghai"]
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
TIMESTAMPED = {
    "T1": (dt.datetime(2026, 11, 1), 0),  # midnight: the day
    "T2": (dt.datetime(2026, 6, 1, 8), 0),  # UTC's midnight: a time of day here
    "T3": (dt.datetime(2026, 6, 2), 1),  # one tick (a microsecond, a nanosecond) after midnight
    "T4": None,  # no date
    "T5": (dt.datetime(2026, 1, 1), 0),  # midnight here, still 2025 in UTC
}
TIMESTAMPED_DAYS = {"T1": "2026-11-01", "T4": None, "T5": "2026-01-01"}


def timestamped_snapshot(path: Path, unit: str, zone: str | None) -> Path:
    """TIMESTAMPED in last_txn_date, as a Parquet column of timestamps in `unit`, in `zone`
    (None: none, the wall clock)."""
    per_second = 10**6 if unit == "us" else 10**9
    ticks = []
    for written in TIMESTAMPED.values():
        if written is None:
            ticks.append(None)
            continue
        clock, tick = written
        moment = clock.replace(tzinfo=dt.UTC if zone is None else SHANGHAI)
        ticks.append(int(moment.timestamp()) * per_second + tick)
    days = pa.array(ticks, pa.int64()).cast(pa.timestamp(unit, tz=zone))
    count = len(TIMESTAMPED)
    names, balances = ["张三"] * count, [100.0 * i for i in range(count)]
    table = pa.table({"customer_id": list(TIMESTAMPED), "name": names, "balance": balances,
                      "last_txn_date": days})  # fmt: skip
    pq.write_table(table, path)
    return path


def timestamped_quarantine(unit: str, zone: str | None) -> list[tuple[Any, ...]]:
    """What load quarantines of a timestamped_snapshot: T2 (row 2) and T3 (row 3), as written
    without a zone, an instant shown in the project's zone."""
    tick = "000001" if unit == "us" else "000000001"
    times = ["2026-06-01 08:00:00", f"2026-06-02 00:00:00.{tick}"]
    if zone is None:
        return [
            (row, FIELD, t, f'expected a date, got "{t}"')
            for row, t in zip((2, 3), times, strict=True)
        ]
    return [
        (row, FIELD, f"{t}+08:00", _not_midnight(f"{t}+08:00"))
        for row, t in zip((2, 3), times, strict=True)
    ]


FIELD = "last_txn_date"


def _not_midnight(shown: str) -> str:
    return (
        f"'{shown}' is a time of day, not a date: a timestamp in a date field is a date only"
        " at midnight in Asia/Shanghai, the rule project's time zone (timezone: in guanxi.yaml)"
    )


@pytest.mark.every_store
@pytest.mark.parametrize("unit", TIMESTAMP_UNITS)
@pytest.mark.parametrize("zone", TIMESTAMP_ZONES)
def test_timestamps_in_a_date_field_read_alike_to_load_and_to_duckdb(
    store: Store, ruleset: RuleSet, tmp_path: Path, unit: str, zone: str | None
) -> None:
    """An instant is its day in the project's zone when it falls on midnight there, whatever
    zone the file gives it; a timestamp without a zone is its wall clock: load and the DuckDB
    night keep and quarantine the same rows, with the same values and reasons."""
    path = timestamped_snapshot(tmp_path / "night.parquet", unit, zone)
    load_customers(store, ruleset, path, NOW)
    classify(store, ruleset, NOW)
    days = store.execute("SELECT customer_id, last_txn_date FROM customers")
    assert {r["customer_id"]: r["last_txn_date"] for r in days} == TIMESTAMPED_DAYS
    assert quarantined(store) == timestamped_quarantine(unit, zone)
    duck = SQLiteStore(tmp_path / "duck.db")
    report = classify_snapshot(duck, ruleset, NOW, path)
    assert report.rejected == 2
    assert assignments(duck) == assignments(store)
    assert quarantined(duck) == quarantined(store)
    duck.close()


def test_an_instant_written_as_text_in_a_date_field_reads_as_a_timestamp_does(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A CSV export writes an instant as text with its offset: its day in the project's zone
    when it falls on midnight there (T1, T5, T6), refused otherwise (T2, T3); load and the
    DuckDB night alike."""
    written = {"T1": "2026-11-01 00:00:00+08:00", "T2": "2026-06-01 00:00:00+00:00",
               "T3": "2026-06-02 00:00:01+08:00", "T4": "", "T5": "2025-12-31T16:00:00Z",
               "T6": "2026-11-01T00:00+0800"}  # fmt: skip
    lines = ["customer_id,name,last_txn_date", *(f"{k},张三,{v}" for k, v in written.items())]
    path = tmp_path / "night.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_customers(store, ruleset, path, NOW)
    days = store.execute("SELECT customer_id, last_txn_date FROM customers")
    assert {r["customer_id"]: r["last_txn_date"] for r in days} == {
        **TIMESTAMPED_DAYS,
        "T6": "2026-11-01",
    }
    shown = {3: "2026-06-01 08:00:00+08:00", 4: "2026-06-02 00:00:01+08:00"}  # file lines
    assert quarantined(store) == [(n, FIELD, v, _not_midnight(v)) for n, v in shown.items()]
    classify(store, ruleset, NOW)
    duck = SQLiteStore(tmp_path / "duck.db")
    classify_snapshot(duck, ruleset, NOW, path)
    assert assignments(duck) == assignments(store)
    assert quarantined(duck) == quarantined(store)
    duck.close()


@pytest.mark.parametrize("unit", TIMESTAMP_UNITS)
def test_duckdbs_session_zone_does_not_shift_a_timestamp_in_a_date_field(
    tmp_path: Path, unit: str
) -> None:
    """DuckDB gives an instant in its session's zone (the machine's by default) and a timestamp
    without one as written: neither moves what the screen passes on or rejects."""
    for zone in TIMESTAMP_ZONES:
        folder = tmp_path / str(zone).replace("/", "_")
        folder.mkdir()
        path = timestamped_snapshot(folder / "night.parquet", unit, zone)
        day = "CAST(last_txn_date AS VARCHAR)"  # a date to DuckDB, text to SQLite
        _assert_screened_as_loaded(SCHEMA, path, day, "America/New_York")


# a count of 18 or 19 digits, as a DECIMAL(20,0) column (Oracle's NUMBER) or a UINT64 one holds it
WIDE_COUNTS = [123456789012345678, 2**63 - 1, 2**64 - 1, 5]


def wide_counts_snapshot(path: Path, kind: pa.DataType) -> Path:
    """Customers W0..W3 whose monthly_txn_count is WIDE_COUNTS, in a column of `kind`."""
    count = len(WIDE_COUNTS)
    pq.write_table(pa.table({
        "customer_id": [f"W{i}" for i in range(count)],
        "name": ["客户"] * count,
        "monthly_txn_count": pa.array(WIDE_COUNTS, pa.uint64()).cast(kind),
    }), path)  # fmt: skip
    return path


WIDE_COUNTS_REFUSED = [(3, "monthly_txn_count", str(2**64 - 1), f"{2**64 - 1} is too large")]


def test_a_whole_number_of_19_digits_in_a_decimal_column_is_taken_exactly(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A DECIMAL(20,0) value was made a real first: 123456789012345678 was stored as
    ...680, and 2^63 - 1, which an integer field holds, was refused as 2^63."""
    path = wide_counts_snapshot(tmp_path / "night.parquet", pa.decimal128(20, 0))
    load_customers(store, ruleset, path, NOW)
    counts = store.execute("SELECT customer_id, monthly_txn_count FROM customers")
    assert {r["customer_id"]: r["monthly_txn_count"] for r in counts} == {
        "W0": WIDE_COUNTS[0], "W1": WIDE_COUNTS[1], "W3": 5
    }  # fmt: skip
    assert quarantined(store) == WIDE_COUNTS_REFUSED
    classify(store, ruleset, NOW)
    duck = SQLiteStore(tmp_path / "duck.db")
    classify_snapshot(duck, ruleset, NOW, path)
    assert assignments(duck) == assignments(store)
    assert quarantined(duck) == WIDE_COUNTS_REFUSED
    duck.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_id_excel_showed_in_scientific_notation_is_refused_by_load_and_the_screen(
    store: Store, ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    """Excel's General format shows a number of 12 digits or more as 6.22848E+18, and saves it
    so in a CSV file: every such customer was one customer '6.22848E+18' (the second a
    duplicate of the first). An id holding a + otherwise (VIP+0005) is an id like any other."""
    records = [good(i, 100.0 * i) for i in range(1, 6)]
    records[1]["customer_id"] = records[3]["customer_id"] = "6.22848E+18"
    records[2]["customer_id"] = "1.23457e+11"
    records[4]["customer_id"] = "VIP+0005"
    path = tmp_path / f"night{suffix}"
    _ = write_csv(path, records) if suffix == ".csv" else write_parquet(path, records)
    load_customers(store, ruleset, path, NOW)
    classify(store, ruleset, NOW)
    header = suffix == ".csv"
    refused = [q for q in quarantined(store) if q[1] == "customer_id"]
    assert {(row, value) for row, _, value, _ in refused} == {
        (2 + header, "6.22848E+18"), (3 + header, "1.23457e+11"), (4 + header, "6.22848E+18")
    }  # fmt: skip
    assert "in Excel, format the column as Text" in refused[0][3]
    assert "VIP+0005" in assignments(store)
    duck = SQLiteStore(tmp_path / "duck.db")
    classify_snapshot(duck, ruleset, NOW, path)
    assert assignments(duck) == assignments(store)
    assert quarantined(duck) == quarantined(store)
    duck.close()


def labelled_parquet(path: Path) -> Path:
    """rows() as a Parquet file headed by the fields' labels (客户编号, 存款余额, ...), as a bank's
    export heads them, with 开户日期 in nanoseconds (pandas'), one of them not at midnight."""
    records = rows()
    table = pq.read_table(write_parquet(path, records))
    labels = {name: spec.label for name, spec in SCHEMA.schema.fields.items()}
    table = table.rename_columns([labels[name] or name for name in table.column_names])
    opened = [dt.datetime(2020, 1, 1)] * len(records)
    opened[3] = dt.datetime(2020, 1, 1, 10, 30)
    pq.write_table(table.append_column("开户日期", pa.array(opened, pa.timestamp("ns"))), path)
    return path


def test_a_parquet_snapshot_headed_by_the_fields_labels_is_read_as_load_reads_it(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """load names a column by the field its label means; the night refused such a file for
    having no column 'customer_id'."""
    path = labelled_parquet(tmp_path / "night.parquet")
    loaded = load_customers(store, ruleset, path, NOW)
    classify(store, ruleset, NOW)
    assert loaded.quarantined == len(BAD) + 1
    duck = SQLiteStore(tmp_path / "duck.db")
    report = classify_snapshot(duck, ruleset, NOW, path)
    assert report.rejected == loaded.quarantined
    assert assignments(duck) == assignments(store)
    assert quarantined(duck) == quarantined(store)
    duck.close()
