"""Rules and steps no customer can reach, and 'unique' rules that surely overlap, by meaning.

Each tier, level and strategy is analysed with engine/language/reach.py: its own condition
within the schema's bounds, then with `tier = 'X'` (and `level = 'Y'`) replaced by who can get
X, then after every earlier rule of a first-hit list has passed the customer on. The first
stage that leaves no customer names the reason in the warning. A playbook step is analysed
the same way, among the customers of its level.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlglot import exp

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import N_, _
from guanxi.engine.language.conditions import Condition
from guanxi.engine.language.reach import (
    DNF,
    Bound,
    Domain,
    Reach,
    atom,
    meet,
    possible,
)
from guanxi.engine.ruleset.branches import BRANCH_FIELD
from guanxi.engine.ruleset.models import Schema
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import (
    CompiledMeasure,
    CompiledRule,
    CompiledStep,
    EventMeasure,
    Ladder,
    Origin,
)

INF = math.inf
KINDS = ("tier", "level", "strategy")
KIND_WORDS = {"tier": N_("tier"), "level": N_("level")}
PERCENTILE_HINT = N_(
    "{name} is a percentile from 0 to 1: for {number} %, write {number}% or {fraction}"
)
MAX_PAIRS = 400  # 'unique' lists compared pairwise: beyond this many pairs, not at all


@dataclass
class Context:
    """The analysis and what it knows: domains, who reaches each tier and level, and where."""

    reach: Reach
    bounds_origin: dict[str, str]  # field -> where its domain is declared, for the message
    parts: dict[str, dict[str, list[DNF]]]  # 'tier'/'level' -> name -> who gets it, in parts
    origins: dict[str, dict[str, str]]  # 'tier'/'level' -> name -> file:line
    free: dict[str, str]  # fields any of whose allowed values a customer may have -> type
    required: frozenset[str]
    percentiles: frozenset[str] = frozenset()  # measures ranked from 0 to 1
    cache: dict[str, dict[str, DNF]] = field(default_factory=dict)

    def substituted(self, dnf: DNF, below: str = "strategy") -> DNF:
        """`dnf` with `level = …` and `tier = …` replaced by who can get each (only the
        ladders below `below`: a level's reach names tiers, never levels)."""
        for kind in ("level", "tier"):
            if kind in self.parts and KINDS.index(kind) < KINDS.index(below):
                dnf = self.reach.substitute(dnf, kind, self.reaches(kind))
        return dnf

    def reaches(self, kind: str) -> dict[str, DNF]:
        if kind not in self.cache:
            found = {n: self.reach.all_of(p) for n, p in self.parts[kind].items()}
            self.cache[kind] = {n: self.substituted(d, kind) for n, d in found.items()}
        return self.cache[kind]

    def among(self, kind: str, name: str, own: DNF) -> DNF:
        """Who matches `own` among the customers who get `name`: the condition first, so
        that every later part prunes instead of multiplies."""
        return self.substituted(self.reach.all_of([own, *self.parts[kind][name]]))


def check_reach(
    project: Project,
    schema: Schema,
    measures: Sequence[CompiledMeasure],
    ladders: Sequence[Ladder],
    steps: Sequence[CompiledStep],
) -> None:
    """Warn about every rule and step that no customer the schema allows can reach."""
    context = _context(project, schema, measures, ladders)
    for ladder in ladders:
        _check_ladder(project, context, ladder)
        if ladder.kind in ("tier", "level"):
            _remember(context, ladder)
    held = _held(ladders)
    for step in steps:
        _check_step(project, context, step, held)


def _held(ladders: Sequence[Ladder]) -> set[str]:
    """The ladders whose assignment a `hold:` keeps after the data stopped giving it. A held
    customer keeps the old level while today's data (gold, say) already says otherwise, so a
    step's customers are not bounded by its level's condition then. Levels and strategies are
    still computed from today's tier, so the ladders themselves are analysed all the same."""
    hold = {ladder.kind: ladder.hold for ladder in ladders}
    tier = hold.get("tier") or 1
    level = tier if hold.get("level") is None else hold["level"]
    return {k for k, runs in (("tier", tier), ("level", level)) if (runs or 1) > 1}


def _context(
    project: Project, schema: Schema, measures: Sequence[CompiledMeasure], ladders: Sequence[Ladder]
) -> Context:
    domains: dict[str, Domain] = {}
    origins: dict[str, str] = {}
    for name, spec in schema.fields.items():
        domains[name] = Domain(nullable=not spec.required)
        line = project.sources["schema.yaml"].position(("fields", name))[0]
        where = f"schema.yaml:{line}"
        if spec.type == "boolean":
            domains[name] = Domain(values=frozenset({True, False}), nullable=not spec.required)
        elif spec.values:
            domains[name] = Domain(values=frozenset(spec.values), nullable=not spec.required)
            origins[name] = where
        elif spec.min is not None or spec.max is not None:
            low = spec.min if spec.min is not None else -INF
            high = spec.max if spec.max is not None else INF
            domains[name] = Domain(low, high, nullable=not spec.required)
            origins[name] = where
    for measure in measures:
        if measure.percentile_of:
            domains[measure.name] = Domain(0, 1)
            origins[measure.name] = _("a percentile, {where}").format(where=_where(measure.origin))
        elif measure.events is not None:
            domains[measure.name] = _event_domain(measure.events)
        elif measure.change is not None:  # NULL without an earlier value
            domains[measure.name] = Domain(nullable=True)
    domains["gold"] = Domain(values=frozenset({True, False}), nullable=False)
    for ladder in ladders:
        domains[ladder.kind] = Domain(values=frozenset(ladder.names))
    free: dict[str, str] = {name: spec.type for name, spec in schema.fields.items()}
    free.update({m.name: "number" for m in measures if m.percentile_of or m.events or m.change})
    required = frozenset(n for n, spec in schema.fields.items() if spec.required)
    percentiles = frozenset(m.name for m in measures if m.percentile_of)
    return Context(Reach(domains), origins, {}, {}, free, required, percentiles)


def _event_domain(events: EventMeasure) -> Domain:
    """Counts and days are never below 0; a count or a sum is never NULL (0 when no event)."""
    if events.aggregate in ("max", "min", "sum"):
        return Domain(nullable=events.aggregate != "sum")
    return Domain(0, INF, nullable=events.aggregate == "days_since")


def _remember(context: Context, ladder: Ladder) -> None:
    reach = context.reach
    parts: dict[str, list[DNF]] = {}
    passed: list[DNF] = []
    for rule in ladder.rules:
        parts[rule.name] = [reach.dnf(_tree(rule)), *passed]
        if ladder.hit_policy == "first":
            passed = [*passed, reach.dnf(_tree(rule), "not_true")]
    context.parts[ladder.kind] = parts
    context.origins[ladder.kind] = {r.name: _where(r.origin) for r in ladder.rules}


def _where(origin: Origin) -> str:
    return f"{Path(origin.file).name}:{origin.line}"


def _tree(rule: CompiledRule) -> exp.Expression | None:
    return rule.condition.tree if rule.condition is not None else None


def _check_ladder(project: Project, context: Context, ladder: Ladder) -> None:
    earlier: list[CompiledRule] = []
    for rule in ladder.rules:
        if rule.condition is None or rule.condition.is_always_true:
            break  # later rules: shadowed-rule says it
        reason = _why(context, rule.condition, earlier if ladder.hit_policy == "first" else [])
        if reason is not None:
            message = _("this rule can never match: {reason}").format(reason=reason)
            hint = _percent_hint(context, rule.condition)
            _warn(project, rule.origin.file, rule.origin.line, message, hint=hint)
        else:
            _warn_never_true_parts(project, context, rule.condition, rule)
        earlier.append(rule)
    if ladder.hit_policy == "unique":
        _check_overlaps(project, context, ladder)


def _check_step(project: Project, context: Context, step: CompiledStep, held: set[str]) -> None:
    if step.when is None:
        return
    own = context.reach.dnf(step.when.tree)
    reason = _own_reason(context, step.when.tree, own)
    if reason is None and (step.step.on or step.step.every):
        reason = _level_reason(context, step.level, own, held)
    if reason is not None:
        message = _("this step can never run: {reason}").format(reason=reason)
        hint = _percent_hint(context, step.when)
        _warn(project, step.origin.file, step.origin.line, message, hint=hint)
    else:
        _warn_never_true_parts(project, context, step.when, step)


def _warn_never_true_parts(
    project: Project, context: Context, condition: Condition, written: CompiledRule | CompiledStep
) -> None:
    """An alternative of an OR that can never be true: the rule still matches by the others,
    so nothing says the part was mistyped (`x > 10 AND x < 5` for `x > 5 AND x < 10`)."""
    for part in _never_true_parts(context, condition.tree):
        reason = _own_reason(context, part, [])
        message = _("part of its condition can never be true: '{part}': {reason}")
        shown = message.format(part=_written(part), reason=reason)
        hint = _("check the numbers in that part; as it stands, the other parts decide alone")
        origin = _origin_of(part, written)
        _warn(project, origin.file, origin.line, shown, code="never-true-part", hint=hint)


def _origin_of(part: exp.Expression, written: CompiledRule | CompiledStep) -> Origin:
    """Where a part was written: a branch's own condition (`branch = '长沙分行' AND …`, as
    the overlay's rewriting puts it) in the branch's overlay, any other with the rule."""
    for own in written.branch_rules if isinstance(written, CompiledRule) else ():
        if any(_is_guard(test, own.branch) for test in part.find_all(exp.EQ)):
            return own.origin
    return written.origin


def _is_guard(test: exp.EQ, branch: str) -> bool:
    field, value = test.this, test.expression
    is_branch = isinstance(field, exp.Column) and field.name == BRANCH_FIELD
    return is_branch and isinstance(value, exp.Literal) and value.this == branch


def _never_true_parts(context: Context, tree: exp.Expression) -> list[exp.Expression]:
    """The alternatives of the condition's ORs that no customer can make true."""
    found: list[exp.Expression] = []
    for node in tree.find_all(exp.Or):
        for part in (node.this, node.expression):
            if not isinstance(part, exp.Or) and not context.reach.dnf(part):
                found.append(part.unnest())
    return found


def _percent_hint(context: Context, condition: Condition) -> str | None:
    """`contribution_pct >= 70` meant 70 %: a percentile compared with a number from 1 to 100."""
    for name, tests in _by_field(_conjuncts(condition.tree)).items():
        if name not in context.percentiles:
            continue
        for _text, bound in tests:
            for number in (bound.low, bound.high):
                if 1 < number <= 100:
                    shown, fraction = f"{number:g}", f"{number / 100:g}"
                    return _(PERCENTILE_HINT).format(name=name, number=shown, fraction=fraction)
    return None


def _level_reason(context: Context, level: str, own: DNF, held: set[str]) -> str | None:
    for kind in ("level", "tier"):
        if level not in context.parts.get(kind, {}):
            continue
        if kind in held or context.among(kind, level, own):
            return None
        mine, *passed = context.parts[kind][level]
        if not context.substituted(context.reach.both(own, mine)):
            return _("no customer of {kind} '{name}' can match it ({where})").format(
                kind=_(KIND_WORDS[kind]), name=level, where=context.origins[kind][level]
            )
        earlier = list(zip(context.origins[kind], passed, strict=False))
        needed = _needed(context, [own, mine], earlier)
        taken = ", ".join(f"'{n}' ({context.origins[kind][n]})" for n in needed)
        return _("every customer it could match is taken by {kind} {taken} before '{name}'").format(
            kind=_(KIND_WORDS[kind]), taken=taken, name=level
        )
    return None


def _needed(context: Context, base: list[DNF], earlier: list[tuple[str, DNF]]) -> list[str]:
    """The earlier rules without which some customer would get through."""
    needed = list(earlier)
    for item in earlier:
        trial = [x for x in needed if x is not item]
        if not context.substituted(context.reach.all_of([*base, *(d for _, d in trial)])):
            needed = trial
    return [name for name, _ in needed]


def _why(context: Context, condition: Condition, earlier: list[CompiledRule]) -> str | None:
    reach = context.reach
    own = reach.dnf(condition.tree)
    reason = _own_reason(context, condition.tree, own)
    if reason is not None:
        return reason
    if not context.substituted(own):
        return _named_reason(context, own)
    passed = [(r.name, reach.dnf(_tree(r), "not_true")) for r in earlier]
    if context.substituted(reach.all_of([own, *(d for _, d in passed)])):
        return None
    where = {r.name: _where(r.origin) for r in earlier}
    taken = ", ".join(f"'{n}' ({where[n]})" for n in _needed(context, [own], passed))
    return _("every customer it could match is taken by {taken} before it").format(taken=taken)


def _own_reason(context: Context, tree: exp.Expression, own: DNF) -> str | None:
    """Why the condition alone can never be TRUE, if it cannot."""
    if own:
        return None
    parts = _conjuncts(tree)
    for name, tests in _by_field(parts).items():
        merged: Bound | None = Bound()
        for _text, bound in tests:
            merged = None if merged is None else meet(merged, bound)
        shown = _(" and ").join(f"'{text}'" for text, _bound in tests)
        if merged is None or not possible(merged, None):
            if len(tests) > 1:
                return _("{tests} cannot both be true").format(tests=shown)
            return _("{test} is never true").format(test=shown)
        if not possible(merged, context.reach.domains.get(name)):
            return _("{tests} but {domain}").format(tests=shown, domain=_domain_text(context, name))
    return _("no customer the schema allows makes it true")


def _domain_text(context: Context, name: str) -> str:
    domain = context.reach.domains[name]
    where = context.bounds_origin.get(name, "")
    if domain.values is not None:
        values = ", ".join(sorted(str(v) for v in domain.values))
        return _("{name} is one of {values} ({where})").format(
            name=name, values=values, where=where
        )
    low, high = f"{domain.low:g}", f"{domain.high:g}"
    if domain.low > -INF and domain.high < INF:
        return _("{name} is from {low} to {high} ({where})").format(
            name=name, low=low, high=high, where=where
        )
    if domain.low > -INF:
        return _("{name} is at least {low} ({where})").format(name=name, low=low, where=where)
    return _("{name} is at most {high} ({where})").format(name=name, high=high, where=where)


def _conjuncts(tree: exp.Expression) -> list[exp.Expression]:
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.And):
        return _conjuncts(tree.this) + _conjuncts(tree.expression)
    return [tree]


