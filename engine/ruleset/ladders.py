"""Tiers, levels and strategies: ordered rules from YAML lists or CSV decision tables."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from guanxi.engine.diagnostics import Diagnostic, did_you_mean
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import N_, _
from guanxi.engine.language import Condition, parse_condition
from guanxi.engine.language.reach import Reach
from guanxi.engine.ruleset import fullwidth
from guanxi.engine.ruleset.domains import (
    LADDER_NOUNS,
    field_label_hint,
    label_answer,
    ladder_domain,
    table_problems,
    table_texts,
)
from guanxi.engine.ruleset.models import HitPolicy, Rule
from guanxi.engine.ruleset.order_sense import order_to_write, warn_if_misordered
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import ComparedValue, CompiledRule, Ladder, Origin
from guanxi.engine.ruleset.tables import (
    FREE_TEXT_COLUMNS,
    DecisionTable,
    overlaps,
    read_sheet_table,
    read_table,
)
from guanxi.engine.sheets import SheetError, sheet_rows

SINGULAR = {"tiers": "tier", "levels": "level", "strategies": "strategy"}
NO_CATCH_ALL = {
    "tiers": N_("a customer who matches none of the tiers gets no tier"),
    "levels": N_("a customer who matches none of the levels gets no level"),
    "strategies": N_("a customer who matches none of the strategies gets no strategy"),
}
HOLD = re.compile(r"(\d{1,3})\s*(?:runs?|次)?", re.IGNORECASE)
MAX_HOLD = 100


def read_ladder(
    project: Project, file: str, kind: str, model: Any, fields: Mapping[str, str]
) -> Ladder | None:
    """The ladder named `kind` ('tiers', 'levels', 'strategies') from `file` and its table."""
    rules_list = getattr(model, kind)
    table_name = model.decision_table
    if (rules_list is None) == (table_name is None):
        message = _(
            "give either '{kind}:' (a list) or 'decision_table:' (a CSV or .xlsx file), not both"
        ).format(kind=kind)
        if rules_list is None:
            message = _(
                "give '{kind}:' (a list of rules) or 'decision_table:' (a CSV or .xlsx file)"
            ).format(kind=kind)
        project.add(Diagnostic(project.shown(file), 1, 1, "missing-key", message))
        return None
    errors_before = _errors(project)
    if table_name is not None:
        rules = _from_table(project, file, model.sheet, model.hit_policy, fields)
    else:
        rules = _from_list(project, file, kind, rules_list, fields)
    ordered = _ordered(rules, model.hit_policy)
    hold = _hold(project, file, model.hold)
    order = _order(project, file, kind, getattr(model, "order", None), rules)
    ladder = Ladder(SINGULAR[kind], model.hit_policy, ordered, hold, order)
    if _errors(project) == errors_before:  # coverage of a half-read list would mislead
        _warn_coverage(project, kind, ladder, rules)
    return ladder


def _hold(project: Project, file: str, hold: int | str | None) -> int | None:
    """`hold: 2 runs` (or `2`, `2 次`): runs in a row a new answer must repeat; None if not
    given (classify/hold.py: the ladder then holds as the one it is built on)."""
    if hold is None:
        return None
    found = HOLD.fullmatch(str(hold).strip())
    runs = int(found.group(1)) if found else 0
    if not 1 <= runs <= MAX_HOLD:
        project.error(
            file,
            ("hold",),
            "invalid-hold",
            _("'{hold}' is not a number of classification runs from 1 to {max}").format(
                hold=hold, max=MAX_HOLD
            ),
            hint=_(
                "write for example 'hold: 2 runs' (连续 2 次分类结果相同才调整); 1 run: at once"
            ),
        )
        return None
    return runs


def _order(
    project: Project,
    file: str,
    kind: str,
    order: tuple[str, ...] | None,
    rules: list[CompiledRule],
) -> tuple[str, ...] | None:
    """`order: [dormant, low_value, …]`: every name of the ladder once, lowest first; None if
    not given or wrong (a diagnostic says what to write)."""
    if order is None:
        return None
    names = [r.name for r in rules]
    errors_before = _errors(project)
    for index, name in enumerate(order):
        if name not in names or name in order[:index]:
            message, hint = _misplaced(kind, name, rules)
            project.error(file, ("order", index), "invalid-order", message, hint=hint)
    missing = [n for n in names if n not in order]
    if missing:
        project.error(
            file,
            ("order",),
            "invalid-order",
            _("'order:' leaves out {names}").format(names=", ".join(missing)),
            hint=_renamed_hint(order, names, missing)
            or _("list each once, from the lowest to the highest: order: [{names}]").format(
                names=", ".join(order_to_write(order, rules))
            ),
        )
    if _errors(project) != errors_before:
        return None
    warn_if_misordered(project, file, order, rules)
    return order


def _renamed_hint(order: tuple[str, ...], names: list[str], missing: list[str]) -> str | None:
    """One name left out and one name unknown: a rule renamed, the order not. The order
    with the new name in the old one's place (its place from the lowest is the user's)."""
    unknown = [n for n in order if n not in names]
    if len(unknown) != 1 or len(missing) != 1:
        return None
    written = ", ".join(missing[0] if n == unknown[0] else n for n in order)
    return _("if '{old}' was renamed '{new}': write order: [{names}]").format(
        old=unknown[0], new=missing[0], names=written
    )


def _misplaced(kind: str, name: str, rules: list[CompiledRule]) -> tuple[str, str | None]:
    """Why `name` cannot stand in the order: listed before, a label, or no name at all."""
    names = [r.name for r in rules]
    if name in names:
        return _("'{name}' is listed twice").format(name=name), None
    domain = ladder_domain(SINGULAR[kind], Ladder(SINGULAR[kind], "first", tuple(rules)))
    return label_answer([domain], name) or (
        _("'{name}' is not one of the {kind} defined here").format(
            name=name, kind=_(LADDER_NOUNS[SINGULAR[kind]][1])
        ),
        did_you_mean(name, names) or domain.label_part_answer(name),
    )


def _errors(project: Project) -> int:
    return sum(1 for d in project.diagnostics if d.severity == "error")


def _from_list(
    project: Project, file: str, kind: str, rules: tuple[Rule, ...], fields: Mapping[str, str]
) -> list[CompiledRule]:
    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        path = (kind, index)
        if rule.name in seen:
            project.error(
                file,
                (*path, "name"),
                "duplicate-name",
                _("'{name}' is defined twice").format(name=rule.name),
            )
        seen.add(rule.name)
        condition = project.condition(file, (*path, "when"), fields) if rule.when else None
        line = project.sources[file].position(path)[0]
        origin = Origin(project.shown(file), line)
        compiled.append(
            CompiledRule(rule.name, rule.label, rule.label_en, condition, rule.priority, origin)
        )
    return compiled


def _from_table(
    project: Project, file: str, sheet: str | None, policy: HitPolicy, fields: Mapping[str, str]
) -> list[CompiledRule]:
    read = _read_table(project, file, sheet, fields)
    if read is None:
        return []
    table, in_file = read
    found = [*table.diagnostics, *table_problems(table, project.domains)]
    project.diagnostics.extend(in_file(d) for d in found)
    _note_compared(project, table, in_file, fields)
    compiled = [_table_rule(project, table, row.rule, row.line, fields) for row in table.rows]
    if policy == "unique":
        _warn_overlaps(project, table, [c.condition if c else None for c in compiled])
    return [c for c in compiled if c is not None]


def _note_compared(
    project: Project,
    table: DecisionTable,
    in_file: Callable[[Diagnostic], Diagnostic],
    fields: Mapping[str, str],
) -> None:
    """The texts the table's cells compare text fields without `values:` with, at their
    place in the file as written."""
    free = {name for name, kind in fields.items() if kind == "string"} - set(project.domains)
    for name, value, line, col in table_texts(table, free):
        at = in_file(Diagnostic(table.path, line, col, "", "", length=len(value)))
        project.compared.append(ComparedValue(name, value, at.file, at.line, at.col, at.length))


def _as_found(diagnostic: Diagnostic) -> Diagnostic:
    return diagnostic  # a sheet's cells are not repaired: its columns are the cells' own


def _read_table(
    project: Project, file: str, sheet: str | None, fields: Mapping[str, str]
) -> tuple[DecisionTable, Callable[[Diagnostic], Diagnostic]] | None:
    """The decision table that `file` names: a CSV file, or a sheet of an Excel workbook."""
    name = str(project.sources[file].value(("decision_table",)))
    if not name.lower().endswith(".xlsx"):
        if sheet is not None:
            message = _("only an Excel (.xlsx) decision table has sheets")
            project.error(file, ("sheet",), "invalid-value", message)
        found = project.named_file(file, ("decision_table",))
        if found is None:
            return None
        repairs = fullwidth.scan_table(found[1], FREE_TEXT_COLUMNS)
        project.repaired(found[0], found[1], repairs)
        text = fullwidth.apply(found[1], repairs)
        table = read_table(project.shown(found[0]), text, fields, _column_hint(project))
        return table, functools.partial(fullwidth.in_file, found[1], repairs)
    workbook = project.named_bytes(file, ("decision_table",))
    if workbook is None:
        return None
    try:
        rows = list(sheet_rows(workbook[1], sheet, merged=True))
    except SheetError as error:
        at = ("sheet",) if sheet is not None and error.missing_sheet else ("decision_table",)
        project.error(file, at, "decision-table", str(error))
        return None
    table = read_sheet_table(project.shown(name), rows, fields, _column_hint(project))
    project.texts[name] = table.text  # the cells, for the rule set's hash
    return table, _as_found


def _column_hint(project: Project) -> Callable[[str], str | None]:
    """A column headed by a field's label (年龄): the name to write."""
    return functools.partial(field_label_hint, labels=project.labels)


