"""Percentiles and gold by cut-off values: a few aggregates instead of a rank of every customer.

A percentile measure that the ladders only compare with numbers (`contribution_pct >= 90%`),
and that nothing else reads (no measure, no output), needs no value per customer: with n the
customers (of the segment) whose x is known and s their x sorted ascending (0-based),
`percentile >= c` holds exactly for the customers with at least k others below them, that is
x > s[k - 1], where k is the least count of customers below whose percentile (computed as
the window path computes it, CAST(below AS double) / (n - 1), 0.0 for a population of one)
passes the comparison. Gold likewise: fewer than T customers ahead of x holds for
x >= s[n - 1 - A], A the most customers ahead that the exact fraction allows. An index below
0 lets every customer with a known x pass; one at n or beyond, none. So the query finds one
value of x per comparison (and segment), then compares x with it: the same customers as the
rank, ties and NULLs included.

How each engine finds s[j] (an index it computes from the counts of the segment):
    PostgreSQL  ORDER BY x LIMIT 1 OFFSET j over the customers of the segment
    SQLite      the same over all customers; within segments (SQLite refuses a correlated
                OFFSET) x is first grouped by segment and value with the customers of each,
                a narrow relation, and a running sum of those counts per segment gives each
                value the customers through it: s[j] is the value whose run holds index j.
                The window sorts the distinct values of a segment, not the wide rows.
    DuckDB      a histogram of B buckets of sign(x)·ln(1 + |x|) per segment; the bucket
                holding index j gives a range of values [lo, hi]; the values in that range are
                sorted (about 1/BUCKETS of the customers where amounts spread evenly on that
                scale; a range of one value, many tied customers, needs no sort) and s[j] is
                read at j - count(x < lo). The bucket function need not be exact: the counts
                place the sorted range, and an index outside it stops the query with an error
                rather than give a wrong cut-off.
Spark keeps its bucketed rank.

The snapshot engine runs DuckDB's cut-offs first (cutoff_passes.py): the passes read only the
ranked columns, shared by the rankings of one source, and each ranking's cut-offs land in a
small table of a row per segment; the classification then reads the customers once, joining
each to their segment's row (a tiny build side) and comparing x with its values.

k itself is estimated as floor(c · (n - 1)) and settled by evaluating the window path's own
double comparison at the counts around the estimate (a double's rounding moves the least
passing count by at most one), so a threshold such as 0.3 of 10 customers falls where the
rank puts it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from sqlglot import exp

from guanxi.engine.language import Condition
from guanxi.engine.language.conditions import field_name
from guanxi.engine.language.to_sql import to_sql
from guanxi.engine.ruleset import Ladder, RuleSet
from guanxi.engine.ruleset.ruleset import Ranking

DIALECTS = ("sqlite", "postgres", "duckdb")
BUCKETS = 4096  # DuckDB's histogram: the sorted range is about n / BUCKETS values
_FLIPPED: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
}


@dataclass(frozen=True)
class Threshold:
    """`measure >= value` (or > with `strict`) as a boolean column `column`; gold, when
    `gold` is its exact share, is the column `gold` itself."""

    column: str
    ranking: Ranking
    strict: bool = False
    value: exp.Expression | None = None
    gold: Fraction | None = None


def supported(dialect: str, ranking: Ranking) -> bool:
    return dialect in DIALECTS


def threshold_measures(ruleset: RuleSet, dialect: str) -> set[str]:
    """The percentile measures read only by ladder comparisons with a number."""
    found = {m.name for m in ruleset.measures if m.ranking and supported(dialect, m.ranking)}
    for measure in ruleset.measures:
        found -= measure.uses | set(measure.within)
    gold = ruleset.gold_ranking
    found -= {gold.source, *gold.within} if gold else set()
    found -= {c.field for m in ruleset.change_measures if (c := m.change)}
    for condition in _ladder_conditions(ruleset):
        for column in condition.tree.find_all(exp.Column):
            if field_name(column) in found and _compared(column) is None:
                found.discard(field_name(column))
    return found


def _ladder_conditions(ruleset: RuleSet) -> Iterable[Condition]:
    for ladder in (ruleset.tiers, ruleset.levels, ruleset.strategies):
        for rule in ladder.rules if ladder else ():
            if rule.condition is not None:
                yield rule.condition


def _compared(column: exp.Column) -> tuple[type[exp.Expression], exp.Expression] | None:
    """(comparison with the column on the left, the number) when `column` is compared with a
    number, else None."""
    node = column.parent
    if not isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE):
        return None
    kind: type[exp.Expression] = type(node)
    if node.this is column and _is_number(node.expression):
        return kind, node.expression
    if node.expression is column and _is_number(node.this):
        return _FLIPPED[kind], node.this
    return None


def _is_number(node: exp.Expression) -> bool:
    inner = node.this if isinstance(node, exp.Neg) else node
    return isinstance(inner, exp.Literal) and not inner.is_string


def _number(node: exp.Expression) -> float:
    if isinstance(node, exp.Neg):
        return -_number(node.this)
    return float(str(node.this))


def compressed(x: str) -> str:
    """DuckDB's bucket function before scaling: amounts of money spread out on it."""
    return f"SIGN({x}) * LN(1 + ABS({x}))"


