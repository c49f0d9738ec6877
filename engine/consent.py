"""The consent ledger: consent and its withdrawal as records that are only ever added.

A record says that a customer gave (`granted`) or withdrew consent for one channel of
policies.yaml (or 'all': every channel) and one purpose, where it came from (`source`: branch,
app, call, file, event), when it takes effect and what proves it (`evidence`: a form number,
a call recording, a file and row). Nothing is overwritten: the customer's consent for a
channel and purpose is the latest record for it or for 'all', by effective time; of records
taking effect at the same instant a withdrawal, the safe one, then the later entered (`id`).

Consent given or withdrawn for 'all' purposes (a bank's export writes 全部 for a withdrawal of
everything) is stored as one record for each purpose (`each_purpose`), alike in every other
field: each is read, cited and retained as any record of its purpose, so no reader of the
ledger can miss it.

The contact policy asks two questions of every follow-up (engine/plan/policy.py):

- may the customer be contacted on this channel at all? The latest `service` record of the
  channel decides; with none, the channel's consent column (policies.yaml `consent_field`),
  and a channel without one needs no consent, as before;
- a marketing step: does the customer accept marketing there? The latest `marketing` record
  decides; with none, the marketing column (`consent.marketing_field`).

So withdrawing marketing never stops a service message, and withdrawing a channel's service
consent stops everything on it. A refusal the ledger decided cites its record. The consent
columns stay one source: a customer load that changes one adds a record with source `file`
(`ColumnChanges`), so a later withdrawal at the branch is not undone by the next day's file
unless that file changes the column again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from guanxi.engine.errors import DataError
from guanxi.engine.i18n import _
from guanxi.engine.ids import is_stored, near_hint, same_id, stored_near
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset.models import FieldSpec, PoliciesFile, Schema
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import json_array_rows, json_item, json_texts, quoted_name

ALL = "all"  # a record for every channel; as a purpose given, one record for each
# each purpose and source by its Chinese label, as files may write it and Chinese output shows it
PURPOSES = {"service": "服务", "marketing": "营销"}
SOURCES = {"branch": "网点", "app": "手机银行", "call": "电话", "file": "文件", "event": "事件"}
EVENT_TYPES = {"consent_given": True, "consent_withdrawn": False}  # when schema.yaml has them
COLUMNS = ("customer_id", "channel", "purpose", "granted", "source", "evidence", "effective_at")


@dataclass(frozen=True)
class Record:
    """One consent record to add; `effective_at` is stored as every instant is (`iso`)."""

    customer_id: str
    channel: str
    purpose: str
    granted: bool
    source: str
    evidence: str | None
    effective_at: str

    def problems(self, policies: PoliciesFile | None) -> list[tuple[str, str, str]]:
        """(field, value, reason) for each value the ledger does not accept; an id as a file
        takes it (no invisible character, an id's length), or the record is nobody's; the
        evidence as a file's text (no escape sequence for the terminal that shows it)."""
        from guanxi.engine.ingest.values import Invalid, identifier, text  # ingest adds records

        found = []
        for name, read in (("customer_id", identifier), ("evidence", text)):
            try:
                read(getattr(self, name))
            except Invalid as error:
                found.append((name, str(getattr(self, name)), str(error)))
        channels = [*(policies.channels if policies else ()), ALL]
        if self.channel not in channels:
            reason = _("unknown channel; one of: {names}").format(names=", ".join(channels))
            found.append(("channel", self.channel, reason))
        if self.purpose not in (*PURPOSES, ALL):
            reason = _("unknown purpose; one of: {names}").format(names=", ".join([*PURPOSES, ALL]))
            found.append(("purpose", self.purpose, reason))
        if self.source not in SOURCES:
            reason = _("unknown source; one of: {names}").format(names=", ".join(SOURCES))
            found.append(("source", self.source, reason))
        return found

    def each_purpose(self) -> list[Record]:
        """The records to store: this one, or for 'all' purposes one for each purpose."""
        if self.purpose != ALL:
            return [self]
        return [replace(self, purpose=purpose) for purpose in PURPOSES]


def each_purpose(records: Iterable[Record]) -> list[Record]:
    """`records` as they are stored: one given for 'all' purposes as one for each."""
    return [stored for given in records for stored in given.each_purpose()]


def file_schema(policies: PoliciesFile | None) -> Schema:
    """The columns of a consent file (`guanxi load consents`), headed by name or label; a
    channel, purpose or source is written by its name or its Chinese label."""
    channels = {name: c.label for name, c in (policies.channels if policies else {}).items()}

    def text(label: str, english: str, **more: object) -> FieldSpec:
        return FieldSpec.model_validate({"type": "string", "label": label, "label_en": english,
                                         "required": True, **more})  # fmt: skip

    return Schema(
        fields={
            "customer_id": text("客户编号", "customer id"),
            "channel": text("渠道", "channel", values={**channels, ALL: "全部"}),
            "purpose": text("目的", "purpose", values={**PURPOSES, ALL: "全部"}),
            "granted": FieldSpec(type="boolean", label="同意", label_en="granted", required=True),
            "source": text("来源", "source", values=SOURCES),
            "evidence": text("凭证", "evidence", required=False),
            "effective_at": FieldSpec(type="datetime", label="生效时间", label_en="effective at"),
        }
    )


def append(store: Store, records: Sequence[Record], now: dt.datetime) -> int:
    """Add `records` to the ledger in bulk, recorded at `now`; how many. With none,
    nothing is written: a write, even of nothing, makes dispatchers read consent again."""
    if not records:
        return 0
    recorded = iso(now)
    rows = [(*(getattr(r, c) for c in COLUMNS), recorded) for r in each_purpose(records)]
    store.copy_rows("consent_ledger", [*COLUMNS, "recorded_at"], rows)
    return len(rows)


def append_new(store: Store, records: Sequence[Record], now: dt.datetime) -> int:
    """Add those of `records` the ledger does not hold yet (same customer, channel, purpose,
    consent, source, evidence and effective time), so that a file loaded twice is recorded
    once; how many were added."""
    d = store.dialect
    types = ("TEXT", "TEXT", "TEXT", "BOOLEAN", "TEXT", "TEXT", "TEXT", "TEXT")
    given = ", ".join(
        f"{json_item(i, d, t)} AS {name}"
        for i, (name, t) in enumerate(zip([*COLUMNS, "recorded_at"], types, strict=True))
    )
    same = " AND ".join(f"l.{c} = r.{c}" for c in COLUMNS if c != "evidence")
    recorded = iso(now)
    rows = [[*(getattr(r, c) for c in COLUMNS), recorded] for r in each_purpose(records)]
    added = store.execute(
        f"INSERT INTO consent_ledger ({', '.join(COLUMNS)}, recorded_at)"
        f" SELECT * FROM (SELECT {given} FROM {json_array_rows('rows', d)}) AS r"
        f" WHERE NOT EXISTS (SELECT 1 FROM consent_ledger l WHERE {same}"
        " AND coalesce(l.evidence, '') = coalesce(r.evidence, '')) RETURNING id",
        {"rows": json.dumps(rows, ensure_ascii=False)},
    )
    return len(added)


def record(
    store: Store, policies: PoliciesFile | None, given: Record, now: dt.datetime
) -> list[int]:
    """Add the record given by a person (one for each purpose, given 'all'); their ids.
    DataError naming what is wrong."""
    given = replace(given, customer_id=same_id(given.customer_id))
    problems = given.problems(policies)
    if problems:
        raise DataError("; ".join(f"{name} '{value}': {why}" for name, value, why in problems))
    _refuse_erased(store, given.customer_id)
    ids = []
    with store.transaction():
        for stored in given.each_purpose():
            [row] = store.execute(
                f"INSERT INTO consent_ledger ({', '.join(COLUMNS)}, recorded_at) VALUES"
                " (:customer_id, :channel, :purpose, :granted, :source, :evidence,"
                " :effective_at, :recorded_at) RETURNING id",
                {**stored.__dict__, "recorded_at": iso(now)},
            )
            ids.append(int(row["id"]))
    return ids


def refuse_near_id(store: Store, key: str, customer_id: str) -> None:
    """DataError when no customer has the id a person gave but one has it without its
    spaces or in another letter case (`C 0001`, `c0001` for `C0001`): a withdrawal recorded
    for it would protect no one, as a consent file's row for it would not (consent_rows.py)."""
    from guanxi.engine.ingest.values import quoted  # ingest adds records

    near = stored_near(store, key, same_id(customer_id))
    if near and not is_stored(store, key, same_id(customer_id)):
        message = _(
            "no customer has id {given}, but {meant} does: give the id as stored; the record"
            " was not added"
        )
        raise DataError(message.format(given=quoted(same_id(customer_id)), meant=near[0]))


def unknown_customer(store: Store, key: str, customer_id: str) -> bool:
    """Whether the store holds customers but none with this id: a record for a customer
    loaded later is right, for a mistyped id it protects no one."""
    table = f"customers WHERE {quoted_name(key)}"
    rows = store.execute(
        f"SELECT EXISTS (SELECT 1 FROM customers) AS any_customer,"
        f" EXISTS (SELECT 1 FROM {table} = :id) AS known",
        {"id": same_id(customer_id)},
    )
    return bool(rows[0]["any_customer"]) and not rows[0]["known"]


def _refuse_erased(store: Store, customer_id: str) -> None:
    """An erased customer gets no record: it would bring their id back (a file's row of
    theirs is quarantined, an event refused)."""
    erased = _erased(store, customer_id)
    if erased:
        raise DataError(erased)


def _erased(store: Store, customer_id: str) -> str:
    """That the customer was erased, when and under which receipt; '' if never."""
    from guanxi.engine.privacy.erasure import erased_on  # erasure reads the ledger's table

    erased = erased_on(store, customer_id)
    if erased is None:
        return ""
    message = _(
        "customer {id} was erased on {date} (receipt {receipt}) at their request:"
        " no consent record is kept for them"
    )
    return message.format(id=customer_id, date=erased.date, receipt=erased.receipt)


def none_recorded(store: Store, key: str, customer_id: str) -> str:
    """Why a customer has no records, for a person asking: erased (and when), else the
    columns decide, naming a stored id the one given may have meant (`C 0001`)."""
    erased = _erased(store, customer_id)
    if erased:
        return erased
    message = _("no consent records for {customer}: the consent columns decide")
    return message.format(customer=customer_id) + near_hint(store, key, customer_id)


def history(store: Store, customer_id: str) -> list[Row]:
    """The customer's records, oldest effective first (`granted` a bool in every store)."""
    rows = store.execute(
        "SELECT * FROM consent_ledger WHERE customer_id = :customer ORDER BY effective_at, id",
        {"customer": same_id(str(customer_id))},
    )
    return [{**row, "granted": bool(row["granted"])} for row in rows]


def next_in_force(store: Store, customers: Sequence[str], at: dt.datetime) -> str | None:
    """When the first of the customers' records taking effect after `at` does (as stored:
    `iso`), or None: a record entered earlier to take effect later changes nothing in the
    store when its time comes, so a reader of consent learns here when to read it again."""
    [row] = store.execute(
        "SELECT min(effective_at) AS next FROM consent_ledger"
        f" WHERE customer_id IN ({json_texts('customers', store.dialect)}) AND effective_at > :at",
        {"customers": json.dumps(sorted(set(customers)), ensure_ascii=False), "at": iso(at)},
    )
    return None if row["next"] is None else str(row["next"])


def current(records: Iterable[Row], at: str) -> dict[tuple[str, str], Row]:
    """(channel, purpose) -> the record in force at `at` (as stored: `iso`), from records
    oldest first (`history`); one taking effect later is not in force yet."""
    latest: dict[tuple[str, str], Row] = {}
    for row in records:
        key = (row["channel"], row["purpose"])
        if row["effective_at"] <= at and (key not in latest or _rank(row) > _rank(latest[key])):
            latest[key] = row
    return latest


def _rank(row: Row) -> tuple[str, bool, int]:
    """Which of two records is in force: the later effective; at the same instant (a grant
    and a withdrawal stamped alike, as a file of dates alone writes them) the withdrawal, the
    safe one, then the later entered (`latest_sql` orders so)."""
    return row["effective_at"], not row["granted"], int(row["id"])


def relied_on(records: Sequence[Row], channel: str, purpose: str, at: str) -> list[Row]:
    """The records in force at `at` (as stored: `iso`) that a follow-up on `channel` with `purpose`
    relies on: the channel's service record, and for a marketing step the marketing one
    (from `history`, oldest first)."""
    found = []
    for kind in ("service", "marketing") if purpose == "marketing" else ("service",):
        matching = [
            row
            for row in records
            if row["purpose"] == kind and row["channel"] in (channel, ALL)
            and row["effective_at"] <= at
        ]  # fmt: skip
        found += [max(matching, key=_rank)] if matching else []
    return found


def decided_at(due: str) -> str:
    """SQL: the instant a follow-up's consent is decided for, the follow-up's due time `due`
    or now (`:now`, which the query binds) when that is later. A record takes effect at its
    effective time: a grant entered today to take effect next month does not undo today's
    withdrawal, and a withdrawal from next month does not stop what is sent before."""
    return f"CASE WHEN {due} > :now THEN {due} ELSE :now END"


def latest_sql(column: str, customer_id: str, channel: str, purpose: str, at: str) -> str:
    """SQL for `column` (over alias `l`) of the customer's record in force at `at` for the
    channel and purpose (SQL expressions); NULL when the ledger has none."""
    return (
        f"(SELECT {column} FROM consent_ledger l WHERE l.customer_id = CAST({customer_id} AS TEXT)"
        f" AND l.purpose = {purpose} AND l.channel IN ({channel}, '{ALL}')"
        f" AND l.effective_at <= {at} ORDER BY l.effective_at DESC, l.granted, l.id DESC LIMIT 1)"
    )


# how a refusal cites its record: #12 (branch, 2026-12-05 02:00 UTC, FORM-0042)
CITATION = (
    "'#' || CAST(r.id AS TEXT) || ' (' || r.source || ', '"
    " || replace(substr(r.effective_at, 1, 16), 'T', ' ') || ' UTC'"
    " || coalesce(', ' || r.evidence, '') || ')'"
)


def in_force_sql(customer_id: str, channel: str, purpose: str, at: str) -> str:
    """SQL for the record in force at `at` as one text, so that a check reads the ledger once: NULL
    when there is none (the column decides), '' when it grants, else its `CITATION` (read
    from the table only then: the search itself reads the index alone)."""
    cited = f"(SELECT {CITATION} FROM consent_ledger r WHERE r.id = l.id)"
    verdict = f"CASE WHEN l.granted = TRUE THEN '' ELSE {cited} END"
    return latest_sql(verdict, customer_id, channel, f"'{purpose}'", at)


def column_sources(policies: PoliciesFile | None) -> dict[str, list[tuple[str, str]]]:
    """Each consent column -> the (channel, purpose) consents it stands for."""
    found: dict[str, list[tuple[str, str]]] = {}
    if policies is None:
        return found
    for name, channel in policies.channels.items():
        if channel.consent_field:
            found.setdefault(channel.consent_field, []).append((name, "service"))
    if marketing := policies.consent.marketing_field:
        found.setdefault(marketing, []).append((ALL, "marketing"))
    return found


@dataclass(frozen=True)
class ColumnChanges:
    """Adds a `file` record for each consent column a customer load changes (see module)."""

    store: Store
    policies: PoliciesFile | None
    schema: Schema
    file: str  # the file's name, cited by each record's evidence
    now: dt.datetime

    @property
    def key(self) -> str:
        return self.schema.key

    def __call__(self, rows: Sequence[Row], lines: Sequence[int]) -> None:
        columns = column_sources(self.policies)
        given = [c for c in columns if any(c in row for row in rows)]
        if not given:
            return
        stored = self._stored(given, [row[self.key] for row in rows])
        at = iso(self.now)
        added = []
        for row, line in zip(rows, lines, strict=True):
            before = stored.get(str(row[self.key]), {})
            for column in given:
                if column in row and bool(row[column]) != bool(before.get(column)):
                    evidence = f"{self.file}:{line} {column}"
                    added += [
                        Record(str(row[self.key]), channel, purpose, bool(row[column]),
                               "file", evidence, at)
                        for channel, purpose in columns[column]
                    ]  # fmt: skip
        if added:
            append(self.store, added, self.now)

    def _stored(self, columns: list[str], keys: list[object]) -> dict[str, Row]:
        key = quoted_name(self.key)
        listed = ", ".join(quoted_name(c) for c in columns)
        spec = self.schema.fields.get(self.key)
        key_type = "BIGINT" if spec and spec.type == "integer" else "TEXT"
        among = json_texts("keys", self.store.dialect, key_type)
        rows = self.store.execute(
            f"SELECT {key} AS gx_key, {listed} FROM customers WHERE {key} IN ({among})",
            {"keys": json.dumps(keys, ensure_ascii=False, default=str)},
        )
        return {str(row.pop("gx_key")): row for row in rows}


def from_events(
    events: Iterable[Row], policies: PoliciesFile | None
) -> tuple[list[Record], list[dict[str, str]]]:
    """The records of the consent_given / consent_withdrawn events among `events` (their
    payload names channel, purpose, source and evidence, read as a consent file's; by default
    every channel, marketing, source `event`, the event's id), and the events refused: id and
    reason."""
    from guanxi.engine.ingest.consent_rows import read_named  # it reads this module's names

    records, refused = [], []
    for event in events:
        if event["type"] not in EVENT_TYPES:
            continue
        payload = event.get("payload") or {}  # as stored: JSON text; as loaded: a mapping
        payload = json.loads(payload) if isinstance(payload, str) else payload

        named = {
            field: read_named(field, str(payload.get(field) or default), policies)
            for field, default in (("channel", ALL), ("purpose", "marketing"), ("source", "event"))
        }
        given = Record(
            str(event["customer_id"]),
            named["channel"],
            named["purpose"],
            EVENT_TYPES[event["type"]],
            named["source"],
            str(payload.get("evidence") or f"event {event['id']}"),
            iso(_instant(event["at"])),
        )
        problems = given.problems(policies)
        if problems:
            reason = "; ".join(f"{name} '{value}': {why}" for name, value, why in problems)
            refused.append({"id": str(event["id"]), "reason": reason})
        else:
            records.append(given)
    return records, refused


def _instant(at: str | dt.datetime) -> dt.datetime:
    return at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)


def record_events(
    store: Store, events: Sequence[Row], policies: PoliciesFile | None, now: dt.datetime
) -> int:
    """Add the records of the consent events among `events` as they are stored, inside the
    caller's transaction, so that a withdrawal counts from then, not once the leader plans
    it (a tick sending a burst plans new events only when it ends; other daemons never plan
    them). Planning them later adds nothing again (`append_new`); an event the ledger cannot
    take is left to planning, which gives it its reason. How many records were added."""
    records, _refused = from_events(events, policies)
    return append_new(store, records, now) if records else 0
