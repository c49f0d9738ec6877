"""`guanxi doctor`'s id checks: one id kept in the store under several spellings.

guanxi reads every id in NFKC (engine/ids.py): `ＣＵＳＴ００１`, typed in full width, is
`CUST001`, a manager `ＲＭ００１` is `RM001` and a branch `长沙第１支行` is `长沙第1支行`. A
store loaded by an older version may hold both spellings: two customers for one person
(contacted twice, past the caps), two managers for one (capacity split), two groups for one,
a branch whose customers miss its overlay. Each check names them and says what to do; it
changes nothing, since which record is right is for a person to decide.

Only a value with a character other than printable ASCII can read differently, so one SQL
test finds the few to read in Python; an invisible character (a zero-width space, kept by an
older version in a manager's id) counts as a difference of spelling too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from guanxi.engine.doctor.checks import Check, on_ready_store
from guanxi.engine.i18n import N_, _
from guanxi.engine.ids import same_id
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.branches import BRANCH_FIELD
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import column_names, json_texts, not_plain_ascii, quoted_name
from guanxi.engine.unseen import UNSEEN_IN_ID, printable

SHOWN_GROUPS = 10  # of a check's detail; the count says how many there are in all

Column = tuple[str, str]  # table, column


@dataclass(frozen=True)
class IdKind:
    """One kind of id: where the store keeps it, and what a check says of it."""

    code: str  # the check's code: "customer ids"
    twice: str  # detail of a fail: ids read alike, stored in several spellings
    stale: str  # detail of a warning: ids stored only in a spelling guanxi no longer reads


CUSTOMERS = IdKind(
    "customer ids",
    N_(
        "{n} customer(s) stored under more than one id: {groups}. guanxi reads the spellings"
        " of each as one id and finds only that one, but the store holds a customer for each"
        " spelling, who may be contacted twice. guanxi merges nothing: decide which record is"
        " right, then remove or rename the others in the store, with their events, follow-ups"
        " and consents"
    ),
    N_(
        "{n} customer id(s) stored as an older version read them: {groups}. A look-up by id"
        " does not find them, and loading them again adds a second customer: rename them in"
        " the store, with their events, follow-ups and consents, before the next load"
    ),
)
MANAGERS = IdKind(
    "manager ids",
    N_(
        "{n} relationship manager(s) stored under more than one id: {groups}. Each spelling"
        " has its own tasks a day, so the manager gets more than the capacity allows. Load the"
        " customers files again (the id is then stored as read); tasks planned before keep"
        " their spelling until they are sent"
    ),
    N_(
        "{n} relationship manager id(s) stored as an older version read them: {groups}. Load"
        " the customers files again (the id is then stored as read)"
    ),
)
GROUPS = IdKind(
    "group ids",
    N_(
        "{n} corporate group(s) stored under more than one id: {groups}. Each spelling is a"
        " group of its own to the group measures. Load the customers files again (the id is"
        " then stored as read)"
    ),
    N_(
        "{n} corporate group id(s) stored as an older version read them: {groups}. Load the"
        " customers files again (the id is then stored as read)"
    ),
)

BRANCHES = IdKind(
    "branch names",
    N_(
        "{n} branch(es) stored under more than one spelling: {groups}. guanxi reads the"
        " spellings of each as one branch, but the customers stored in a spelling other than"
        " the branch's own do not get its rules in branches/. Load the customers files again"
        " (the branch is then stored as read)"
    ),
    N_(
        "{n} branch name(s) stored as an older version read them: {groups}. Their customers"
        " do not get their branch's rules in branches/. Load the customers files again (the"
        " branch is then stored as read)"
    ),
)


def stored_id_checks(location: str, ruleset: RuleSet) -> list[Check]:
    """The id checks of the store at `location` (see `on_ready_store`)."""
    return on_ready_store(location, lambda store: id_checks(store, ruleset))


def id_checks(store: Store, ruleset: RuleSet) -> list[Check]:
    """One check for each kind of id the rules name: customers, managers, groups, and
    branches when a branch has an overlay."""
    schema = ruleset.schema
    capacity = ruleset.policies.capacity if ruleset.policies else None
    manager = capacity.owner_field if capacity and capacity.owner_field in schema.ids else None
    named = (schema.key, manager, BRANCH_FIELD)
    groups = [("customers", n) for n in schema.ids if n not in named]
    managers = [("followups", "owner"), ("tasks", "owner")]
    kinds = [(CUSTOMERS, [("customers", schema.key)])]
    kinds.append((MANAGERS, [("customers", manager), *managers] if manager else managers))
    kinds += [(GROUPS, groups)] if groups else []
    if ruleset.branches and BRANCH_FIELD in schema.ids:
        kinds.append((BRANCHES, [("customers", BRANCH_FIELD)]))
    return [_check(store, kind, columns) for kind, columns in kinds]


def _check(store: Store, kind: IdKind, columns: list[Column]) -> Check:
    """Fail when an id is stored in several spellings; warn when only in one it does not read
    as (the next load would add the other)."""
    spellings = _spellings(store, [c for c in columns if _exists(store, c)])
    twice = {read: s for read, s in spellings.items() if len(s) > 1}
    stale = {read: s for read, s in spellings.items() if len(s) == 1}
    details = [
        _detail(m, found) for m, found in ((kind.twice, twice), (kind.stale, stale)) if found
    ]
    if not details:
        return Check(kind.code, "ok", _("each stored as guanxi reads it"))
    return Check(kind.code, "fail" if twice else "warn", ". ".join(details))


def looks(stored: str) -> str:
    """The id a stored value stands for, as a person reads it: NFKC, without spaces around
    it or invisible characters."""
    return same_id(UNSEEN_IN_ID.sub("", stored))


def _spellings(store: Store, columns: list[Column]) -> dict[str, set[str]]:
    """Each id that some stored value reads differently from -> every spelling stored."""
    odd: dict[str, set[str]] = defaultdict(set)
    for value in _read(store, columns, lambda c: not_plain_ascii(c, store.dialect)):
        odd[looks(value)].add(value)
    found = {read: spellings for read, spellings in odd.items() if spellings != {read}}
    if found:
        wanted = {"ids": json.dumps(sorted(found), ensure_ascii=False)}
        among = f"IN ({json_texts('ids', store.dialect)})"
        for value in _read(store, columns, lambda c: f"{c} {among}", wanted):
            found[value].add(value)
    return found


def _read(
    store: Store,
    columns: list[Column],
    where: Callable[[str], str],
    parameters: Mapping[str, str] | None = None,
) -> set[str]:
    """The distinct values of `columns` for which the SQL test `where(column)` holds."""
    values: set[str] = set()
    for table, column in columns:
        name = quoted_name(column)
        sql = f"SELECT DISTINCT {name} AS v FROM {table} WHERE {where(name)}"
        values |= {r["v"] for r in store.execute(sql, parameters)}
    return values


def _exists(store: Store, column: Column) -> bool:
    """The column is in the store (a store loaded before a field was added lacks it)."""
    table, name = column
    return name in {r["name"] for r in store.execute(column_names(table, store.dialect))}


def _detail(message: str, spellings: Mapping[str, set[str]]) -> str:
    groups = [
        _("{spellings} (read as '{read}')").format(
            spellings=", ".join(f"'{printable(s)}'" for s in sorted(spellings[read])), read=read
        )
        for read in sorted(spellings)
    ]
    shown = "; ".join(groups[:SHOWN_GROUPS])
    if len(groups) > SHOWN_GROUPS:
        shown += "; " + _("and {n} more").format(n=len(groups) - SHOWN_GROUPS)
    return _(message).format(n=len(groups), groups=shown)
