"""The contact policy once more at the instant each message is handed to its adapter.

A batch is decided when it is claimed (see recheck), but its sends may follow for up to most
of its lease: minutes. So right before each message is handed over, the clock is read again:

    the lease       once `in_time()` is false the message is left claimed (UNSENT)
    expiry          past its bound on lateness: expired, as the claim expires one
    consent and     read again for the messages left whenever what they are read from was
    do-not-contact  written since the last read (the claim's was the first), once a record
                    of theirs entered earlier takes effect (its effective time, read with
                    them), and at least every REREAD: a withdrawal committed before the send,
                    by any connection, however soon after the claim, or in force by the
                    send's instant, stops the message (suppressed with the claim's policy
                    and reason). The store's change token (SQLite's data_version;
                    PostgreSQL's consent_version, one row) is taken first, then consent is
                    read when it moved: a commit the token missed came after the send began.
                    Reading consent itself for every send would cost ~25 ms on PostgreSQL,
                    planning included; the token costs ~0.1 ms
    quiet hours     a message whose instant is inside them is deferred to their end (or
                    suppressed when it would expire first), as the claim defers it

    level           a step no longer in the playbook of the customer's level is refused with
                    the consent checks (policy `level`): a classification's commit moves the
                    change token as a withdrawal's does

    step            a follow-up whose step the rules in force no longer have for the
                    customer (deleted, renamed, switched off for their branch) is cancelled
                    with the consent checks (policy `withdrawn`, see in_force)

    erasure         an erased customer is refused with the consent checks (policy `erasure`):
                    their row's deletion moves the change token; an erasure is itself refused
                    while a live claim holds any of the person's follow-ups (privacy/requests)

    new rules       once `new_rules()` says other rules wait to be taken (the daemon asks
                    whether its rule files or the live release changed: a stat of the files
                    or one indexed query), this message and every one after it are not sent
                    and their claims are given back (pending again, no attempt counted, see
                    claim.give_back): the rules the batch was claimed under no longer decide
                    anything, and the new ones decide the claims given back when they are
                    claimed again

Not decided again: frequency caps (the claim took each message's slot at its instant, and
other dispatchers count it from then).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from guanxi.engine.consent import next_in_force
from guanxi.engine.dispatch.outcomes import Outcome, expired
from guanxi.engine.dispatch.recheck import Refusal, refusals
from guanxi.engine.dispatch.send import UNSENT, Unsent
from guanxi.engine.plan.followups import iso, past_bound
from guanxi.engine.plan.policy_messages import Quiet, defer
from guanxi.engine.plan.policy_verdicts import Verdict
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store

# A store that cannot tell whether it was written is read again at least this often.
REREAD = dt.timedelta(seconds=1)

Stop = Unsent | Outcome | Verdict  # why a message is not handed over


@dataclass
class Instant:
    """Decides each message of a claimed batch (`rows`, claimed at `read_at`) right before it
    is sent; keeps when each went and the verdicts reached (see the module)."""

    store: Store
    ruleset: RuleSet
    clock: Callable[[], dt.datetime]
    in_time: Callable[[], bool]
    read_at: dt.datetime
    rows: Sequence[Row]
    new_rules: Callable[[], bool] = lambda: False  # other rules wait: give the rest back
    sent_at: dict[int, dt.datetime] = field(default_factory=dict)  # id → when handed over
    verdicts: list[tuple[dt.datetime, Verdict]] = field(default_factory=list)
    given_back: list[Row] = field(default_factory=list)  # stopped for new rules
    unsent: int = 0  # left claimed: the lease was running out
    _refused: dict[int, Refusal] = field(init=False, default_factory=dict)
    _waiting: dict[int, Row] = field(init=False)
    _quiet: Quiet | None = field(init=False)
    _token: Hashable = field(init=False)
    _next_record: str | None = field(init=False, default=None)  # when one takes effect (iso)

    def __post_init__(self) -> None:
        self._waiting = {row["id"]: row for row in self.rows}
        self._token = object()  # the first message reads them all: writes since the claim
        self._quiet = Quiet.of(self.ruleset.policies) if self.ruleset.policies else None

    def check(self, row: Row) -> Stop | None:
        """Why `row` must not be sent now, or None (it is sent now)."""
        if self.given_back or self.new_rules():
            self.given_back.append(row)
            return UNSENT
        if not self.in_time():
            self.unsent += 1
            return UNSENT
        at = self.clock()
        stop = self._stop(row, at)
        self._waiting.pop(row["id"], None)
        if isinstance(stop, Verdict):
            self.verdicts.append((at, stop))
        elif stop is None:
            self.sent_at[row["id"]] = at
        return stop

    def _stop(self, row: Row, at: dt.datetime) -> Outcome | Verdict | None:
        if past_bound(row["expires_at"], at):
            return expired(row, at)
        refusal = self._refusal(row, at)
        if refusal is not None:
            return refusal.of(row["id"])
        quiet, zone = self._quiet, self.ruleset.calendar.zone
        if row["kind"] == "message" and quiet is not None and quiet.holds(at.astimezone(zone)):
            return defer(quiet, zone, row, at)
        return None

    def _refusal(self, row: Row, at: dt.datetime) -> Refusal | None:
        """Why consent or do-not-contact refuse `row` at `at`, as the store holds them now.
        The messages left are read again together when something was written since the last
        read (the token is taken before they are read, so a write between the two is read
        again next time), when a record of theirs has taken effect since, or a second has
        passed; a store that cannot tell whether it was written is read once a second."""
        token = self.store.change_token()
        written = token is not None and token != self._token
        in_force = self._next_record is not None and iso(at) >= self._next_record
        if written or in_force or at - self.read_at >= REREAD:
            waiting = list(self._waiting.values())
            self._refused = refusals(self.store, self.ruleset, waiting, at)
            customers = [str(row["customer_id"]) for row in waiting]
            self._next_record = next_in_force(self.store, customers, at)
            self._token, self.read_at = token, at
        return self._refused.get(row["id"])
