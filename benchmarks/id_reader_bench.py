"""Reading customer ids: the id reader that also reads a float export's `123.0` as `123`
against the one that did not, side by side in one process, alternated.

    PYTHONPATH=… python benchmarks/id_reader_bench.py [ids]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from guanxi.engine.ids import same_id
from guanxi.engine.ingest import values

RUNS = 7


def timed(read: Callable[[Any], Any], ids: list[str]) -> float:
    start = time.perf_counter()
    for written in ids:
        read(written)
    return time.perf_counter() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    ids = [f"C{i:09d}" for i in range(count)] + [f"{i}.0" for i in range(count // 100)]
    before = values._reader(values.UNSEEN_IN_ID, values.ID_CHARS, same_id, values._id_text)
    readers = {"before": before, "after": values.identifier}
    times: dict[str, list[float]] = {name: [] for name in readers}
    for run in range(RUNS):
        for name in sorted(readers, reverse=run % 2 == 1):  # each goes first every other run
            times[name].append(timed(readers[name], ids))
    for name, found in times.items():
        rate = len(ids) / statistics.median(found)
        print(f"{name:>6}: {rate:,.0f} ids/s (median of {RUNS}; load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
