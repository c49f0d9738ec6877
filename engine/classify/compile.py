"""Compile a RuleSet into one set-based SQL query: a chain of CTEs over any relation.

    src    the key and the customer fields the rules use (cast to the schema's types on
           DuckDB and Spark, which read snapshot files); with event measures, the customers
           LEFT JOIN the grouped aggregate of their events (event_measures.py): a subquery
           over the store's events table, or for DuckDB and Spark a table of the store's
           grouped events they are given. With change measures, the customers LEFT JOIN their
           kept field history (field_history.py) the same way.
    w…/p…  window stages: ranks of each percentile source and of gold's `by`; p… the counts
           (a ranking within segments counts each segment in window columns instead)
    q…     or, on SQLite, PostgreSQL and DuckDB, for gold and for a percentile the ladders
           only compare with numbers: the cut-off values of x per segment (cutoffs.py), and
           a stage of one boolean per comparison, `x > cut-off`, that the rules read instead
    m…     derived measures, in dependency layers (a measure may use earlier ones)
    g      gold
    t, l, s  tier, level, strategy: CASE WHEN <rule> THEN 'name' … [ELSE '<catch-all>'] END in
           rule order; levels may use tier and gold, strategies tier, level and gold
           (on DuckDB given the night's dictionary, each name's code instead: coded.py)

Only the measures the query returns, or the ladders and gold read, are computed (with the
measures those use): an assessment only the report's scorecard shows (scorecard: true) costs
the nightly classification nothing, nor makes it group the events table.

Every stage passes on only the columns later stages use, and the ladder stages are
materialized: SQLite would otherwise inline `tier` (a whole CASE) into every level rule that
reads it, and evaluate it again for each use.

Percentiles (`percentile_of: x`) are PERCENT_RANK() over the customers whose x is not NULL:
the share of those customers with a strictly smaller x, from 0 (the smallest) to 1 (the
largest); a customer whose x is NULL gets a NULL percentile; a population of one gets 0.

Gold: a customer is gold when x = `by` is above 0 and the customers with a strictly larger
x are fewer than `top_percent` % of all customers (customers with a NULL x, or with 0 or less,
count in the population, but are never gold: a loss-maker is no gold customer, 非金牌的客户
不能给银行带来较大利益). Ties at the boundary are all gold, so two customers with the
same contribution are never treated differently. The percentage is compared as an exact
fraction, so every back end draws the line at the same customer. Found by a cut-off
(cutoffs.py) or by the rank, the same customers pass: tests/test_cutoffs.py holds them to it.

Segments (`within: [kind, …]` on a percentile or on gold): each group of customers with the
same values of these fields is a population of its own, ranked as above (PARTITION BY the
fields): a corporate customer's percentile and gold line count corporate customers only.
Customers whose segment field is NULL form one segment of their own, as PARTITION BY groups
NULLs (with a list of fields: those equal in every field, NULL matching NULL). On Spark a
segmented ranking runs one task per segment (no value buckets): the segments share the work.

Group roll-ups (`group_sum:`, `group_max:`, `group_count:`): SUM, MAX or COUNT(*) OVER the
customers with the same group field (group_id); a customer whose group field is NULL is a
group of one (partitioned by the key as well), not one group of every ungrouped customer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from sqlglot import exp

from guanxi.engine.classify import coded, cutoffs, field_history
from guanxi.engine.classify.cutoff_passes import prepare_statements
from guanxi.engine.classify.event_measures import EVENTS, column, events_relation, joined_source
from guanxi.engine.classify.event_measures import measure_sql as event_sql
from guanxi.engine.classify.stages import Stage, quote, render
from guanxi.engine.ingest.screen import SQL_TYPES
from guanxi.engine.language import Condition
from guanxi.engine.ruleset import Ladder, RuleSet
from guanxi.engine.ruleset.ruleset import COMPUTED_FIELDS, CompiledMeasure, Ranking, Rollup

LADDERS = ("tier", "level", "strategy")
SPARK_BUCKETS = 256  # value ranges Spark ranks in parallel (see _Builder.buckets)


@dataclass(frozen=True)
class CompiledQuery:
    """The classification query and the names of the columns it returns, in order."""

    sql: str
    columns: tuple[str, ...]
    key: str
    unique: tuple[str, ...] = ()  # ladders with hit policy 'unique': a `_matches_<kind>` each
    prepare: tuple[str, ...] = ()  # statements to run before `sql` (the cut-offs found first)
    coded: bool = False  # the ladders' answers are codes (coded.py), not names


def sql_type(field_type: str, dialect: str) -> str:
    """The dialect's name for a schema type (Spark has STRING, PostgreSQL DOUBLE PRECISION)."""
    return exp.DataType.build(SQL_TYPES[field_type]).sql(dialect=dialect)


