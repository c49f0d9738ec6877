"""Keep every message instead of sending it: the channel `guanxi simulate` delivers to.

Nothing leaves the process. `send` appends the message, stamped with the time its clock gives
(the simulation's virtual clock), to `records`; a key already recorded is acknowledged again
without a second record, as a receiver acts on each idempotency key once. `take()` hands the
records over and forgets them (a long simulation keeps what it needs of each, not its text).

With `checks` (channel → the class of the adapter that delivers it live), a message first
passes that adapter's `checked_recipient`, as its `send` would check it: one the live adapter
would refuse is refused here too (PermanentError, dead as live), and kept in `refused`
(`take_refused()`), so a simulation does not count as sent what the daemon would not send.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from guanxi.adapters.base import Adapter, Message, PermanentError, Receipt


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Recorded:
    """One message as it would have been sent, and when."""

    at: dt.datetime
    message: Message


@dataclass(frozen=True)
class Refused:
    """One message the live adapter would refuse, when, and why."""

    at: dt.datetime
    message: Message
    reason: str


class RecordingAdapter(Adapter):
    """Records messages in memory; `clock` stamps each (the wall clock unless injected)."""

    name = "recording"

    def __init__(
        self,
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
        address_fields: Mapping[str, str] | None = None,
        checks: Mapping[str, type[Adapter]] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.clock = clock
        self.checks = dict(checks or {})
        self.records: list[Recorded] = []
        self.refused: list[Refused] = []
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def messages(self) -> list[Message]:
        return [record.message for record in self.records]

    def take(self) -> list[Recorded]:
        """The records so far, which the adapter then forgets (their keys it remembers)."""
        with self._lock:
            taken, self.records = self.records, []
        return taken

    def take_refused(self) -> list[Refused]:
        """The refusals so far, which the adapter then forgets."""
        with self._lock:
            taken, self.refused = self.refused, []
        return taken

    def send(self, message: Message) -> Receipt:
        self._check(message)
        with self._lock:
            if self._closed:
                raise PermanentError("the recording adapter is closed")
            if message.key in self._keys:
                return Receipt(message.key, self.name, message.key, "already recorded")
            self._keys.add(message.key)
            self.records.append(Recorded(self.clock(), message))
        return Receipt(message.key, self.name, message.key, "recorded")

    def _check(self, message: Message) -> None:
        """The live adapter's recipient check, when the channel has one."""
        live = self.checks.get(message.channel)
        if live is None:
            return
        try:
            live.checked_recipient(message, self.address_fields)
        except PermanentError as error:
            with self._lock:
                self.refused.append(Refused(self.clock(), message, str(error)))
            raise

    def close(self) -> None:
        """No more sends; what was recorded stays readable."""
        with self._lock:
            self._closed = True