def _by_field(parts: list[exp.Expression]) -> dict[str, list[tuple[str, Bound]]]:
    found: dict[str, list[tuple[str, Bound]]] = {}
    for part in parts:
        test = atom(part)
        if test is not None:
            found.setdefault(test[0], []).append((_written(part), test[1]))
    return found


def _written(part: exp.Expression) -> str:
    """The part as a rule writes it: DATE '2026-01-01', not CAST('2026-01-01' AS DATE)."""
    return _CAST_DATE.sub(r"DATE '\1'", part.sql())


_CAST_DATE = re.compile(r"CAST\('(\d{4}-\d{2}-\d{2})' AS DATE\)")


def _named_reason(context: Context, own: DNF) -> str:
    """Why no customer of the tier (level) the condition names can match it."""
    for kind in ("level", "tier"):
        reaches = context.reaches(kind) if kind in context.parts else {}
        names = sorted({n for term in own for n in _allowed(term.get(kind)) if n in reaches})
        never = [n for n in names if not reaches[n]]
        if never and len(never) == len(names):
            listed = _(" or ").join(f"'{n}' ({context.origins[kind][n]})" for n in never)
            return _("no customer ever gets {kind} {names}").format(
                kind=_(KIND_WORDS[kind]), names=listed
            )
        if len(names) == 1 and len(reaches[names[0]]) == 1:
            needs = _conflict(context, own, reaches[names[0]][0])
            if needs:
                return _("{kind} '{name}' needs {needs} ({where})").format(
                    kind=_(KIND_WORDS[kind]),
                    name=names[0],
                    needs=needs,
                    where=context.origins[kind][names[0]],
                )
        if names:
            listed = _(" or ").join(f"'{n}' ({context.origins[kind][n]})" for n in names)
            return _("no customer of {kind} {names} can match the rest of it").format(
                kind=_(KIND_WORDS[kind]), names=listed
            )
    return _("no customer of the tier or level it names can match it")