def literal(text: str, dialect: str) -> str:
    return exp.Literal.string(text).sql(dialect=dialect)


def ladders(ruleset: RuleSet) -> dict[str, Ladder | None]:
    return {"tier": ruleset.tiers, "level": ruleset.levels, "strategy": ruleset.strategies}


def input_fields(ruleset: RuleSet, also: Iterable[str] = ()) -> list[str]:
    """The schema fields the rules read (the key first), in schema order; `also`: names other
    conditions read (a playbook step's `when:`), taken when they are schema fields."""
    computed = set(COMPUTED_FIELDS) | {m.name for m in ruleset.measures}
    used = {n for c in _conditions(ruleset) for n in c.fields} | set(also)
    rankings = [m.ranking for m in ruleset.measures if m.ranking]
    rankings += [ruleset.gold_ranking] if ruleset.gold_ranking else []
    used |= {n for r in rankings for n in (r.source, *r.within)}
    used |= {n for m in ruleset.measures for n in rollup_uses(m)}
    used |= set(ruleset.kept_fields)
    key = ruleset.schema.key
    return [key, *(n for n in ruleset.schema.fields if n in used - computed and n != key)]


def _conditions(ruleset: RuleSet) -> Iterable[Condition]:
    for measure in ruleset.measures:
        if measure.expression is not None:
            yield measure.expression
    for ladder in ladders(ruleset).values():
        yield from (r.condition for r in ladder.rules if r.condition) if ladder else ()


def compile_classification(
    ruleset: RuleSet,
    dialect: str,
    today: dt.date,
    source: str,
    available: Iterable[str] | None = None,
    measures: bool = False,
    events: str | None = None,
    history: str | None = None,
    cut_offs: bool = True,
    prepared: bool = False,
    codes: Mapping[str, Sequence[str]] | None = None,
) -> CompiledQuery:
    """The query classifying every row of `source` (a table name or a relation such as
    `read_parquet('x.parquet')`). `available`: the columns `source` has, when some schema
    fields may be missing (they read as NULL). `measures`: return the measures too.
    `events`: the table of grouped events (event_measures.grouped_events) for an engine
    outside the store; a store reads its own events table. `history`: likewise the table of
    kept field history (field_history.grouped_history). With change measures the query also
    returns the values the run keeps (field_history.outputs). `cut_offs`: percentiles only
    compared with numbers, and gold, by cut-off values (cutoffs.py) when the query returns no
    measures; False ranks every customer (the window path), as tests and benchmarks compare.
    `prepared` (DuckDB): the cut-offs are found first, by the statements `prepare` (into small
    temporary tables), so that `sql` reads the customers once, comparing each with its
    segment's few values. `codes` (DuckDB): each ladder's names in code order, for the
    answers as codes where the rules allow it (coded.py; CompiledQuery.coded says)."""
    chosen = ruleset if measures else classified(ruleset)
    by_cut_off = cut_offs and not measures
    chosen, thresholds = cutoffs.rewrite(chosen, dialect) if by_cut_off else (chosen, {})
    recoded = coded.recode(chosen, codes) if codes is not None and dialect == "duckdb" else None
    chosen = recoded or chosen
    builder = _Builder(chosen, dialect, today, events, history, thresholds)
    builder.codes = codes if recoded else None
    builder.prepared = prepared and dialect == "duckdb"
    gold = chosen.gold_ranking
    builder.gold_by_cut_off = by_cut_off and gold is not None and cutoffs.supported(dialect, gold)
    builder.source(source, None if available is None else set(available))
    builder.measures_and_gold()
    unique = builder.ladders()
    outputs = [ruleset.schema.key]
    outputs += [m.name for m in ruleset.measures] if measures else []
    outputs += ["gold", *LADDERS, *(f"_matches_{kind}" for kind in unique)]
    outputs += field_history.outputs(ruleset)
    prepare = prepare_statements(builder.stages, builder.extra, builder.found, dialect)
    sql = render(builder.stages, builder.extra, outputs, dialect)
    return CompiledQuery(
        sql, tuple(outputs), ruleset.schema.key, tuple(unique), tuple(prepare), recoded is not None
    )


