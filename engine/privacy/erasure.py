"""Erasure and subject access (个人信息保护法 art. 45 and 47): everything held about a person,
and its removal.

Every table is found in the store's catalog (catalog.py), so a table added later is covered.
A row is the person's when a customer column (`customer_id`, the customers table's key) holds
their id, or its `followup_id` names one of their follow-ups. Erasure then

- deletes the person's rows: the customer, their events, assignments and any other table's;
- keeps the accounting tables (KEPT: follow-ups, their decisions, deliveries, tasks, tier
  moves, consent records) as pseudonymous rows: the id becomes the person's pseudonym, their
  name, phone and e-mail become `[erased]` wherever written, and the free text (CLEARED) is
  emptied;
- replaces the person's phone, e-mail and id where other rows mention them (another
  customer's event naming them), and deletes the quarantined rows that do: the id in its
  letter case (`c0001` is another customer), the e-mail in any, never in a column that names
  another customer (whose id may hold the person's: `C0001-2`);
- gives the audit log's entries about them the pseudonym as subject.

The pseudonym is a keyed hash (HMAC-SHA256) of the id under the store's own secret key
(`store_secrets`): nobody can turn it back into the id, and only someone holding the store
and an id can tell whether that id was erased. That is what lets a later `load` refuse the
person (the `erasures` table holds each receipt under the pseudonym); no list of erased ids
is kept anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from guanxi.engine.privacy.catalog import Table, tables
from guanxi.engine.privacy.mentions import (
    Mention,
    found,
    id_mention,
    scrubbed,
    value_mention,
    weak,
)
from guanxi.engine.privacy.personal import mask_id, mask_name, mask_text
from guanxi.engine.privacy.views import personal_fields
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import contains, quoted_name

if TYPE_CHECKING:
    from guanxi.engine.ruleset import RuleSet

PREFIX = "erased:"
ERASURE_REASON = "erased at the customer's request"  # why their follow-ups go no more
ERASED = "[erased]"
SECRET = "pseudonyms"
# Kept for accounting, pseudonymous: what was planned, decided, sent and done, and when, and
# the consent records that allowed it (the decisions cite them by number).
KEPT = frozenset(
    {"followups", "followup_decisions", "deliveries", "tasks", "transitions", "consent_ledger"}
)
# Free text of the person's kept rows: emptied, whatever it says.
CLEARED: Mapping[str, Mapping[str, Any]] = {
    "followups": {"payload": "{}"},
    "tasks": {"body": None, "note": None},
}
# A mention of the person deletes the whole bad row (every problem of it), not just a line.
GROUPED: Mapping[str, tuple[str, ...]] = {"quarantine": ("kind", "source", "row_number", "at")}
# Handled on their own: the audit log (only its subject may change) and the receipts.
OWN = frozenset({"audit_log", "erasures"})
# Columns holding an id of another kind, never a mention of a person: the manager of a
# follow-up or task (the customer `0` is not the manager `0`).
CODES = frozenset({"owner"})
MIN_MENTION = 4  # shorter values (a two-character name) are erased only in the person's rows
FOLLOWUPS_INLINE = 50_000  # follow-up ids written into one statement


@dataclass(frozen=True)
class Fields:
    """Which customer fields hold what: the key, the names (shared by many people: erased in
    the person's own rows), and the identifying ones (phone, e-mail, …: erased wherever)."""

    key: str
    names: tuple[str, ...] = ()
    identifying: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # a code, not text: another kind of id, one of `values:`


def fields_of(ruleset: RuleSet) -> Fields:
    """The personal fields of a rule set's schema: those it marks `personal:` or whose names
    say so (privacy/views.py), and every field a channel sends to (policies.yaml's
    `address_field`)."""
    from guanxi.adapters.base import address_fields

    schema = ruleset.schema
    addresses = set(address_fields(ruleset.policies).values())
    kinds = personal_fields(schema)
    names = tuple(n for n, kind in kinds.items() if kind == "name")
    identifying = tuple(
        n
        for n in schema.fields
        if n != schema.key and n not in names and (n in kinds or n in addresses)
    )
    codes = (
        *(n for n in schema.ids if n != schema.key),  # the manager's, branch's, group's id
        *(n for n, field in schema.fields.items() if field.values),
    )
    return Fields(schema.key, names, identifying, codes)


@dataclass(frozen=True)
class Person:
    """One customer's id and the personal values the store holds about them."""

    customer_id: str
    names: tuple[str, ...] = ()
    identifying: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # other customers' ids holding this one as a word: C0001-2
    codes: tuple[str, ...] = ()  # the customer fields that never mention them (Fields.codes)

    def mentions(self, everything: bool) -> tuple[str, ...]:
        """The values searched for anywhere in text, in any letter case: the identifying
        values; with `everything`, the names too. (The id is searched for apart: its case
        counts.)"""
        values = (*self.identifying, *(self.names if everything else ()))
        return tuple(v for v in dict.fromkeys(values) if len(v) >= (2 if everything else 4))

    def replacements(self, pseudonym: str, everything: bool, own: bool = False) -> list[Mention]:
        """How text is scrubbed: the id (a whole word, its letter case as it is; in others'
        rows a weak id only as a whole value, mentions.py) becomes the pseudonym, the other
        values `[erased]`, in any letter case; `own`: the person's own rows."""
        found = [id_mention(self.customer_id, pseudonym, own, self.others)]
        values = (*self.identifying, *(self.names if everything else ()))
        lengthwise = sorted(
            (v for v in values if len(v) >= (1 if everything else MIN_MENTION)), key=len
        )
        return found + [value_mention(v, ERASED) for v in reversed(lengthwise)]


@dataclass
class Receipt:
    """What one erasure did, with no personal data: rows per table and lines per file."""

    number: int
    at: str
    actor: str
    pseudonym: str
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "receipt": self.number,
            "at": self.at,
            "actor": self.actor,
            "pseudonym": self.pseudonym,
            "tables": self.tables,
            "files": self.files,
        }