def _allowed(bound: Bound | None) -> list[str]:
    if bound is None or bound.allowed is None:
        return []
    return [str(v) for v in bound.allowed - bound.excluded]


def _conflict(context: Context, own: DNF, needed: Mapping[str, Bound]) -> str | None:
    for name, bound in needed.items():
        if all(not context.reach.conjoin(term, {name: bound}) for term in own):
            return bound.describe(name)
    return None


def _check_overlaps(project: Project, context: Context, ladder: Ladder) -> None:
    rules = [r for r in ladder.rules if r.condition is not None]
    table = bool(rules) and rules[0].origin.file.endswith(".csv")
    if table or len(rules) * (len(rules) - 1) // 2 > MAX_PAIRS:
        return  # decision tables: ladders.py compares their rows
    for i, first in enumerate(rules):
        for second in rules[i + 1 :]:
            if _surely_overlap(context, first, second):
                message = _(
                    "'{name}' and '{other}' (line {line}) can match the same customer"
                ).format(name=second.name, other=first.name, line=first.origin.line)
                _warn(
                    project,
                    second.origin.file,
                    second.origin.line,
                    message,
                    "overlapping-rows",
                    _(
                        "with hit policy 'unique' rules must exclude each other; "
                        "use 'first' if order should decide"
                    ),
                )


