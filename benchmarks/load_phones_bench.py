"""Loading customers with the phone check (a phone the daemon would refuse is warned of at
load time, engine/ingest/addresses.py) against the load without it, side by side in one
process, alternated, each into a new SQLite store.

    PYTHONPATH=… python benchmarks/load_phones_bench.py [rows]
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from guanxi.engine.ingest import load
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

RUNS = 5
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
RULES = Path(__file__).resolve().parent.parent / "rules"


def write(path: Path, rows: int) -> Path:
    lines = ["customer_id,name,balance,phone"]
    lines += [f"C{i:09d},张三,{i % 9000},1380013{i % 10000:04d}" for i in range(rows)]
    lines += [f"X{i:09d},李四,100,1380013800O" for i in range(rows // 1000)]  # a few refused
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(folder: Path, name: str, path: Path, checked: bool) -> float:
    ruleset = load_ruleset(RULES)
    store = SQLiteStore(folder / f"{name}.db")
    noted = load._addresses_noted
    load._addresses_noted = noted if checked else (lambda kinds: None)  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        load.load_customers(store, ruleset, path, NOW)
        return time.perf_counter() - start
    finally:
        load._addresses_noted = noted  # type: ignore[assignment]
        store.close()


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder, "c.csv"), rows)
        times: dict[str, list[float]] = {"without": [], "with": []}
        for run in range(RUNS):
            for name in sorted(times, reverse=run % 2 == 1):  # each goes first every other run
                times[name].append(timed(Path(folder), f"{name}{run}", path, name == "with"))
        for name, found in times.items():
            rate = rows / statistics.median(found)
            load_avg = os.getloadavg()[0]
            said = f"{rate:,.0f} rows/s (median of {RUNS}; load {load_avg:.2f})"
            print(f"{name:>7} the phone check: {said}")


if __name__ == "__main__":
    main()
