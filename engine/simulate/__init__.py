"""Dry runs: the real pipeline over a copy of the store, on a virtual clock.

    simulate(live, ruleset, Request(first, days, ...), baseline=None) -> Simulation

copy.py        the live SQLite file copied with the backup API, opened read-only (never written)
feed.py        events replayed from a file or drawn from the history, staged and fed hour by hour
snapshot.py    the copy's customers as Parquet, for the nightly classification on DuckDB
run.py         one run: the daemon's jobs and ticks on a FixedClock, delivering to a recorder
results.py     what a run shows: deliveries per day and channel, workload, policy verdicts,
               customers by tier × level at the start and the end
compare.py     a run against its baseline: who gains or loses each step, volume and workload
               deltas, and why, customer by customer (explain's reasons under both rule sets)
simulation.py  the whole: copies, events, the runs, the comparison; the copies can be kept
"""

from guanxi.engine.simulate.simulation import MAX_DAYS, Request, Simulation, simulate

__all__ = ["MAX_DAYS", "Request", "Simulation", "simulate"]