def classification_stages(
    ruleset: RuleSet,
    dialect: str,
    today: dt.date,
    source: str,
    available: Iterable[str] | None = None,
    also: Iterable[str] = (),
) -> tuple[list[Stage], list[tuple[str, str, str]]]:
    """The classification's CTE chain (stages and population counts) for a caller that adds
    stages of its own after the ladders (coverage.py); `also` as for input_fields."""
    builder = _Builder(with_measures(ruleset, rules_read(ruleset) | set(also)), dialect, today)
    builder.source(source, None if available is None else set(available), also)
    builder.measures_and_gold()
    builder.ladders()
    return builder.stages, builder.extra


def measures_sql(ruleset: RuleSet, dialect: str, today: dt.date, names: list[str]) -> str:
    """Key and the named measures of every customer, by the classification's own CTE chain
    (planning uses it for `when:` conditions that read measures)."""
    builder = _Builder(with_measures(ruleset, gold_read(ruleset) | set(names)), dialect, today)
    builder.source("customers", None)
    builder.measures_and_gold()
    return render(builder.stages, builder.extra, [ruleset.schema.key, *names], dialect)


def classified(ruleset: RuleSet) -> RuleSet:
    """The rule set as the classification computes it: the measures the ladders and gold
    read, and those they use; and every change measure, whose field history each run keeps
    for the steps and reports that read it later."""
    return with_measures(ruleset, rules_read(ruleset) | {m.name for m in ruleset.change_measures})


def rules_read(ruleset: RuleSet) -> set[str]:
    """The names the ladders' rules and gold read."""
    read = {n for ladder in ladders(ruleset).values() for n in _ladder_uses(ladder)}
    return read | gold_read(ruleset)


def gold_read(ruleset: RuleSet) -> set[str]:
    gold = ruleset.gold_ranking
    return {gold.source, *gold.within} if gold else set()


def with_measures(ruleset: RuleSet, names: set[str]) -> RuleSet:
    """`ruleset` with only the measures of `names` and those they use (a measure uses only
    earlier ones)."""
    wanted = set(names)
    for measure in reversed(ruleset.measures):
        if measure.name in wanted:
            wanted |= measure.uses | set(measure.within)
    kept = tuple(m for m in ruleset.measures if m.name in wanted)
    if len(kept) == len(ruleset.measures):
        return ruleset
    return dataclasses.replace(ruleset, measures=kept)


