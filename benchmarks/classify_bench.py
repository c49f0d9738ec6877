"""Classification benchmark: the set-based engines against per-customer rule engines.

    python benchmarks/classify_bench.py [--quick] [--runs N] [--data DIR] [--engine NAME]

Measured, each run in a fresh process (so peak memory is that run's own), median of N runs:
  sqlite first    the default rules over 1M customers in the SQLite store, no assignments yet
  sqlite night    the same store again after 5 % of the customers changed
  sqlite same     the same store again, nothing changed
  duckdb first    a 10M-customer Parquet snapshot into an empty store (everything is new)
  duckdb night    the next night's snapshot (5 % of customers changed); nights alternate
                  between two snapshots, so each changes as much as a real night
  duckdb cold     one night without the columnar copy of the assignments (read from SQLite)
  spark first     a 1M-customer Parquet snapshot on Spark local[2] into an empty store,
                  Spark's start included (its share is the phase 'spark start')
  spark night     the next night's 1M snapshot (5 % changed) on Spark; peak RSS adds the JVM's
  python loop     the Python predicates, customer by customer, on a 100k sample
  durable_rules   one fact per customer through durable_rules, same sample (see baselines.py)
--quick divides every size by ten. Data are generated once into --data and reused.
--engine sqlite|duckdb|spark measures that engine alone (the per-customer baselines need all).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from baselines import durable_rules_run, python_loop, sample
from bench_data import TODAY, demo_csv, load_store, night_parquet, snapshot_parquet

from guanxi.engine.classify import RunReport, classify
from guanxi.engine.classify.mirror import mirror_path
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.classify.spark import classify_on_spark, start_spark
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

NOW = dt.datetime.combine(TODAY, dt.time(2, 0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
NIGHT_PERCENT = 5.0


def rules() -> RuleSet:
    return load_ruleset(default_rules_path())


# --- one measured run, in a child process ---------------------------------------------


def child(scenario: str, paths: dict[str, str]) -> dict[str, Any]:
    ruleset = rules()
    started = time.perf_counter()
    jvm_mb = 0.0
    if scenario.startswith("sqlite"):
        report = _store_run(ruleset, Path(paths["store"]))
    elif scenario.startswith("duckdb"):
        report = _snapshot_run(ruleset, Path(paths["store"]), Path(paths["snapshot"]))
    elif scenario.startswith("spark"):
        report, jvm_mb = _spark_run(ruleset, Path(paths["store"]), Path(paths["snapshot"]))
    else:
        return _baseline(scenario, ruleset, paths)
    seconds = time.perf_counter() - started
    timings = dict(report.timings)
    if scenario.startswith("spark"):
        timings["spark start"] = round(seconds - report.seconds, 3)
    return {
        "seconds": seconds,
        "customers": report.customers,
        "changed": report.changed,
        "transitions": report.transitions,
        "timings": timings,
        "rss_mb": _rss() + jvm_mb,
    }


def _store_run(ruleset: RuleSet, path: Path) -> RunReport:
    store = SQLiteStore(path)
    try:
        return classify(store, ruleset, NOW)
    finally:
        store.close()


def _snapshot_run(ruleset: RuleSet, path: Path, snapshot: Path) -> RunReport:
    store = SQLiteStore(path)
    try:
        return classify_snapshot(store, ruleset, NOW, snapshot)
    finally:
        store.close()


def _spark_run(ruleset: RuleSet, path: Path, snapshot: Path) -> tuple[RunReport, float]:
    """A run on a Spark started for it (as the command does); and the JVM's peak MB."""
    store = SQLiteStore(path)
    spark = start_spark("local[2]")
    try:
        report = classify_on_spark(store, ruleset, NOW, snapshot, spark)
        jvm = spark.sparkContext._jvm.ProcessHandle.current().pid()  # type: ignore[union-attr]
        return report, _rss(Path(f"/proc/{jvm}/status"))
    finally:
        spark.stop()
        store.close()


def _baseline(scenario: str, ruleset: RuleSet, paths: dict[str, str]) -> dict[str, Any]:
    records = sample(ruleset, Path(paths["store"]), int(paths["size"]), TODAY)
    run = durable_rules_run if scenario == "durable_rules" else python_loop
    seconds = run(ruleset, records, TODAY)
    return {
        "seconds": seconds,
        "customers": len(records),
        "changed": None,
        "transitions": None,
        "timings": {},
        "rss_mb": _rss(),
    }