def rewrite(ruleset: RuleSet, dialect: str) -> tuple[RuleSet, dict[str, list[Threshold]]]:
    """The rule set whose ladders read a boolean column for each comparison of a threshold
    measure, and those columns by measure."""
    names = threshold_measures(ruleset, dialect)
    if not names:
        return ruleset, {}
    rankings = {m.name: m.ranking for m in ruleset.measures if m.name in names and m.ranking}
    found: dict[str, list[Threshold]] = {n: [] for n in names}
    columns: dict[tuple[str, bool, str], Threshold] = {}

    def threshold(name: str, strict: bool, value: exp.Expression) -> Threshold:
        key = (name, strict, value.sql())
        if key not in columns:
            columns[key] = Threshold(f"_ct{len(columns)}", rankings[name], strict, value)
            found[name].append(columns[key])
        return columns[key]

    def replaced(node: exp.Expression) -> exp.Expression:
        column = next((c for c in node.find_all(exp.Column) if c.parent is node), None)
        if column is None or field_name(column) not in names:
            return node
        compared = _compared(column)
        assert compared is not None
        kind, value = compared
        # p < c is NOT (p >= c) and p <= c NOT (p > c); a NULL percentile stays NULL
        cut = threshold(field_name(column), kind in (exp.GT, exp.LTE), value.copy())
        flag: exp.Expression = exp.column(cut.column)
        return exp.Paren(this=exp.Not(this=flag)) if kind in (exp.LT, exp.LTE) else flag

    def condition(old: Condition) -> Condition:
        tree = old.tree.copy().transform(replaced)
        fields = frozenset(field_name(c) for c in tree.find_all(exp.Column))
        return dataclasses.replace(old, tree=tree, fields=fields)

    def ladder(old: Ladder) -> Ladder:
        rules = tuple(
            dataclasses.replace(r, condition=condition(r.condition)) if r.condition else r
            for r in old.rules
        )
        return dataclasses.replace(old, rules=rules)

    strategies = ruleset.strategies
    rewritten = dataclasses.replace(
        ruleset,
        tiers=ladder(ruleset.tiers),
        levels=ladder(ruleset.levels),
        strategies=ladder(strategies) if strategies else None,
    )
    return rewritten, found


