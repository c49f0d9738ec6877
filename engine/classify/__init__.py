"""Classification: every customer sorted into a value tier, gold or not, a relationship level
and a strategy, by set-based SQL compiled from the rules, and explained customer by customer.

    classify(store, ruleset, now)                   -> RunReport   (SQL inside the store)
    classify_snapshot(store, ruleset, now, path)    -> RunReport   (DuckDB over Parquet/CSV)
    explain(store or record, ruleset, customer_id, now) -> Explanation
"""

from guanxi.engine.classify.compile import CompiledQuery, compile_classification
from guanxi.engine.classify.report import Cell, RunReport
from guanxi.engine.classify.run import classify

__all__ = ["Cell", "CompiledQuery", "RunReport", "classify", "compile_classification"]
