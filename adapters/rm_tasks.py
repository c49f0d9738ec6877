"""The relationship managers' task inbox inside the store: each message becomes one open task.

The task is keyed by the follow-up's idempotency key and inserted with ON CONFLICT DO NOTHING,
so a send retried after a crash or a lost answer leaves exactly one task. Its owner is the
follow-up's owner (the customer's relationship manager, carried in the message metadata; read
as an id, so a follow-up planned by an older version for `ＲＭ００１` lands with `RM001`), its
title and body the rendered subject and body. Managers see them with `guanxi tasks list --rm
ID` and close them with `guanxi tasks done ID --outcome …`.

    locked or busy database             RetryableError
    anything else the store refuses     PermanentError (a missing table, a closed store)
    a due time that is not ISO          PermanentError
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from guanxi.adapters.base import (
    Adapter,
    AdapterError,
    Message,
    PermanentError,
    Receipt,
    RetryableError,
)
from guanxi.engine.ids import same_id
from guanxi.engine.plan.followups import iso

# The store and the task inbox are imported where a task is written, not here: `guanxi
# validate` imports this module to check its options and should not load the whole engine.
if TYPE_CHECKING:
    from guanxi.engine.store.base import Store
    from guanxi.engine.store.sqlite import SQLiteStore

TITLE_LENGTH = 40  # a task without a subject is titled by the start of its body


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RmTasksAdapter(Adapter):
    """Writes tasks into `store` (the daemon passes its own) or into the SQLite file `database`
    (for configuration files). `clock` gives each task's created_at; the wall clock unless
    injected."""

    name = "rm_tasks"

    def __init__(
        self,
        *,
        store: Store | None = None,
        database: str | os.PathLike[str] | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
        address_fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        if store is not None and database is None:
            self.store, self._owns_store = store, False
        elif database is not None and store is None:
            self.store, self._owns_store = _open(database), True
        else:
            raise AdapterError("rm_tasks: give either store= or database=, not both or neither")
        self.clock = clock

    def send(self, message: Message) -> Receipt:
        from guanxi.engine.tasks import insert_task

        task = task_row(message, self.clock())
        try:
            created = insert_task(self.store, task)
        except Exception as error:  # the store's own error types differ from store to store
            raise self._classified(error) from error
        detail = "task created" if created else "already in the inbox"
        return Receipt(message.key, self.name, message.key, detail)

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def _classified(self, error: Exception) -> RetryableError | PermanentError:
        text = f"rm_tasks: {error}"
        return RetryableError(text) if self.store.is_busy(error) else PermanentError(text)


def task_row(message: Message, created_at: dt.datetime) -> dict[str, Any]:
    """The task a message becomes: what `guanxi.engine.tasks.insert_task` takes."""
    return {
        "key": message.key,
        "customer_id": message.customer_id,
        "step_id": message.step_id,
        "owner": _owner(message.metadata.get("owner")),
        "title": message.subject or _title(message.body),
        "body": message.body,
        "due_at": _due_at(message),
        "created_at": iso(created_at),
    }


def _title(body: str) -> str:
    line = body.strip().splitlines()[0] if body.strip() else ""
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


def _due_at(message: Message) -> str | None:
    """The follow-up's due time as stored (ISO, UTC); None when the message has none."""
    due = message.metadata.get("due_at")
    if due is None or isinstance(due, dt.datetime):
        return iso(due) if due else None
    try:
        moment = dt.datetime.fromisoformat(str(due))
    except ValueError:
        raise PermanentError(f"rm_tasks: {message.key}: due time '{due}' is not ISO") from None
    return iso(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))


def _owner(value: Any) -> str | None:
    return None if value in (None, "") else same_id(str(value)) or None


def _open(database: str | os.PathLike[str]) -> SQLiteStore:
    from guanxi.engine.store.sqlite import SQLiteStore

    try:
        return SQLiteStore(os.fspath(database))
    except sqlite3.Error as error:
        raise AdapterError(f"rm_tasks: cannot open the database '{database}': {error}") from None