@dataclass
class CutoffSQL:
    """The SQL of the cut-offs of one ranking: CTEs reading the stage `stage`, whose last
    (`name`) has a row per segment with the columns `_g<i>_<f>` (the segment), `_n<i>` and,
    per threshold, `_j…` (the index) and `_v…` (the value)."""

    ranking: Ranking
    thresholds: list[Threshold]
    index: int
    stage: str
    dialect: str
    table: str | None = None  # the temporary table the cut-offs were found into beforehand

    def q(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql(dialect=self.dialect)

    @property
    def x(self) -> str:
        return self.q(self.ranking.source)

    def group(self, f: str) -> str:
        return self.q(f"_g{self.index}_{f}")

    @property
    def n(self) -> str:
        return self.q(f"_n{self.index}")

    def j(self, t: Threshold) -> str:
        return self.q(f"_j{self.index}{t.column}")

    def v(self, t: Threshold) -> str:
        return self.q(f"_v{self.index}{t.column}")

    @property
    def name(self) -> str:
        return f"q{self.index}"

    def same_segment(self, left: str, right: str) -> str:
        """The customers of `left` in the segment of the row of `right` (NULL matches NULL)."""
        same = "IS" if self.dialect == "sqlite" else "IS NOT DISTINCT FROM"
        terms = [f"{left}.{self.q(f)} {same} {right}.{self.group(f)}" for f in self.ranking.within]
        return " AND ".join(terms) or "TRUE"

    def ctes(self) -> list[tuple[str, str, str]]:
        """(after, name, SQL) of each CTE, in order."""
        if self.dialect == "sqlite" and self.ranking.within:
            return [(self.stage, name, sql) for name, sql in self.running_counts()]
        made = [self.counts(), self.indexes()]
        made += self.histogram() if self.dialect == "duckdb" else [self.values_by_offset()]
        return [(self.stage, name, sql) for name, sql in made]

    def counts(self) -> tuple[str, str]:
        within = self.ranking.within
        segment = "".join(f"{self.q(f)} AS {self.group(f)}, " for f in within)
        bounds = ""
        if self.dialect == "duckdb":  # the bucket function's range
            low, high = (compressed(f"{end}({self.x})") for end in ("MIN", "MAX"))
            bounds = f", {low} AS _lo, {high} AS _hi"
        grouped = f" GROUP BY {', '.join(self.q(f) for f in within)}" if within else ""
        sql = (
            f"SELECT {segment}COUNT({self.x}) AS {self.n}, COUNT(*) AS _all{bounds}"
            f" FROM {self.stage}{grouped}"
        )
        return f"{self.name}a", sql

    def indexes(self) -> tuple[str, str]:
        js = ", ".join(f"{self.index_sql(t)} AS {self.j(t)}" for t in self.thresholds)
        return f"{self.name}j", f"SELECT *, {js} FROM {self.name}a"

    def index_sql(self, t: Threshold) -> str:
        """The index j into the sorted known values: x > s[j] (a percentile) or x >= s[j]
        (gold) decides."""
        if t.gold is not None:
            return f"{self.n} - 1 - ({self.most_ahead(t.gold)})"
        assert t.value is not None
        c, n = _number(t.value), self.n
        if c < 0:
            return "-1"  # every known percentile (0 to 1) passes
        if c > 1:
            return n  # none does
        value = to_sql(t.value, self.dialect)
        op = ">" if t.strict else ">="
        number = {"sqlite": "REAL", "postgres": "DOUBLE PRECISION"}.get(self.dialect, "DOUBLE")

        def passes(below: str) -> str:  # as the window path computes and compares it
            return f"CAST({below} AS {number}) / ({n} - 1) {op} {value}"

        k0 = self.floor(f"{value} * ({n} - 1)")
        least = (
            f"CASE WHEN {passes(f'{k0} - 1')} THEN {k0} - 1 WHEN {passes(k0)} THEN {k0}"
            f" WHEN {passes(f'{k0} + 1')} THEN {k0} + 1 ELSE {k0} + 2 END"
        )
        alone = f"CASE WHEN 0.0 {op} {value} THEN 0 ELSE 1 END"
        return f"(CASE WHEN {n} <= 1 THEN {alone} ELSE {least} END) - 1"

    def floor(self, sql: str) -> str:
        if self.dialect == "sqlite":  # a non-negative value: CAST truncates
            return f"CAST({sql} AS INTEGER)"
        return f"CAST(FLOOR({sql}) AS BIGINT)"

    def most_ahead(self, share: Fraction) -> str:
        """The most customers ahead a gold customer may have: the largest a with
        a * 100 * denominator < population * numerator, in whole numbers."""
        above = f"_all * {share.numerator}"
        per = 100 * share.denominator
        divide = "//" if self.dialect == "duckdb" else "/"
        return f"({above} + {per - 1}) {divide} {per} - 1"

    def values_by_offset(self) -> tuple[str, str]:
        values = []
        for t in self.thresholds:
            j = self.j(t)
            # SQLite refuses q.j in OFFSET, so over all customers it reads the one row again
            offset = f"q.{j}" if self.ranking.within else f"(SELECT {j} FROM {self.name}j)"
            segment = self.same_segment("p", "q") if self.ranking.within else "TRUE"
            first = (
                f"(SELECT p.{self.x} FROM {self.stage} AS p WHERE p.{self.x} IS NOT NULL"
                f" AND {segment} ORDER BY p.{self.x} LIMIT 1 OFFSET {offset})"
            )
            values.append(
                f"CASE WHEN q.{j} >= 0 AND q.{j} < q.{self.n} THEN {first} END AS {self.v(t)}"
            )
        return self.name, f"SELECT q.*, {', '.join(values)} FROM {self.name}j AS q"

    # SQLite within segments -----------------------------------------------------------

    def running_counts(self) -> list[tuple[str, str]]:
        """The stage read once, grouped by segment and value (NULL too, last) with the
        customers of each; one window over these narrow rows (far fewer than the customers
        when values tie) gives the segment's counts and the known customers through each
        value; s[j] is the value whose customers, from those below it to those through it,
        hold index j. The counts come from the same window, not from a join of the value
        rows to the segments' rows, which measured 2.5 times slower on SQLite."""
        within = [self.group(f) for f in self.ranking.within]
        segment = ", ".join(f"{self.q(f)} AS {self.group(f)}" for f in self.ranking.within)
        by = ", ".join(self.q(f) for f in self.ranking.within)
        grouped = (
            f"SELECT {segment}, {self.x} AS _x, COUNT(*) AS _c FROM {self.stage}"
            f" GROUP BY {by}, {self.x}"
        )
        part = f"PARTITION BY {', '.join(within)}"
        known = "CASE WHEN _x IS NULL THEN 0 ELSE _c END"
        running = (
            f"SELECT *, SUM(_c) OVER ({part} ORDER BY _x NULLS LAST ROWS UNBOUNDED PRECEDING)"
            f" AS _through, SUM({known}) OVER ({part}) AS {self.n}, SUM(_c) OVER ({part})"
            f" AS _all FROM {self.name}d"
        )
        indexes = ", ".join(f"{self.index_sql(t)} AS {self.j(t)}" for t in self.thresholds)
        values = []
        for t in self.thresholds:
            j = self.j(t)
            held = f"_x IS NOT NULL AND _through - _c <= {j} AND {j} < _through"
            values.append(f"MAX(CASE WHEN {held} THEN _x END) AS {self.v(t)}")
        # the counts and indexes are the same on every row of a segment
        same = ", ".join([*within, self.n, *(self.j(t) for t in self.thresholds)])
        picked = (
            f"SELECT {same}, {', '.join(values)} FROM {self.name}j GROUP BY {', '.join(within)}"
        )
        return [
            (f"{self.name}d", grouped),
            (f"{self.name}e", running),
            (f"{self.name}j", f"SELECT *, {indexes} FROM {self.name}e"),
            (self.name, picked),
        ]

    # DuckDB -----------------------------------------------------------------------------

    def joined(self, small: str) -> str:
        """The customers of the stage joined to the row of their segment in `small`."""
        return f"{self.stage} AS p JOIN {small} AS q ON {self.same_segment('p', 'q')}"

    def histogram(self) -> list[tuple[str, str]]:
        within = [self.group(f) for f in self.ranking.within]
        segment = "".join(f"q.{g}, " for g in within)
        f = compressed(f"p.{self.x}")
        bucket = (
            f"CASE WHEN q._hi > q._lo THEN LEAST(GREATEST(CAST(FLOOR(({f} - q._lo)"
            f" / (q._hi - q._lo) * {BUCKETS}) AS BIGINT), 0), {BUCKETS - 1}) ELSE 0 END"
        )
        counts = (
            f"SELECT {segment}{bucket} AS _b, COUNT(*) AS _c, MIN(p.{self.x}) AS _lo,"
            f" MAX(p.{self.x}) AS _hi FROM {self.joined(self.name + 'j')}"
            f" WHERE p.{self.x} IS NOT NULL GROUP BY ALL"
        )
        by = f"PARTITION BY {', '.join(within)} " if within else ""
        below = f"SELECT *, SUM(_c) OVER ({by}ORDER BY _b) - _c AS _below FROM {self.name}h"
        return [
            (f"{self.name}h", counts),
            (f"{self.name}c", below),
            (f"{self.name}r", self.ranges(within)),
            (f"{self.name}s", self.sorted_ranges(within)),
            (self.name, self.picked(within)),
        ]

    def ranges(self, within: list[str]) -> str:
        """Per threshold, the range of values of the bucket holding index j."""
        parts = []
        for t in self.thresholds:
            j, name = self.j(t), t.column
            held = f"FILTER (WHERE c._below <= q.{j})"
            parts.append(f"arg_max(c._lo, c._b) {held} AS _lo{name}")
            parts.append(f"arg_max(c._hi, c._b) {held} AS _hi{name}")
        on = " AND ".join(f"c.{g} IS NOT DISTINCT FROM q.{g}" for g in within) or "TRUE"
        return (
            f"SELECT q.*, {', '.join(parts)} FROM {self.name}j AS q"
            f" LEFT JOIN {self.name}c AS c ON {on} GROUP BY ALL"
        )

    def sorted_ranges(self, within: list[str]) -> str:
        """Per threshold and segment: the values below the range, through it, and those in it
        sorted (none when the range is one value)."""
        parts = []
        for t in self.thresholds:
            lo, hi, x, name = f"q._lo{t.column}", f"q._hi{t.column}", f"p.{self.x}", t.column
            parts.append(f"COUNT(*) FILTER (WHERE {x} < {lo}) AS _under{name}")
            parts.append(f"COUNT(*) FILTER (WHERE {x} <= {hi}) AS _through{name}")
            inside = f"{x} >= {lo} AND {x} <= {hi} AND {lo} < {hi}"
            parts.append(f"list_sort(list({x}) FILTER (WHERE {inside})) AS _in{name}")
        segment = [f"q.{g}" for g in within]
        grouped = f" GROUP BY {', '.join(segment)}" if segment else ""
        return (
            f"SELECT {''.join(f'{g}, ' for g in segment)}{', '.join(parts)}"
            f" FROM {self.joined(self.name + 'r')}{grouped}"
        )

    def picked(self, within: list[str]) -> str:
        """s[j]: read in the sorted range at j less the values below the range."""
        parts = [f"{self.value_sql(t)} AS {self.v(t)}" for t in self.thresholds]
        on = " AND ".join(f"s.{g} IS NOT DISTINCT FROM q.{g}" for g in within) or "TRUE"
        return (
            f"SELECT q.*, {', '.join(parts)} FROM {self.name}r AS q JOIN {self.name}s AS s ON {on}"
        )

    def value_sql(self, t: Threshold, counts: str = "s", placed: str = "TRUE") -> str:
        """s[j], from the range's row `q` and its sorted values' row `s`; the values below the
        range and through it from the row `counts`, which they place when `placed`."""
        j, lo, hi = f"q.{self.j(t)}", f"q._lo{t.column}", f"q._hi{t.column}"
        under, through = f"{counts}._under{t.column}", f"{counts}._through{t.column}"
        return (
            f"CASE WHEN {j} < 0 OR {j} >= q.{self.n} THEN NULL"
            f" WHEN NOT ({placed}) OR {j} < {under} OR {j} >= {through}"
            f" THEN error('cut-off outside its range') WHEN {lo} = {hi} THEN {lo}"
            f" ELSE s._in{t.column}[{j} - {under} + 1] END"
        )

    # the classification -----------------------------------------------------------------

    def join(self, previous: str) -> str:
        """`previous` with the row of each customer's segment."""
        found = f"{self.table} AS {self.name}" if self.table else self.name
        if not self.ranking.within:
            return f" CROSS JOIN {found}"
        # SQLite's CROSS JOIN keeps the customers the outer loop: it would otherwise loop over
        # the few segments and read every customer once per segment
        join = "CROSS JOIN" if self.dialect == "sqlite" else "JOIN"
        return f" {join} {found} ON {self.same_segment(previous, self.name)}"

    def column_sql(self, t: Threshold) -> str:
        """Whether the customer passes: NULL for a NULL x (a percentile), FALSE (gold)."""
        j, x = self.j(t), self.x
        op = ">=" if t.gold is not None else ">"
        passes = (
            f"CASE WHEN {j} < 0 THEN TRUE WHEN {j} >= {self.n} THEN FALSE"
            f" ELSE {x} {op} {self.v(t)} END"
        )
        if t.gold is not None:
            return f"({x} IS NOT NULL AND {x} > 0 AND {passes})"  # 0 or less: never gold
        return f"CASE WHEN {x} IS NULL THEN NULL ELSE {passes} END"