@dataclass
class _Builder:
    ruleset: RuleSet
    dialect: str
    today: dt.date
    events: str | None = None  # the grouped events, when not the store's own table
    history: str | None = None  # the kept field history, when not the store's own table
    thresholds: dict[str, list[cutoffs.Threshold]] = field(default_factory=dict)  # by measure
    gold_by_cut_off: bool = False
    prepared: bool = False  # cut-offs found before the query, into temporary tables
    codes: Mapping[str, Sequence[str]] | None = None  # the ladders give codes of these names
    found: list[tuple[int, cutoffs.CutoffSQL]] = field(default_factory=list)  # those, by stage
    cut_rankings: int = 0  # numbers the CTEs of each ranking's cut-offs
    stages: list[Stage] = field(default_factory=list)
    extra: list[tuple[str, str, str]] = field(default_factory=list)  # population counts
    windows: dict[Ranking, str] = field(default_factory=dict)  # ranking -> its counts CTE

    def q(self, name: str) -> str:
        return quote(name, self.dialect)

    def source(self, source: str, present: set[str] | None, also: Iterable[str] = ()) -> None:
        fields = input_fields(self.ruleset, also)
        columns = {n: self.source_column(n, present) for n in fields}
        table = source
        if self.ruleset.event_measures:
            source = joined_source(self.ruleset, source, self.dialect, self.events_relation())
            names = map(column, self.ruleset.event_measures)
            columns |= {c: f"{EVENTS}.{self.q(c)}" for c in names}
        if self.ruleset.change_measures:
            history, number = self.history_relation(), sql_type("number", self.dialect)
            source = field_history.joined_history(
                self.ruleset, table, source, self.dialect, history
            )
            columns |= field_history.source_columns(self.ruleset, self.dialect, self.today, number)
        # SQLite would copy every customer's fields into a temporary table when the counts
        # read them too, DuckDB every field into memory (and spill it); scanning the table
        # again (only the columns each reader needs) costs less; not so a join of the events
        inline = self.dialect in ("sqlite", "duckdb") and source == table
        self.stages.append(Stage("src", columns, set(), source=source, inline=inline))

    def history_relation(self) -> str:
        if self.history is not None:
            return self.history
        assert self.dialect in ("sqlite", "postgres"), "a snapshot engine is given its history"
        return f"({field_history.history_relation(self.ruleset, self.dialect, self.today)})"

    def events_relation(self) -> str:
        """The grouped events given, else the store's own events table grouped."""
        if self.events is not None:
            return self.events
        assert self.dialect in ("sqlite", "postgres"), "a snapshot engine is given its events"
        return f"({events_relation(self.ruleset, self.dialect, self.today)})"

    def source_column(self, name: str, present: set[str] | None) -> str:
        field_type = self.ruleset.schema.fields[name].type
        field_type = "string" if name == self.ruleset.schema.key else field_type
        if present is not None and name not in present:
            return f"CAST(NULL AS {sql_type(field_type, self.dialect)})"
        if self.dialect in ("duckdb", "spark"):  # a snapshot file's types are its own
            return f"CAST({self.q(name)} AS {sql_type(field_type, self.dialect)})"
        return self.q(name)

    def measures_and_gold(self) -> None:
        for every in measure_layers(self.ruleset.measures):
            self.cut_offs([t for m in every for t in self.thresholds.get(m.name, [])])
            layer = [m for m in every if m.name not in self.thresholds]
            self.window([m.ranking for m in layer if m.ranking])
            columns = {m.name: self.measure_sql(m) for m in layer}
            changes = [m for m in layer if m.change]
            uses = {n for m in changes for n in field_history.uses(self.ruleset, m, self.today)}
            # PostgreSQL would otherwise inline a measure (its overflow guards included) into
            # every rule that reads it, and JIT-compile the swollen query for seconds
            if columns:
                self.add(columns, _uses(layer) | uses, materialize=self.dialect == "postgres")
        gold, rule = self.ruleset.gold_ranking, self.ruleset.gold
        if self.gold_by_cut_off and gold is not None and rule is not None:
            share = gold_fraction(rule.top_percent)
            self.cut_offs([cutoffs.Threshold("gold", gold, gold=share)])
            return
        if gold is not None:
            self.window([gold])
        self.add({"gold": self.gold_sql()}, self.gold_uses())

    def cut_offs(self, thresholds: list[cutoffs.Threshold]) -> None:
        """A stage of the thresholds' boolean columns: each customer joined to the cut-offs
        of their segment, found by the CTEs added after the stage before it."""
        if not thresholds:
            return
        before = self.stages[-1]
        inlined = self.dialect in ("sqlite", "duckdb") and not self.prepared
        if inlined and " OVER " not in " ".join(before.columns.values()):
            # read by the cut-offs (a few columns) and the stage after: SQLite (and DuckDB)
            # would otherwise copy every wide row into a temporary table; a rank is not run twice
            before.inline = True
        previous = before.name
        rankings = sorted({t.ranking for t in thresholds})
        found = []
        for r in rankings:
            mine = [t for t in thresholds if t.ranking == r]
            found.append(cutoffs.CutoffSQL(r, mine, self.cut_rankings, previous, self.dialect))
            self.cut_rankings += 1
            if self.prepared:
                found[-1].table = f"_gx_cut{found[-1].index}"
                self.found.append((len(self.stages) - 1, found[-1]))
            else:
                self.extra += found[-1].ctes()
        columns = {t.column: c.column_sql(t) for c in found for t in c.thresholds}
        uses = {f for r in rankings for f in (r.source, *r.within)}
        source = previous + "".join(c.join(previous) for c in found)
        self.stages.append(Stage(f"c{len(self.stages)}", columns, uses, source=source))

    def add(self, columns: dict[str, str], uses: set[str], materialize: bool = False) -> None:
        name = f"c{len(self.stages)}"
        self.stages.append(Stage(name, columns, uses, materialize=materialize))

    def window(self, rankings: list[Ranking]) -> None:
        """Rank columns `_lt_<tag>` (customers below) and `_le_<tag>` (at or below) for each
        ranking; a ranking within segments also gets its segment's counts as columns."""
        new = sorted({r for r in rankings if r not in self.windows})
        if not new:
            return
        whole = [r for r in new if not r.within]
        buckets = self.whole_counts(whole)
        self.windows.update({r: "" for r in new if r.within})  # counted in its own columns
        columns: dict[str, str] = {}
        for r in new:
            x, segment = self.q(r.source), "".join(f"{self.q(f)}, " for f in r.within)
            by, offset = buckets.get(r, ("", ""))
            window = f"(PARTITION BY {segment}({x} IS NULL){by} ORDER BY {x})"
            columns[f"_lt_{r.tag}"] = f"RANK() OVER {window} - 1{offset}"
            columns[f"_le_{r.tag}"] = f"COUNT(*) OVER {window}{offset}"
            if r.within:
                group = f"(PARTITION BY {segment.removesuffix(', ')})"
                columns[f"_n_{r.tag}"] = f"COUNT({x}) OVER {group}"
                columns[f"_all_{r.tag}"] = f"COUNT(*) OVER {group}"
        uses = {r.source for r in new} | {f for r in new for f in r.within}
        self.add(columns, uses | {f"_b_{r.source}" for r in buckets})

    def whole_counts(self, whole: list[Ranking]) -> dict[Ranking, tuple[str, str]]:
        """The counts CTE of the rankings over all customers; on Spark, their buckets."""
        if not whole:
            return {}
        previous, counts = self.stages[-1].name, f"p{len(self.stages)}"
        sources = [r.source for r in whole]
        totals = ", ".join(f"COUNT({self.q(x)}) AS {self.q('_n_' + x)}" for x in sources)
        spark = self.dialect == "spark"
        bounds = "".join(f", {self.bounds_sql(x)}" for x in sources) if spark else ""
        self.extra.append(
            (
                previous,
                counts,
                f"SELECT COUNT(*) AS {self.q('_n')}, {totals}{bounds} FROM {previous}",
            )
        )
        self.windows.update({r: counts for r in whole})
        if not spark:
            return {}
        found = self.buckets(sources, counts)
        return {r: found[r.source] for r in whole}

    # Spark runs a window partition in one task: ranking every customer in one partition
    # would put the whole bank on one core. So Spark ranks within buckets of values and adds
    # the customers of the lower buckets: a value's bucket only grows with the value, so the
    # sum is the exact rank, however the values fall into buckets. The buckets are equally
    # wide on a log scale (sign(x)·ln(1 + |x|)), where amounts of money spread out evenly.

    def compressed(self, x: str) -> str:
        return f"SIGNUM({self.q(x)}) * LOG1P(ABS(CAST({self.q(x)} AS DOUBLE)))"

    def bounds_sql(self, x: str) -> str:
        low, high = self.q(f"_lo_{x}"), self.q(f"_hi_{x}")
        return f"MIN({self.compressed(x)}) AS {low}, MAX({self.compressed(x)}) AS {high}"

    def buckets(self, sources: list[str], counts: str) -> dict[str, tuple[str, str]]:
        """Per source: the window's extra partition term and the offset to add to ranks."""
        bucket = {x: self.q(f"_b_{x}") for x in sources}
        self.add({f"_b_{x}": self.bucket_sql(x, counts) for x in sources}, set(sources))
        found: dict[str, tuple[str, str]] = {}
        for x in sources:
            stage, offsets = self.stages[-1].name, f"o{len(self.stages)}_{len(found)}"
            self.extra.append((stage, offsets, self.offsets_sql(x, bucket[x], stage)))
            lower = f"COALESCE(try_element_at((SELECT _o FROM {offsets}), {bucket[x]}), 0)"
            found[x] = (f", {bucket[x]}", f" + {lower}")
        return found

    def bucket_sql(self, x: str, counts: str) -> str:
        """1 to SPARK_BUCKETS + 1; 0 for NULL, or when every value is the same."""
        low, high = (f"(SELECT {self.q(f'_{end}_{x}')} FROM {counts})" for end in ("lo", "hi"))
        return f"COALESCE(WIDTH_BUCKET({self.compressed(x)}, {low}, {high}, {SPARK_BUCKETS}), 0)"

    def offsets_sql(self, x: str, bucket: str, stage: str) -> str:
        """A map from each bucket to the customers with a value in the buckets below it."""
        return (
            "SELECT map_from_entries(collect_list(struct(b, n))) AS _o FROM"
            f" (SELECT {bucket} AS b, SUM(COUNT(*)) OVER (ORDER BY {bucket}) - COUNT(*) AS n"
            f" FROM {stage} WHERE {self.q(x)} IS NOT NULL GROUP BY {bucket})"
        )

    def known(self, r: Ranking) -> str:
        """How many customers (of the segment) have a value of the ranked source."""
        if r.within:
            return self.q(f"_n_{r.tag}")
        return f"(SELECT {self.q('_n_' + r.source)} FROM {self.windows[r]})"

    def population(self, r: Ranking) -> str:
        """How many customers (of the segment) there are."""
        if r.within:
            return self.q(f"_all_{r.tag}")
        return f"(SELECT {self.q('_n')} FROM {self.windows[r]})"

    def measure_sql(self, measure: CompiledMeasure) -> str:
        if measure.rollup is not None:
            return self.rollup_sql(measure.rollup)
        if measure.events is not None:
            return event_sql(self.ruleset, measure, self.dialect, self.today)
        if measure.change is not None:
            number = sql_type("number", self.dialect)
            return field_history.measure_sql(
                self.ruleset, measure, self.dialect, self.today, number
            )
        if measure.ranking is None:
            assert measure.expression is not None
            return f"({measure.expression.sql(self.dialect, self.today)})"
        r = measure.ranking
        n = self.known(r)
        below = f"CAST({self.q('_lt_' + r.tag)} AS {sql_type('number', self.dialect)})"
        return (
            f"CASE WHEN {self.q(r.source)} IS NULL THEN NULL WHEN {n} = 1 THEN 0.0 "
            f"ELSE {below} / ({n} - 1) END"
        )

    def rollup_sql(self, rollup: Rollup) -> str:
        """The value of the customer's group: a window over the customers with the same group
        field; a customer without one is partitioned by their own key (a group of one, which
        no group's value can be confused with)."""
        group, number = self.q(rollup.group_by), sql_type("number", self.dialect)
        key = self.q(self.ruleset.schema.key)
        window = f"OVER (PARTITION BY {group}, CASE WHEN {group} IS NULL THEN {key} END)"
        if rollup.source is None:
            return f"CAST(COUNT(*) {window} AS {number})"
        x = f"CAST({self.q(rollup.source)} AS {number})"
        return f"{rollup.function.upper()}({x}) {window}"

    def gold_sql(self) -> str:
        gold, r = self.ruleset.gold, self.ruleset.gold_ranking
        if gold is None or r is None:
            return "FALSE"
        share = gold_fraction(gold.top_percent)
        ahead = f"({self.known(r)} - {self.q('_le_' + r.tag)})"
        # a customer who brings the bank nothing (by <= 0) is never gold, though alone in a
        # segment or tied at its top
        x = self.q(r.source)
        return (
            f"({x} IS NOT NULL AND {x} > 0 AND {ahead} * {100 * share.denominator}"
            f" < {self.population(r)} * {share.numerator})"
        )

    def gold_uses(self) -> set[str]:
        r = self.ruleset.gold_ranking
        return _ranking_uses(r) | {f"_le_{r.tag}"} if r else set()

    def ladders(self) -> list[str]:
        unique = []
        for kind, ladder in ladders(self.ruleset).items():
            names = self.codes[kind] if self.codes is not None else None
            columns = {kind: ladder_sql(ladder, self.dialect, self.today, names)}
            uses = _ladder_uses(ladder)
            if ladder is not None and ladder.hit_policy == "unique":
                columns[f"_matches_{kind}"] = matches_sql(ladder, self.dialect, self.today)
                unique.append(kind)
            self.add(columns, uses, materialize=self.dialect == "sqlite" and kind != "strategy")
        return unique


