"""The condition language: SQL-style boolean expressions, parsed once, compiled three ways.

parse_condition(text, fields)  -> Condition (checked sqlglot AST)
Condition.sql(dialect, today)  -> SQL text for SQLite, DuckDB, PostgreSQL or Spark
Condition.evaluate(record)     -> the same answer in Python (SQL NULL logic included)
"""

from guanxi.engine.language.conditions import (
    FUNCTIONS,
    Condition,
    FieldType,
    parse_condition,
    parse_value,
)

__all__ = ["FUNCTIONS", "Condition", "FieldType", "parse_condition", "parse_value"]