def _rss(status: Path = Path("/proc/self/status")) -> float:
    """This process's peak resident memory in MB (VmHWM: since its own start, unlike
    ru_maxrss, which Linux carries over from the parent that started it)."""
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(scenario: str, **paths: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", scenario, "--paths", json.dumps(paths)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{scenario} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- preparing stores ---------------------------------------------------------------------


def fresh_copy(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    for old in target.parent.glob(f"{target.name}.assignments*"):  # copy and Spark's output
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.copyfile(source, target)
    return target


def change_customers(path: Path, percent: float) -> None:
    """Make `percent` % of the store's customers trade today with a tripled contribution."""
    store = SQLiteStore(path)
    step = round(100 / percent)
    store.execute(
        "UPDATE customers SET last_txn_date = :day, annual_contribution ="
        f" annual_contribution * 3 WHERE rowid % {step} = 0", {"day": TODAY.isoformat()},
    )  # fmt: skip
    store.close()


# --- the whole benchmark ------------------------------------------------------------------


Results = list[tuple[str, list[dict[str, Any]]]]
ENGINES = ("all", "sqlite", "duckdb", "spark")


def run_all(data: Path, quick: bool, runs: int, engine: str = "all") -> Results:
    ruleset = rules()
    store_size, snapshot_copies, sample_size = (
        (100_000, 10, 10_000) if quick else (1_000_000, 10, 100_000)
    )
    csv_path = demo_csv(data, store_size)
    base = data / f"store-{store_size}.db"
    if not base.exists():
        load_store(ruleset, csv_path, base)
    results: Results = []
    if engine in ("all", "sqlite"):
        results += _sqlite_runs(base, data / "work.db", runs)
    if engine in ("all", "duckdb"):
        name = f"snapshot-{store_size}x{snapshot_copies}.parquet"
        first = snapshot_parquet(ruleset, csv_path, data / name, snapshot_copies)
        results += _snapshot_runs("duckdb", base, data, first, runs)
    if engine in ("all", "spark"):
        first = snapshot_parquet(ruleset, csv_path, data / f"snapshot-{store_size}x1.parquet", 1)
        results += _snapshot_runs("spark", base, data, first, runs)
    if engine == "all":
        for name in ("python loop", "durable_rules"):
            scenario = "durable_rules" if name == "durable_rules" else "python"
            once = lambda s=scenario: measured(s, store=str(base), size=str(sample_size))  # noqa: E731
            results.append((name, _repeat(runs, once)))
    return results


def _sqlite_runs(base: Path, work: Path, runs: int) -> Results:
    results: Results = [
        (
            "sqlite first",
            _repeat(runs, lambda: measured("sqlite", store=str(fresh_copy(base, work)))),
        )
    ]
    nights = []
    for _ in range(runs):
        fresh_copy(base, work)
        measured("sqlite", store=str(work))
        change_customers(work, NIGHT_PERCENT)
        nights.append(measured("sqlite", store=str(work)))
    results.append(("sqlite night", nights))
    results.append(("sqlite same", _repeat(runs, lambda: measured("sqlite", store=str(work)))))
    return results


def _snapshot_runs(engine: str, base: Path, data: Path, first: Path, runs: int) -> Results:
    """First run into an empty store, then nights alternating between two snapshots; the
    DuckDB engine also one night without its columnar copy of the assignments."""
    second = night_parquet(first, data / f"{first.stem}-night.parquet", NIGHT_PERCENT, TODAY)
    big = data / f"{engine}-snapshot-store.db"

    def once(snapshot: Path, store: Path = big) -> dict[str, Any]:
        return measured(engine, store=str(store), snapshot=str(snapshot))

    results: Results = [
        (f"{engine} first", _repeat(runs, lambda: once(first, fresh_copy(_empty(base, data), big))))
    ]
    snapshots = [second, first] * runs
    results.append((f"{engine} night", [once(s) for s in snapshots[:runs]]))
    if engine == "duckdb":
        Path(mirror_path(big)).unlink()
        results.append(("duckdb cold", [once(snapshots[runs])]))
    return results


def _repeat(runs: int, once: Any) -> list[dict[str, Any]]:
    return [once() for _ in range(runs)]


def _empty(base: Path, data: Path) -> Path:
    """A store with the schema but no customers: the snapshot engine reads the file instead."""
    empty = data / "empty-store.db"
    if not empty.exists():
        store = SQLiteStore(empty)
        store.prepare(rules().schema)
        store.close()
    return empty


def table(results: Results, command: str) -> str:
    rate = {n: _median(r, "customers") / _median(r, "seconds") for n, r in results}
    lines = [f"`{command}` — median of the runs shown; {dt.date.today()} on this machine", "",
             "| run | customers | changed | seconds (median) | runs | customers/s | peak RSS MB |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]  # fmt: skip
    for name, runs in results:
        changed = _median(runs, "changed")
        lines.append(
            f"| {name} | {_median(runs, 'customers'):,.0f} | "
            f"{'' if changed is None else f'{changed:,.0f}'} | {_median(runs, 'seconds'):.2f} | "
            f"{_each(runs)} | {rate[name]:,.0f} | "
            f"{max(r['rss_mb'] for r in runs):,.0f} |"
        )
    durable = rate.get("durable_rules")
    if durable:
        lines += ["", "Throughput ratio against durable_rules (one fact per customer):"]
        lines += [f"- {n}: {rate[n] / durable:,.0f}×" for n in rate if n != "durable_rules"]
    lines += [
        "",
        "Rule evaluation only (the runs' 'classify' phase: reading the customers and"
        " classifying them, no comparison or writing):",
    ]
    for name in (n for n in ("sqlite first", "duckdb first", "duckdb night", "spark first",
                             "spark night") if n in rate):  # fmt: skip
        compute = _median(dict(results)[name], "customers") / _phase(results, name, "classify")
        versus = f", {compute / durable:,.0f}× durable_rules" if durable else ""
        lines.append(f"- {name}: {compute:,.0f} customers/s{versus}")
    for name in ("duckdb night", "spark night"):
        if name in rate:
            phases = json.dumps(_median_run(results, name)["timings"])
            lines += ["", f"Phases of the median {name} (s): {phases}"]
    return "\n".join(lines)


def _phase(results: Results, name: str, phase: str) -> float:
    return float(statistics.median(r["timings"][phase] for r in dict(results)[name]))


def _each(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in runs)


def _median(runs: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


def _median_run(results: Results, name: str) -> dict[str, Any]:
    runs = sorted(dict(results)[name], key=lambda r: r["seconds"])
    return runs[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes divided by ten")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--engine", choices=ENGINES, default="all", help="one engine only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.paths))))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    results = run_all(args.data, args.quick, args.runs, args.engine)
    print(table(results, "python " + " ".join(sys.argv)))


if __name__ == "__main__":
    main()