def _uses(layer: list[CompiledMeasure]) -> set[str]:
    uses: set[str] = set()
    for m in layer:
        uses |= set(m.expression.fields) if m.expression else set()
        uses |= {column(m)} if m.events else set()
        uses |= _ranking_uses(m.ranking) | {f"_lt_{m.ranking.tag}"} if m.ranking else set()
        uses |= rollup_uses(m)
    return uses


def rollup_uses(measure: CompiledMeasure) -> set[str]:
    """A roll-up reads its source and the group field (the key reaches every stage)."""
    return measure.rollup.uses if measure.rollup else set()


def _ranking_uses(r: Ranking) -> set[str]:
    """The source and, within segments, the segment's count columns."""
    return {r.source, f"_n_{r.tag}", f"_all_{r.tag}"} if r.within else {r.source}


def _ladder_uses(ladder: Ladder | None) -> set[str]:
    rules = ladder.rules if ladder else ()
    return {n for r in rules if r.condition is not None for n in r.condition.fields}


def measure_layers(measures: Iterable[CompiledMeasure]) -> list[list[CompiledMeasure]]:
    """Measures grouped so that each one only uses measures of earlier groups."""
    layer_of: dict[str, int] = {}
    layers: list[list[CompiledMeasure]] = []
    for measure in measures:
        layer = max((layer_of[n] + 1 for n in measure.uses if n in layer_of), default=0)
        layer_of[measure.name] = layer
        while len(layers) <= layer:
            layers.append([])
        layers[layer].append(measure)
    return layers