def _surely_overlap(context: Context, a: CompiledRule, b: CompiledRule) -> bool:
    """Both conditions test only fields a customer may freely hold (no measure computed by an
    expression), and a customer with values the schema allows satisfies both."""
    trees = [r.condition.tree for r in (a, b) if r.condition is not None]
    if not all(_understood(context, t) for t in trees):
        return False
    both = context.reach.both(*(context.reach.dnf(t) for t in trees))
    return any(all(_real(context, n, bound) for n, bound in term.items()) for term in both)


def _understood(context: Context, tree: exp.Expression) -> bool:
    """Every leaf is a test of a freely held field against constants: the DNF is exact."""
    if isinstance(tree, exp.Paren | exp.Not):
        return _understood(context, tree.this)
    if isinstance(tree, exp.And | exp.Or):
        return _understood(context, tree.this) and _understood(context, tree.expression)
    found = atom(tree)
    return isinstance(tree, exp.Boolean) or (found is not None and found[0] in context.free)


def _real(context: Context, name: str, bound: Bound) -> bool:
    """Some value the schema allows (a whole number for an integer field) meets the bound."""
    domain = context.reach.domains.get(name)
    integer = context.free.get(name) == "integer"
    if bound.null:
        return name not in context.required
    if bound.allowed is not None:
        values = bound.allowed - bound.excluded
        if domain is not None and domain.values is not None:
            values &= domain.values
        if integer:
            values = frozenset(v for v in values if float(v).is_integer())
        return possible(replace(bound, allowed=values), domain)
    if not possible(bound, domain):
        return False
    return not integer or _whole_number_within(bound, domain)


def _whole_number_within(bound: Bound, domain: Domain | None) -> bool:
    low = max((bound.low, not bound.low_in), (domain.low if domain else -INF, False))
    high = min((bound.high, bound.high_in), (domain.high if domain else INF, True))
    if low[0] == -INF or high[0] == INF:
        return True
    first = math.floor(low[0]) + 1 if low[1] else math.ceil(low[0])
    last = math.ceil(high[0]) - 1 if not high[1] else math.floor(high[0])
    tried = range(first, min(last, first + len(bound.excluded)) + 1)
    return any(n not in bound.excluded for n in tried)


def _warn(
    project: Project,
    file: str,
    line: int,
    message: str,
    code: str = "unreachable-rule",
    hint: str | None = None,
) -> None:
    project.add(
        Diagnostic(
            file,
            line,
            1,
            code,
            message,
            hint=hint or _("check the numbers and names in its condition, or remove it"),
            severity="warning",
        )
    )
