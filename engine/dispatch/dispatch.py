"""One dispatch pass: claim a batch of due follow-ups, deciding the contact policy again for
that instant, render and send what it still allows, then record every outcome in one
transaction.

    past expires_at         status 'expired', nothing sent (its bound on lateness passed)
    step withdrawn          status 'cancelled' (policy `withdrawn`): the rules in force no
                            longer have its step for the customer (see in_force)
    consent now refused     status 'suppressed' with the policy's reason, nothing sent
    inside quiet hours      pending again, deferred to their end (spread)
    over a frequency cap    status 'suppressed', the cap as the reason
                            (these at claim time, see recheck: the planner's rules, for the
                            customer as they are now, what the ledger says they were sent
                            and the moment of sending; expiry, consent and quiet hours again
                            right before each message is sent, see instant)
    render error            status 'dead' (the template cannot be rendered for this row)
    sent                    status 'sent'
    RetryableError          status 'pending' again until a back-off; 'dead' after
                            `max_attempts`
    PermanentError          status 'dead' at once

Every attempt goes into the deliveries ledger with the idempotency key, at the instant it was
made. The batch's outcomes are written together after its sends (see outcomes: a crash in
between re-sends, never loses), and those known so far whenever RECORD_EVERY of the lease
has passed since the last write: a send outlasting the lease (a receiver slower than its
timeout, a stalled process) then leaves only itself and what ended shortly before it to the
daemon that takes the lapsed claim over, not every message the batch had sent.
Once `new_rules()` says other rules wait, the batch sends nothing more: what it sent is
recorded, and its other claims are given back (pending, no attempt counted) to be decided by
the new rules (see instant). A follow-up whose channel has no adapter is not claimed: it
stays pending and is counted in `waiting`. `now` and the clock of the sends are given;
nothing here reads the time itself.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from guanxi.adapters.base import (
    Adapter,
    AdapterError,
    Message,
    PermanentError,
    Receipt,
)
from guanxi.engine.dispatch import ledger
from guanxi.engine.dispatch.claim import claim, give_back, waiting
from guanxi.engine.dispatch.instant import Instant
from guanxi.engine.dispatch.outcomes import Attempts, Backoff, Outcome, expired, record
from guanxi.engine.dispatch.recheck import SendPolicy, take_back
from guanxi.engine.dispatch.send import send_all
from guanxi.engine.errors import UnknownFollowup
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso, past_bound
from guanxi.engine.plan.policy_verdicts import Verdict
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.lease import LEASE_USED  # validation checks the lease against it
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import json_texts

__all__ = ["Backoff", "DispatchReport", "dispatch_once", "retry_dead"]

BACKOFF = Backoff()
RECORD_EVERY = 0.1  # of the lease: how often a long batch writes the outcomes known so far


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    expired: int = 0  # past their bound on lateness, not sent
    lost: int = 0  # the lease ran out before the outcome was written; the ledger has it
    unsent: int = 0  # left claimed: the lease was running out before their turn came
    given_back: int = 0  # claims released unsent: other rules wait to decide them
    waiting: dict[str, int] = field(default_factory=dict)  # due, channel has no adapter
    suppressed: dict[str, int] = field(default_factory=dict)  # policy → refused at send time
    deferred: dict[str, int] = field(default_factory=dict)  # policy → deferred at send time
    cancelled: dict[str, int] = field(default_factory=dict)  # policy → cancelled at send time
    sent_on: set[str] = field(default_factory=set)  # channels that delivered something
    send_errors: dict[str, str] = field(default_factory=dict)  # channel → its last failed send

    def count(self, outcomes: Sequence[Outcome], held: set[int]) -> None:
        """Count recorded outcomes; those whose claim no longer held (`held`) as lost."""
        for outcome in outcomes:
            if outcome.row["id"] not in held:
                self.lost += 1
            elif outcome.status == "sent":
                self.sent += 1
                self.sent_on.add(str(outcome.row["channel"]))
            elif outcome.status == "pending":
                self.retried += 1
                self._failed(outcome)
            elif outcome.status == "dead":
                self.dead += 1
                self._failed(outcome)
            elif outcome.status == "expired":
                self.expired += 1
            else:
                policy = str(outcome.policy)
                self.suppressed[policy] = self.suppressed.get(policy, 0) + 1

    def _failed(self, outcome: Outcome) -> None:
        self.send_errors[str(outcome.row["channel"])] = str(outcome.entry.error or "")


def dispatch_once(
    store: Store,
    ruleset: RuleSet,
    adapters: Mapping[str, Adapter],
    now: dt.datetime,
    *,
    limit: int = 500,
    lease: dt.timedelta = dt.timedelta(minutes=5),
    max_attempts: int = 5,
    backoff: Backoff = BACKOFF,
    rng: random.Random | None = None,
    worker: str | None = None,
    stopwatch: Callable[[], float] = time.monotonic,
    clock: Callable[[], dt.datetime] | None = None,
    new_rules: Callable[[], bool] = lambda: False,
) -> DispatchReport:
    """Claim up to `limit` due follow-ups of the channels in `adapters` and deliver them;
    the ledger names `worker` (host:pid of the daemon) as the dispatcher. A follow-up is
    rendered with the templates of the rules in force, `ruleset`, whatever rules planned it
    (see `_in_force`).

    The lease should outlast the batch's sends (`limit` sends, on `concurrent_sends` threads
    per adapter): a claim whose lease ran out may be taken over and sent again. So no message
    is started once `LEASE_USED` of the lease has passed on `stopwatch` (seconds, a duration,
    not the time of day): the rest stay claimed and are sent once the lease lapses.

    `clock` tells the time right before each message is sent, when its expiry, quiet hours,
    consent and do-not-contact are decided again (see instant); without it the time stands
    still at `now` (a virtual clock). `new_rules`, asked then too: whether other rules wait,
    and the batch must stop and give its unsent claims back.
    """
    started = stopwatch()
    budget = lease.total_seconds() * LEASE_USED
    return _dispatch(
        store, ruleset, adapters, now, limit, lease, worker,
        Attempts(now, max_attempts, backoff, rng or random.Random(0)),
        _Timing(lambda: stopwatch() - started < budget, clock or (lambda: now),
                lambda: stopwatch() - started, new_rules),
    )  # fmt: skip


class _Timing(NamedTuple):
    in_time: Callable[[], bool]  # is there lease enough left to start a send?
    clock: Callable[[], dt.datetime]  # the time right before a send
    elapsed: Callable[[], float]  # seconds on the stopwatch since the pass began
    new_rules: Callable[[], bool]  # do other rules wait? then the rest are given back


@dataclass
class _Recorder:
    """Writes a batch's outcomes as they come: those known so far once `every` seconds (on
    `elapsed`) have passed since the last write, the rest at `finish`; counts them."""

    store: Store
    now: dt.datetime
    worker: str | None
    report: DispatchReport
    every: float
    elapsed: Callable[[], float]
    outcomes: list[Outcome] = field(default_factory=list)
    _written: int = 0
    _last: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.elapsed() - self._last >= self.every:
            self.finish()

    def finish(self) -> None:
        """Write what is not written yet."""
        fresh = self.outcomes[self._written :]
        self.report.count(fresh, record(self.store, fresh, self.now, self.worker))
        self._written, self._last = len(self.outcomes), self.elapsed()


def _dispatch(
    store: Store,
    ruleset: RuleSet,
    adapters: Mapping[str, Adapter],
    now: dt.datetime,
    limit: int,
    lease: dt.timedelta,
    worker: str | None,
    attempts: Attempts,
    timing: _Timing,
) -> DispatchReport:
    report = DispatchReport(waiting=waiting(store, now, adapters))
    policy = SendPolicy(store, ruleset, now, worker)
    rows = claim(store, now, limit, lease, channels=adapters, screen=policy)
    report.claimed = len(rows) + policy.decided
    report.suppressed, report.deferred = dict(policy.suppressed), dict(policy.deferred)
    report.cancelled = dict(policy.cancelled)
    every = lease.total_seconds() * RECORD_EVERY
    recorder = _Recorder(store, now, worker, report, every, timing.elapsed)
    recorder.outcomes.extend(_unsendable(rows, now))
    decided = {o.row["id"] for o in recorder.outcomes}
    ready = [row for row in rows if row["id"] not in decided]
    instant = Instant(store, ruleset, timing.clock, timing.in_time, now, ready, timing.new_rules)
    try:
        for outcome in _deliver(store, ruleset, adapters, ready, attempts, instant):
            if outcome is not None:
                recorder.add(outcome)
    finally:  # whatever was sent or decided is recorded, even when the pass is interrupted
        recorder.finish()
        _take_back(store, ruleset, instant, ready, worker, report)
        report.given_back = give_back(store, instant.given_back, now)
    report.unsent = instant.unsent
    return report


def _take_back(
    store: Store,
    ruleset: RuleSet,
    instant: Instant,
    rows: Sequence[Row],
    worker: str | None,
    report: DispatchReport,
) -> None:
    """Write the verdicts reached right before a send (see instant), each at its instant."""
    by_instant: dict[dt.datetime, list[Verdict]] = {}
    for at, verdict in instant.verdicts:
        by_instant.setdefault(at, []).append(verdict)
    if not by_instant:
        return
    written: Counter[tuple[str, str]] = Counter()
    with store.transaction():
        for at, verdicts in by_instant.items():
            written += take_back(store, ruleset, verdicts, rows, at, worker)
    for (kind, policy), n in written.items():
        into = {"suppressed": report.suppressed, "cancelled": report.cancelled}
        counts = into.get(kind, report.deferred)
        counts[policy] = counts.get(policy, 0) + n


def _unsendable(rows: Sequence[Row], now: dt.datetime) -> Iterator[Outcome]:
    """The outcomes of the rows that must not be sent: expired (the claim decided the rest
    of the contact policy)."""
    yield from (expired(row) for row in rows if past_bound(row["expires_at"], now))


def _in_force(ruleset: RuleSet, row: Row) -> Row:
    """`row` to be rendered as the rules in force write its template (a corrected template
    reaches what was planned before the correction, and every dispatcher sends the same text
    whichever rules it started with); when they no longer have that template (renamed), the
    template its step names now."""
    if row["template"] in ruleset.templates:
        return row
    step = next((s.step for s in ruleset.steps if s.id == row["step_id"]), None)
    return row if step is None else {**row, "template": step.template}


def _deliver(
    store: Store,
    ruleset: RuleSet,
    adapters: Mapping[str, Adapter],
    rows: Sequence[Row],
    attempts: Attempts,
    instant: Instant,
) -> Iterator[Outcome | None]:
    """Render each row for its customer and send it through its channel's adapter unless
    `instant` stops it; None for a row left unsent or decided by the contact policy."""
    customers = _customers(store, ruleset, rows)
    today = attempts.now.astimezone(ruleset.calendar.zone).date()  # the bank's date
    for adapter, group in _by_adapter(adapters, rows).values():
        rendered: list[tuple[Row, Message]] = []
        for row in group:
            message = _render(adapter, _in_force(ruleset, row), customers, ruleset, today)
            if isinstance(message, AdapterError):
                yield attempts.outcome(row, adapter.name, message)
            else:
                rendered.append((row, message))
        yield from _send(adapter, rendered, attempts, instant)


def _render(
    adapter: Adapter,
    row: Row,
    customers: Mapping[str, Row],
    ruleset: RuleSet,
    today: dt.date,
) -> Message | AdapterError:
    """The message, or why it cannot be rendered (rendering is pure: retrying cannot help).
    A customer no longer in the store is rendered from its key alone."""
    customer = customers.get(str(row["customer_id"])) or {ruleset.schema.key: row["customer_id"]}
    try:
        return adapter.render(row, customer, ruleset.templates, today=today)
    except AdapterError as error:
        return error
    except Exception as error:
        return PermanentError(f"render: {type(error).__name__}: {error}")


def _send(
    adapter: Adapter,
    rendered: Sequence[tuple[Row, Message]],
    attempts: Attempts,
    instant: Instant,
) -> Iterator[Outcome | None]:
    rows = [row for row, _message in rendered]
    messages = [message for _row, message in rendered]
    results = send_all(adapter, messages, lambda index: instant.check(rows[index]))
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, Receipt | AdapterError):
            yield attempts.outcome(row, adapter.name, result, instant.sent_at[row["id"]])
        else:  # stopped: an expiry is an outcome; a verdict is written apart, unsent waits
            yield result if isinstance(result, Outcome) else None


def _by_adapter(
    adapters: Mapping[str, Adapter], rows: Sequence[Row]
) -> dict[int, tuple[Adapter, list[Row]]]:
    """The rows of each adapter (one adapter may serve several channels), in claim order."""
    groups: dict[int, tuple[Adapter, list[Row]]] = {}
    for row in rows:
        adapter = adapters[row["channel"]]
        if id(adapter) not in groups:
            groups[id(adapter)] = (adapter, [])
        groups[id(adapter)][1].append(row)
    return groups


def _customers(store: Store, ruleset: RuleSet, rows: Sequence[Row]) -> dict[str, Row]:
    """The customers of `rows` by key, in one query; an unknown customer is left out."""
    key = ruleset.schema.key
    quoted = '"' + key.replace('"', '""') + '"'
    ids = sorted({str(row["customer_id"]) for row in rows})
    found = store.execute(
        f"SELECT * FROM customers WHERE {quoted} IN ({json_texts('ids', store.dialect)})",
        {"ids": json.dumps(ids, ensure_ascii=False)},
    )
    return {str(row[key]): row for row in found}


def retry_dead(store: Store, followup_id: int, now: dt.datetime) -> bool:
    """Put a dead letter back in the queue with its attempts reset; False if it is not dead.
    Raises UnknownFollowup when no follow-up has that id."""
    with store.transaction():
        if not store.execute("SELECT id FROM followups WHERE id = :id", {"id": followup_id}):
            raise UnknownFollowup(_("there is no follow-up {id}").format(id=followup_id))
        rows = store.execute(
            "UPDATE followups SET status = 'pending', attempts = 0, next_attempt_at = NULL,"
            " lease_until = NULL, updated_at = :now WHERE id = :id AND status = 'dead'"
            " RETURNING id, key",
            {"id": followup_id, "now": iso(now)},
        )
        for row in rows:
            ledger.record(store, row, attempt=0, at=now, outcome="requeued")
    return bool(rows)
