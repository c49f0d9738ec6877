"""Classification: every customer sorted into a value tier, gold or not, a relationship level
and a strategy, by set-based SQL compiled from the rules, and explained customer by customer.

    classify(store, ruleset, now)                        -> RunReport  (SQL inside the store)
    classify_snapshot(store, ruleset, now, path)         -> RunReport  (DuckDB, Parquet/CSV)
    classify_snapshot(store, ruleset, now, None)         -> RunReport  (DuckDB, the store's)
    classify_chosen(store, ruleset, now)                 -> (RunReport, why inside or None)
                                                            (by the store's size: chosen.py)
    classify_on_spark(store, ruleset, now, path, master) -> RunReport  (Spark, Parquet/CSV)
    explain(store or record, ruleset, customer_id, now)  -> Explanation
    compile_classification(ruleset, dialect, today, source) -> CompiledQuery (the SQL itself)
"""

from guanxi.engine.classify.compile import CompiledQuery, compile_classification
from guanxi.engine.classify.explain import Explanation, explain
from guanxi.engine.classify.explain_quarantined import UnknownCustomer
from guanxi.engine.classify.report import Cell, RunReport
from guanxi.engine.classify.run import classify
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.classify.spark import classify_on_spark

__all__ = [
    "Cell",
    "CompiledQuery",
    "Explanation",
    "RunReport",
    "UnknownCustomer",
    "classify",
    "classify_on_spark",
    "classify_snapshot",
    "compile_classification",
    "explain",
]