# --- the pseudonym ----------------------------------------------------------------------


def store_secret(store: Store) -> bytes:
    """The store's key of pseudonyms, made the first time it is needed."""
    store.execute(
        "INSERT INTO store_secrets (name, value) VALUES (:name, :value)"
        " ON CONFLICT (name) DO NOTHING",
        {"name": SECRET, "value": secrets.token_hex(32)},
    )
    [row] = store.execute("SELECT value FROM store_secrets WHERE name = :name", {"name": SECRET})
    return bytes.fromhex(row["value"])


def pseudonym(secret: bytes, customer_id: str) -> str:
    """erased:3f2a9c…: the same for the same id, never turned back into it."""
    digest = hmac.new(secret, str(customer_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:24]


def pseudonym_sql(secret: bytes, value: str) -> str:
    """DuckDB's SQL of `pseudonym` of the text `value`: the HMAC written out (RFC 2104: the
    key padded to SHA-256's block, hashed inside with ipad and outside with opad), so that a
    night computes the pseudonyms of many ids set-based, not one by one in Python. For
    DuckDB in this process only: the key is in the text, which Spark would show in its UI and
    event logs (Spark runs `pseudonym_function`)."""
    key = secret.ljust(64, b"\0") if len(secret) <= 64 else hashlib.sha256(secret).digest()
    inner, outer = (bytes(b ^ pad for b in key).hex() for pad in (0x36, 0x5C))
    hashed = f"sha256(unhex('{inner}') || encode({value}))"
    digest = f"sha256(unhex('{outer}') || unhex({hashed}))"
    return f"concat('{PREFIX}', substr({digest}, 1, 24))"


def pseudonym_function(secret: bytes) -> Callable[[str | None], str | None]:
    """`pseudonym` with the secret bound, for Spark's workers to run: the secret travels
    pickled with the function, never in a query's text. It holds what it needs (the
    standard library's hmac and hashlib) so that a worker need not import guanxi."""

    def of(customer_id: str | None, _secret: bytes = secret, _prefix: str = PREFIX) -> str | None:
        if customer_id is None:
            return None
        digest = hmac.new(_secret, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return _prefix + digest[:24]

    return of


class ErasedIds:
    """The receipts of erased customers, to refuse a later load of one of them."""

    def __init__(self, store: Store) -> None:
        rows = store.execute(
            "SELECT pseudonym, min(id) AS receipt, min(at) AS at FROM erasures GROUP BY pseudonym"
        )
        self.receipts = {row["pseudonym"]: row for row in rows}
        self.secret = store_secret(store) if self.receipts else b""

    def __bool__(self) -> bool:
        return bool(self.receipts)

    def receipt_of(self, customer_id: Any) -> Row | None:
        """The receipt (pseudonym, receipt, at) if `customer_id` was erased."""
        if not self.receipts or customer_id is None:
            return None
        return self.receipts.get(pseudonym(self.secret, str(customer_id)))


class Erased(NamedTuple):
    """When a customer was erased (the day, UTC) and the number of the first receipt."""

    date: str
    receipt: int


def erased_on(store: Store, customer_id: Any) -> Erased | None:
    """Whether `customer_id` was erased: when, and under which receipt (None: never)."""
    if customer_id is None or not store.execute("SELECT 1 AS one FROM erasures LIMIT 1"):
        return None  # no secret made for a store where nobody was erased
    rows = store.execute(
        "SELECT min(at) AS at, min(id) AS receipt FROM erasures WHERE pseudonym = :pseudonym",
        {"pseudonym": pseudonym(store_secret(store), str(customer_id))},
    )
    if not rows or rows[0]["receipt"] is None:
        return None
    return Erased(str(rows[0]["at"])[:10], int(rows[0]["receipt"]))


# --- finding the person's rows ----------------------------------------------------------


def find_person(store: Store, fields: Fields, customer_id: str) -> Person:
    """The person as the customers table holds them (just the id once the row is gone)."""
    held: Row = {}
    others: tuple[str, ...] = ()
    if any(t.name == "customers" for t in tables(store)):
        rows = store.execute(
            f"SELECT * FROM customers WHERE {quoted_name(fields.key)} = :id", {"id": customer_id}
        )
        held = rows[0] if rows else {}
        others = _ids_holding(store, fields.key, customer_id)

    def values(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(held[n]).strip() for n in names if held.get(n) not in (None, ""))

    return Person(
        customer_id, values(fields.names), values(fields.identifying), others, fields.codes
    )


def _ids_holding(store: Store, key: str, customer_id: str) -> tuple[str, ...]:
    """The other customers' ids that hold `customer_id` as a word (`C0001-2`, not `C00012`):
    a mention found inside one of them is theirs."""
    column = quoted_name(key)
    rows = store.execute(
        f"SELECT {column} AS id FROM customers"
        f" WHERE {contains(column, 'id', store.dialect)} AND {column} <> :id",
        {"id": customer_id},
    )
    word = id_mention(customer_id, "", own=True)
    return tuple(str(r["id"]) for r in rows if word.spans(str(r["id"])))


@dataclass(frozen=True)
class Scope:
    """Where the person's rows are: their id and the ids of their follow-ups."""

    person: Person
    key: str
    followups: tuple[int, ...]
    dialect: str

    def linking(self, table: Table) -> tuple[str, dict[str, Any]]:
        """SQL matching the person's own rows of `table` ('' when it has no link to them)."""
        parts = [f"{quoted_name(c)} = :id" for c in table.customer_columns(self.key)]
        if self.followups:
            listed = ", ".join(str(int(i)) for i in self.followups)
            parts += [f"{quoted_name(c)} IN ({listed})" for c in table.followup_columns()]
        return " OR ".join(parts), {"id": self.person.customer_id}

    def linked(self, table: Table, row: Row) -> bool:
        ids = table.customer_columns(self.key)
        if any(str(row[c]) == self.person.customer_id for c in ids if row[c] is not None):
            return True
        return any(row[c] in self.followups for c in table.followup_columns())

    def has_link(self, table: Table) -> bool:
        return bool(table.customer_columns(self.key) or table.followup_columns())

    def mentioning(self, table: Table) -> tuple[str, dict[str, Any]]:
        """SQL finding the rows whose text mentions the person (a superset): by their id (its
        letter case as it is), phone, e-mail … (in any case), never by name alone (a name is
        shared by many people, and a short one is found inside other words: `Al` in
        `low_value`)."""
        values = self.person.mentions(everything=False)
        if not table.text:
            return "", {}
        parameters = {f"m{i}": f"%{_like(v.lower())}%" for i, v in enumerate(values)}
        # the row's text as one, each pattern tried once on it (not once per column)
        text = " || ' ' || ".join(f"coalesce({quoted_name(c)}, '')" for c in table.text)
        parts = [f"lower({text}) LIKE :{name} ESCAPE '\\'" for name in parameters]
        by_id, exact = self.by_id(table, text)
        return " OR ".join(parts + by_id), parameters | exact

    def by_id(self, table: Table, text: str) -> tuple[list[str], dict[str, Any]]:
        """SQL finding the id in the text, its letter case counting; a weak id only where it
        can be a whole value (mentions.py): a column that is the id, or a JSON string that
        is."""
        customer_id = self.person.customer_id.strip()
        if not weak(customer_id):
            return [contains(text, "id_in", self.dialect)], {"id_in": customer_id}
        parts = [f"trim({quoted_name(c)}) = :whole" for c in table.text]
        parts.append(contains(text, "quoted", self.dialect))
        return parts, {"whole": customer_id, "quoted": f'"{customer_id}"'}


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def scope_of(store: Store, person: Person, key: str) -> Scope:
    followups: tuple[int, ...] = ()
    if any(t.name == "followups" for t in tables(store)):
        rows = store.execute(
            "SELECT id FROM followups WHERE customer_id = :id ORDER BY id",
            {"id": person.customer_id},
        )
        followups = tuple(int(r["id"]) for r in rows[:FOLLOWUPS_INLINE])
    return Scope(person, key, followups, store.dialect)


def held_rows(store: Store, scope: Scope, table: Table) -> tuple[list[Row], str]:
    """The rows of `table` that are the person's or mention them, each with its row id
    (`_row`) when the table has no primary key; and the SQL of the row id."""
    linking, parameters = scope.linking(table)
    mentioning, mentions = scope.mentioning(table)
    condition = " OR ".join(f"({c})" for c in (linking, mentioning) if c)
    if not condition:
        return [], ""
    row_id = "" if table.primary_key else ("rowid" if store.dialect == "sqlite" else "ctid")
    extra = f", {row_id}{'::text' if row_id == 'ctid' else ''} AS _row" if row_id else ""
    order = ", ".join(map(quoted_name, table.primary_key)) or row_id  # the same order each time
    rows = store.execute(
        f"SELECT *{extra} FROM {quoted_name(table.name)} WHERE {condition} ORDER BY {order}",
        parameters | mentions,
    )
    return rows, row_id


# --- subject access ---------------------------------------------------------------------


def export_customer(store: Store, fields: Fields, customer_id: str) -> dict[str, list[Row]]:
    """Every row held about the person, by table: their own rows, the rows of others that
    mention their id, phone or e-mail (as `_as_mentioned`: nothing more of the others), and
    the audit log's entries about them."""
    person = find_person(store, fields, customer_id)
    scope = scope_of(store, person, fields.key)
    found: dict[str, list[Row]] = {}
    for table in tables(store):
        if table.name in OWN:
            continue
        rows, _row = held_rows(store, scope, table)
        own = [
            {k: v for k, v in r.items() if k != "_row"}
            if scope.linked(table, r)
            else _as_mentioned(store, fields, table, r, person)
            for r in rows
            if scope.linked(table, r) or _mentions(table, r, person, fields.key)
        ]
        if own:
            found[table.name] = own
    from guanxi.engine.privacy import audit  # the log reads the pseudonyms from here

    entries = audit.entries(store, subject=customer_id, limit=1_000_000)
    if entries:
        found["audit_log"] = [
            {**e, "detail": json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)}
            for e in entries[::-1]  # oldest first, the detail as stored
        ]
    return found


def _as_mentioned(store: Store, fields: Fields, table: Table, row: Row, person: Person) -> Row:
    """Another's row that mentions the person, as the person may see it: its key (unless
    that names a customer) and the texts that mention them, the rest of the personal data
    in those masked (the row's customer's name and values, any phone, card or e-mail)."""
    mentions = person.replacements("", everything=False)
    customers = table.customer_columns(fields.key)
    others = [
        find_person(store, fields, str(row[c]))
        for c in customers
        if row[c] is not None and str(row[c]) != person.customer_id
    ]
    known = {name: mask_name(name) for other in others for name in other.names}
    known |= {value: _masked_value(value) for other in others for value in other.identifying}
    shown = {c: row[c] for c in table.primary_key if c not in customers}
    for column in _free_text(table, person, fields.key):
        value = row[column]
        if isinstance(value, str) and found(value, mentions):
            shown[column] = _others_masked(value, mentions, known)
    return shown


def _others_masked(text: str, mentions: list[Mention], known: Mapping[str, str]) -> str:
    """`text` with all but the person's mentions masked: the `known` values of others, then
    whatever `mask_text` finds."""
    spans = sorted(span for mention in mentions for span in mention.spans(text))
    parts, done = [], 0
    for start, end in spans:
        if start >= done:
            parts += [_masked(text[done:start], known), text[start:end]]
            done = end
    return "".join([*parts, _masked(text[done:], known)])


def _masked_value(value: str) -> str:
    """A phone or e-mail as log lines show it (138****5678), another value as an id is."""
    masked = mask_text(value)
    return masked if masked != value else mask_id(value)


def _masked(text: str, known: Mapping[str, str]) -> str:
    for value in sorted(known, key=len, reverse=True):
        text = text.replace(value, known[value])
    return mask_text(text)


def _mentions(table: Table, row: Row, person: Person, key: str) -> bool:
    """Whether a row truly mentions the person (the SQL found a superset)."""
    mentions = person.replacements("", everything=False)
    texts = _free_text(table, person, key)
    return any(isinstance(row[c], str) and found(row[c], mentions) for c in texts)


def _free_text(table: Table, person: Person, key: str) -> tuple[str, ...]:
    """The text columns that may mention a person: not those naming the row's customer (another
    customer's id that holds the person's, `C0001-2`, is theirs, never a mention), nor those
    holding a code (the branch `0` of another customer is not the customer `0`)."""
    codes = person.codes if table.name == "customers" else ()
    apart = {*table.customer_columns(key), *CODES, *codes}
    return tuple(c for c in table.text if c not in apart)


# --- erasure ----------------------------------------------------------------------------


def erase_rows(store: Store, person: Person, key: str, alias: str) -> dict[str, dict[str, int]]:
    """Erase the person from every table of `store` (see the module); what was done, by
    table: rows `deleted`, `pseudonymised` (the person's kept rows) and `scrubbed` (other
    rows that mentioned them). The caller holds the transaction."""
    scope = scope_of(store, person, key)
    done: dict[str, dict[str, int]] = {}
    for table in tables(store):
        if table.name not in OWN:
            counts = _erase_table(store, scope, table, alias)
            if counts:
                done[table.name] = counts
    return done


def _erase_table(store: Store, scope: Scope, table: Table, alias: str) -> dict[str, int]:
    rows, row_id = held_rows(store, scope, table)
    identity = table.primary_key or (row_id,)
    counts = {"deleted": 0, "pseudonymised": 0, "scrubbed": 0}
    doomed: list[Row] = []
    for row in rows:
        linked = scope.linked(table, row)
        if linked and table.name not in KEPT:
            doomed.append(row)
            continue
        changes = _changes(scope, table, row, alias, linked)
        if not changes:
            continue
        if table.name in GROUPED and not linked:
            doomed.append(row)
            continue
        _update(store, table, identity, row, changes)
        counts["pseudonymised" if linked else "scrubbed"] += 1
    counts["deleted"] = _delete(store, table, identity, doomed)
    return {k: v for k, v in counts.items() if v}


def _changes(scope: Scope, table: Table, row: Row, alias: str, linked: bool) -> Row:
    """The new values of the row's columns that change: the names too in the person's own
    rows, and in a row of a table without a customer column that names them by an
    identifying value (a later table of contacts); elsewhere a name may be another's."""
    person = scope.person
    everything = linked or (not scope.has_link(table) and _mentions(table, row, person, scope.key))
    mentions = person.replacements(alias, everything, own=linked)
    changed: Row = {}
    for column in _free_text(table, person, scope.key):
        value = row[column]
        if isinstance(value, str) and (new := scrubbed(value, mentions)) != value:
            changed[column] = new
    if linked:
        changed |= {c: alias for c in table.customer_columns(scope.key) if row[c] is not None}
        changed |= {c: v for c, v in CLEARED.get(table.name, {}).items() if row[c] != v}
    return changed


def _update(store: Store, table: Table, identity: tuple[str, ...], row: Row, changes: Row) -> None:
    sets = ", ".join(f"{quoted_name(c)} = :new{i}" for i, c in enumerate(changes))
    where, old = _where(store, identity, [row])
    new = {f"new{i}": v for i, v in enumerate(changes.values())}
    store.execute(f"UPDATE {quoted_name(table.name)} SET {sets} WHERE {where}", new | old)


def _delete(store: Store, table: Table, identity: tuple[str, ...], rows: list[Row]) -> int:
    """Delete `rows` (for a GROUPED table, every row of their groups); how many went."""
    if not rows:
        return 0
    group = GROUPED.get(table.name)
    if group:
        groups = {tuple(r[c] for c in group) for r in rows}
        rows = [dict(zip(group, g, strict=True)) for g in groups]
        identity = group
    deleted = 0
    for start in range(0, len(rows), 500):
        where, parameters = _where(store, identity, rows[start : start + 500])
        counted = store.execute(
            f"SELECT count(*) AS n FROM {quoted_name(table.name)} WHERE {where}", parameters
        )
        store.execute(f"DELETE FROM {quoted_name(table.name)} WHERE {where}", parameters)
        deleted += int(counted[0]["n"])
    return deleted


def _where(store: Store, identity: tuple[str, ...], rows: Iterable[Row]) -> tuple[str, Row]:
    """SQL matching exactly `rows` by their identity (a primary key, a row id, a group)."""
    alternatives, parameters = [], {}
    for i, row in enumerate(rows):
        terms = []
        for j, column in enumerate(identity):
            name = f"k{i}_{j}"
            value = row["_row" if column in ("rowid", "ctid") else column]
            if value is None:
                terms.append(f"{quoted_name(column)} IS NULL")
                continue
            parameters[name] = value
            target = column if column in ("rowid", "ctid") else quoted_name(column)
            marker = f"CAST(:{name} AS tid)" if column == "ctid" else f":{name}"
            terms.append(f"{target} = {marker}")
        alternatives.append("(" + " AND ".join(terms) + ")")
    return " OR ".join(alternatives), parameters
