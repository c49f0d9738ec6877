"""DuckDB's cut-offs found before the classification, the rankings of one source sharing their
passes over the customers (cutoffs.py says what a cut-off is and how the histogram finds it).

The rankings of a source whose segments all split the segments of one of them (gold within
kind and industry, a percentile over all customers or within kind) are found together: each
pass groups the customers by that finest segmentation, and each ranking adds up the few rows
of the segments within its own. Two passes over the ranked columns for the group, each
into a small temporary table, instead of three for each ranking:

    _gx_hist<g>  per finest segment and bucket: the values, the least and greatest; the
                 customers without a value in a bucket of their own (NULL). The bucket is
                 floor(SCALE · sign(x)·ln(1 + |x|)), the same for every snapshot, so no pass
                 is spent finding the values' range first
    _gx_seg<g>   (from the histogram, not a pass) per finest segment: the known values and
                 the customers; a ranking's counts and indexes j are their sums over its
                 segments
    _gx_sel<g>   per finest segment and threshold: the values in the threshold's range, the
                 range found from the histogram summed over the ranking's segments; only
                 the customers with a value in some range are grouped

Per ranking i, the table `_gx_cut<i>` the classification joins (cutoffs.CutoffSQL.join): the
segment's counts, indexes and values s[j], read in the segment's sorted range. Every count
and index is the one the ranking's own passes found, so the cut-offs are the same.

The values below a range and through it are read from the histogram, not counted again: they
are exact where the range's bucket and those around it keep the values' order (the greatest
value below it smaller than its least, the least above it greater than its greatest), which
the bucket function's rounding could only break at a bucket's edge; where they do not, the
query stops with an error rather than give a wrong cut-off.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from guanxi.engine.classify import cutoffs
from guanxi.engine.classify.cutoffs import CutoffSQL
from guanxi.engine.classify.stages import Stage, quote, render

# buckets per unit of sign(x)·ln(1 + |x|): about 1.6 % of a value apart, a thousand buckets
# between 1 and 10 million (a cut-off's range is read in the values of one bucket)
SCALE = 64.0
EDGE = 1_000_000  # the last bucket each way (an infinity or NaN falls into it)


@dataclass
class _Shared:
    """Rankings of `source` whose segments split those of `fields`, found in passes together,
    into tables numbered `number` (the first ranking's)."""

    source: str
    fields: tuple[str, ...]
    cuts: list[CutoffSQL] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.cuts[0].index

    def holds(self, cut: CutoffSQL) -> bool:
        return cut.ranking.source == self.source and set(cut.ranking.within) <= set(self.fields)


def prepare_statements(
    stages: Sequence[Stage],
    extra: Sequence[tuple[str, str, str]],
    found: Sequence[tuple[int, CutoffSQL]],
    dialect: str,
) -> list[str]:
    """The statements that find each cut-off of `found` (the position of the stage it reads,
    its SQL) into its temporary table before the classification; the passes read only the
    columns the rankings rank (a view per stage read; the customers' own fields from the first
    stage), and the classification then reads the customers once. (Copying those columns into
    a table once measured slower than reading them again.)"""
    by_stage: dict[int, list[CutoffSQL]] = {}
    own = set(stages[0].columns) if stages else set()
    for position, cut in found:
        ranked = {cut.ranking.source, *cut.ranking.within}
        by_stage.setdefault(0 if ranked <= own else position, []).append(cut)
    statements = []
    for position, cuts in sorted(by_stage.items()):  # a stage joins only earlier cut-offs
        inputs = f"_gx_cut_in{position}"
        read = _narrow(stages[: position + 1], extra, cuts, dialect)
        statements.append(f"CREATE OR REPLACE TEMP VIEW {inputs} AS {read}")
        for shared in _shared(cuts):
            statements += _Passes(shared, inputs).statements()
        statements.append(f"DROP VIEW {inputs}")
    return statements


def _shared(cuts: list[CutoffSQL]) -> list[_Shared]:
    """The rankings grouped so that a group's segments are split by its finest one's: the
    most segmented first, each other joining the first group it fits."""
    groups: list[_Shared] = []
    for cut in sorted(cuts, key=lambda c: (-len(c.ranking.within), c.index)):
        group = next((g for g in groups if g.holds(cut)), None)
        if group is None:
            group = _Shared(cut.ranking.source, cut.ranking.within)
            groups.append(group)
        group.cuts.append(cut)
    return groups


def _narrow(
    chain: Sequence[Stage],
    extra: Sequence[tuple[str, str, str]],
    cuts: list[CutoffSQL],
    dialect: str,
) -> str:
    """The query of the columns `cuts` rank (the source, the segment), from the last stage
    of `chain`: rendered from a copy, as rendering prunes the stages for its outputs."""
    ranked = (c for cut in cuts for c in (cut.ranking.source, *cut.ranking.within))
    copied = copy.deepcopy(list(chain))
    names = {stage.name for stage in copied}
    return render(copied, [e for e in extra if e[0] in names], list(dict.fromkeys(ranked)), dialect)


@dataclass
class _Passes:
    """The statements of one group of rankings over the view `inputs`."""

    shared: _Shared
    inputs: str

    def q(self, name: str) -> str:
        return quote(name, "duckdb")

    @property
    def x(self) -> str:
        return self.q(self.shared.source)

    def table(self, kind: str) -> str:
        return f"_gx_{kind}{self.shared.number}"

    def finest(self, f: str) -> str:
        return self.q(f"_s_{f}")

    def fields(self) -> list[str]:
        return [self.q(f) for f in self.shared.fields]

    def statements(self) -> list[str]:
        cuts = [dataclasses.replace(c, stage=self.inputs) for c in self.shared.cuts]
        made = [self.create("hist", self.histogram()), self.create("seg", self.segments())]
        made += [self.create_cut(c, "r", self.ranges(c)) for c in cuts]
        made += [self.create("sel", self.sorted_ranges(cuts))]
        made += [self.create_cut(c, "", self.picked(c)) for c in cuts]
        made += [f"DROP TABLE {self.table(kind)}" for kind in ("seg", "hist", "sel")]
        return made + [f"DROP TABLE {c.table}r" for c in cuts]

    def create(self, kind: str, sql: str) -> str:
        return f"CREATE OR REPLACE TEMP TABLE {self.table(kind)} AS {sql}"

    def create_cut(self, cut: CutoffSQL, suffix: str, sql: str) -> str:
        assert cut.table is not None
        return f"CREATE OR REPLACE TEMP TABLE {cut.table}{suffix} AS {sql}"

    def grouped(self, columns: list[str]) -> str:
        return f" GROUP BY {', '.join(columns)}" if columns else ""

    def histogram(self) -> str:
        """Pass 1: per finest segment, the values by bucket (one bucket function for all),
        and the customers without a value (bucket NULL)."""
        scaled = f"FLOOR({cutoffs.compressed(f'p.{self.x}')} * {SCALE})"
        bucket = (
            f"CASE WHEN p.{self.x} IS NOT NULL THEN"
            f" CAST(LEAST(GREATEST({scaled}, -{EDGE}), {EDGE}) AS BIGINT) END"
        )
        segment = "".join(f"p.{self.q(f)} AS {self.finest(f)}, " for f in self.shared.fields)
        return (
            f"SELECT {segment}{bucket} AS _b, COUNT(*) AS _c, MIN(p.{self.x}) AS _lo,"
            f" MAX(p.{self.x}) AS _hi FROM {self.inputs} AS p GROUP BY ALL"
        )

    def segments(self) -> str:
        """Per finest segment, the counts, added up from the histogram."""
        segment = "".join(f"{self.finest(f)}, " for f in self.shared.fields)
        known = "COALESCE(SUM(_c) FILTER (WHERE _b IS NOT NULL), 0)"
        return (
            f"SELECT {segment}{known} AS _n, SUM(_c) AS _all FROM {self.table('hist')}"
            f"{self.grouped([self.finest(f) for f in self.shared.fields])}"
        )

    def own(self, cut: CutoffSQL, columns: str) -> str:
        """`columns` of a group table, as the ranking's segments: `_g<i>_<f>` first."""
        within = cut.ranking.within
        return "".join(f"{self.finest(f)} AS {cut.group(f)}, " for f in within) + columns

    def ranking_grouped(self, cut: CutoffSQL) -> str:
        return self.grouped([self.finest(f) for f in cut.ranking.within])

    def on(self, cut: CutoffSQL, left: str, right: str) -> str:
        """`left`'s segment columns `_g<i>_<f>` the same as `right`'s (NULL matches NULL)."""
        terms = [
            f"{left}.{cut.group(f)} IS NOT DISTINCT FROM {right}.{cut.group(f)}"
            for f in cut.ranking.within
        ]
        return " AND ".join(terms) or "TRUE"

    def ranges(self, cut: CutoffSQL) -> str:
        """Per segment of the ranking: its counts, each threshold's index j and the range of
        values of the bucket holding it (the finest segments' rows added up)."""
        n = f"CAST(SUM(_n) AS BIGINT) AS {cut.n}, CAST(SUM(_all) AS BIGINT) AS _all"
        counts = f"SELECT {self.own(cut, n)} FROM {self.table('seg')}{self.ranking_grouped(cut)}"
        js = ", ".join(f"{cut.index_sql(t)} AS {cut.j(t)}" for t in cut.thresholds)
        values = "_b, SUM(_c) AS _c, MIN(_lo) AS _lo, MAX(_hi) AS _hi"
        buckets = (
            f"SELECT {self.own(cut, values)} FROM {self.table('hist')}"
            " WHERE _b IS NOT NULL GROUP BY ALL"
        )
        within = [cut.group(f) for f in cut.ranking.within]
        order = f"PARTITION BY {', '.join(within)} ORDER BY _b" if within else "ORDER BY _b"
        parts = []
        for t in cut.thresholds:
            held = f"FILTER (WHERE c._below <= q.{cut.j(t)})"
            parts.append(f"arg_max(c._lo, c._b) {held} AS _lo{t.column}")
            parts.append(f"arg_max(c._hi, c._b) {held} AS _hi{t.column}")
            parts.append(f"arg_max(c._below, c._b) {held} AS _under{t.column}")
            parts.append(f"arg_max(c._below + c._c, c._b) {held} AS _through{t.column}")
            parts.append(f"arg_max(c._apart, c._b) {held} AS _apart{t.column}")
        return (
            f"WITH a AS ({counts}), j AS (SELECT *, {js} FROM a), h AS ({buckets}),"
            f" c AS (SELECT *, {self.placed(order)} FROM h)"
            f" SELECT q.*, {', '.join(parts)} FROM j AS q LEFT JOIN c ON {self.on(cut, 'c', 'q')}"
            " GROUP BY ALL"
        )

    @staticmethod
    def placed(order: str) -> str:
        """A bucket's values below it (`_below`), and whether every value of the buckets below
        it is smaller than its own and every value of those above larger (`_apart`): then
        `_below` and `_below + _c` are exactly the values below its least and through its
        greatest, whatever the bucket function's rounding."""
        before = f"MAX(_hi) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        after = f"MIN(_lo) OVER ({order} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"
        return (
            f"CAST(SUM(_c) OVER ({order}) - _c AS BIGINT) AS _below,"
            f" COALESCE({before} < _lo, TRUE) AND COALESCE({after} > _hi, TRUE) AS _apart"
        )

    def finest_ranges(self, cuts: list[CutoffSQL]) -> str:
        """Each finest segment with the ranges of every threshold of its segments."""
        segment = [f"a.{self.finest(f)}" for f in self.shared.fields]
        columns, joins = list(segment), []
        for number, cut in enumerate(cuts):
            r = f"r{number}"
            columns += [f"{r}._{end}{t.column}" for t in cut.thresholds for end in ("lo", "hi")]
            terms = [
                f"{r}.{cut.group(f)} IS NOT DISTINCT FROM a.{self.finest(f)}"
                for f in cut.ranking.within
            ]
            joins.append(f" LEFT JOIN {cut.table}r AS {r} ON {' AND '.join(terms) or 'TRUE'}")
        return f"SELECT {', '.join(columns)} FROM {self.table('seg')} AS a{''.join(joins)}"

    def sorted_ranges(self, cuts: list[CutoffSQL]) -> str:
        """Pass 2: per finest segment and threshold, the values in the range (none when the
        range is one value); only the customers with a value in one of them are grouped."""
        parts, ranges, x = [], [], f"p.{self.x}"
        for t in (t for cut in cuts for t in cut.thresholds):
            lo, hi = f"a._lo{t.column}", f"a._hi{t.column}"
            ranges.append(f"({x} >= {lo} AND {x} <= {hi} AND {lo} < {hi})")
            parts.append(f"list({x}) FILTER (WHERE {ranges[-1]}) AS _in{t.column}")
        fields = self.shared.fields
        segment = "".join(f"a.{self.finest(f)}, " for f in fields)
        terms = [f"p.{self.q(f)} IS NOT DISTINCT FROM a.{self.finest(f)}" for f in fields]
        return (
            f"SELECT {segment}{', '.join(parts)} FROM {self.inputs} AS p"
            f" JOIN ({self.finest_ranges(cuts)}) AS a ON {' AND '.join(terms) or 'TRUE'}"
            f" WHERE {' OR '.join(ranges)}{self.grouped([f'a.{self.finest(f)}' for f in fields])}"
        )

    def picked(self, cut: CutoffSQL) -> str:
        """The ranking's table: per segment, its counts, indexes and the values s[j], read in
        the range's values of its finest segments, sorted."""
        parts = []
        for t in cut.thresholds:
            found = f"list(_in{t.column}) FILTER (WHERE _in{t.column} IS NOT NULL)"
            parts.append(f"list_sort(flatten({found})) AS _in{t.column}")
        sums = f"SELECT {self.own(cut, ', '.join(parts))} FROM {self.table('sel')}"
        values = ", ".join(
            f"{cut.value_sql(t, 'q', f'q._apart{t.column}')} AS {cut.v(t)}" for t in cut.thresholds
        )
        return (
            f"WITH s AS ({sums}{self.ranking_grouped(cut)}) SELECT q.*, {values}"
            f" FROM {cut.table}r AS q LEFT JOIN s ON {self.on(cut, 's', 'q')}"
        )