def _table_rule(
    project: Project, table: DecisionTable, rule: Rule, line: int, fields: Mapping[str, str]
) -> CompiledRule | None:
    origin = Origin(table.path, line)
    if rule.when is None:
        return CompiledRule(rule.name, rule.label, rule.label_en, None, rule.priority, origin)
    try:
        condition = parse_condition(rule.when, fields)
    except ConditionError as error:
        project.add(Diagnostic(table.path, line, 1, error.code, error.message, hint=error.hint))
        condition = None  # the project is invalid now; the name still counts as defined
    return CompiledRule(rule.name, rule.label, rule.label_en, condition, rule.priority, origin)


def _warn_overlaps(
    project: Project, table: DecisionTable, conditions: list[Condition | None]
) -> None:
    for i, first in enumerate(table.rows):
        for j, second in enumerate(table.rows[i + 1 :], start=i + 1):
            meaning = _disjoint(conditions[i], conditions[j])  # e.g. 'not a' against 'a'
            if overlaps(first.constraints, second.constraints) and not meaning:
                project.add(
                    Diagnostic(
                        table.path,
                        second.line,
                        1,
                        "overlapping-rows",
                        _(
                            "row {line} ('{name}') and row {other_line} ('{other}') can match"
                            " the same customer"
                        ).format(
                            line=second.line,
                            name=second.rule.name,
                            other_line=first.line,
                            other=first.rule.name,
                        ),
                        hint=_(
                            "with hit policy 'unique' rows must exclude each other; "
                            "use 'first' if order should decide"
                        ),
                        severity="warning",
                    )
                )