def gold_fraction(top_percent: float) -> Fraction:
    """`top_percent` as the exact decimal the rule file wrote (5 -> 5, 2.3 -> 23/10)."""
    return Fraction(str(top_percent))


def ladder_sql(
    ladder: Ladder | None, dialect: str, today: dt.date, names: Sequence[str] | None = None
) -> str:
    """CASE WHEN … THEN 'name' in rule order; a catch-all becomes ELSE (and ends the list).
    With `names` (coded.py), the name's code instead."""

    def answer(name: str | None) -> str:
        if names is None:
            text = f"CAST(NULL AS {sql_type('string', dialect)})"
            return text if name is None else literal(name, dialect)
        return f"CAST({'NULL' if name is None else coded.code(names, name)} AS {coded.CODE})"

    whens: list[str] = []
    otherwise = answer(None)
    for rule in ladder.rules if ladder else ():
        if rule.condition is None or rule.condition.is_always_true:
            otherwise = answer(rule.name)
            break
        whens.append(f"WHEN {rule.condition.sql(dialect, today)} THEN {answer(rule.name)}")
    if not whens:
        return otherwise
    return f"CASE {' '.join(whens)} ELSE {otherwise} END"


def matches_sql(ladder: Ladder, dialect: str, today: dt.date) -> str:
    """How many of a ladder's rules (catch-alls aside) a customer matches."""
    terms = [
        f"CASE WHEN {r.condition.sql(dialect, today)} THEN 1 ELSE 0 END"
        for r in ladder.rules
        if r.condition is not None and not r.condition.is_always_true
    ]
    return " + ".join(terms) if terms else "0"