def _disjoint(a: Condition | None, b: Condition | None) -> bool:
    """No customer can match both (by the reach analysis); False when it cannot tell."""
    if a is None or b is None:
        return False
    reach = Reach({})
    return not reach.both(reach.dnf(a.tree), reach.dnf(b.tree))


def _ordered(rules: list[CompiledRule], policy: HitPolicy) -> tuple[CompiledRule, ...]:
    """Rules in the order they are tried: by priority (highest first) for 'priority'."""
    if policy != "priority":
        return tuple(rules)
    return tuple(sorted(rules, key=lambda r: -(r.priority or 0)))


def _warn_coverage(
    project: Project, kind: str, ladder: Ladder, written: list[CompiledRule]
) -> None:
    catch_all = next((r for r in ladder.rules if _always(r)), None)
    if catch_all is None and ladder.rules:
        last = written[-1].origin
        project.add(
            Diagnostic(
                last.file,
                last.line,
                1,
                "no-catch-all",
                _(NO_CATCH_ALL[kind]),
                hint=_("end the list with a rule without 'when:' (or 'when: TRUE')"),
                severity="warning",
            )
        )
        return
    if catch_all is None or ladder.hit_policy != "first":
        return
    for rule in ladder.rules[ladder.rules.index(catch_all) + 1 :]:
        project.add(
            Diagnostic(
                rule.origin.file,
                rule.origin.line,
                1,
                "shadowed-rule",
                _(
                    "'{name}' can never match: '{catch_all}' (line {line}) already matches"
                    " every customer"
                ).format(name=rule.name, catch_all=catch_all.name, line=catch_all.origin.line),
                hint=_("move the catch-all rule to the end"),
                severity="warning",
            )
        )


def _always(rule: CompiledRule) -> bool:
    return rule.condition is None or rule.condition.is_always_true
