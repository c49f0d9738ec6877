"""Append one JSON line per message to a file: the demo's default channel.

The outbox never holds a key twice: on open it reads the keys already in the file, and a
message whose key is there is acknowledged without being written again. A last line cut short
by a crash (no newline) was never acknowledged, so it is cut off on open. Each line is written
under an exclusive lock on the file. Erasure and retention rewrite the file whole into a new
one that replaces it (`rewrite_lines`), holding the old file's lock meanwhile: a writer that
then gets the lock finds the name pointing to another file and opens that one, so no line is
lost and none lands in the file replaced.

A line goes to the file whole or not at all: a write that fails (the disk full, the folder
gone) cuts the file back to where the line began and raises RetryableError; nothing of it
stays buffered to reach the file later, beside the retry's copy. A recipient that is not one
address (two numbers in the phone field) is refused, as the webhook refuses it; a message
without one is written as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from io import FileIO
from pathlib import Path
from typing import IO, Any

from guanxi.adapters.base import Adapter, Message, PermanentError, Receipt, RetryableError
from guanxi.adapters.recipients import one_recipient


class OutboxAdapter(Adapter):
    """A JSON-lines file at `path`; with `fsync`, each line is on disk before `send` returns."""

    name = "outbox"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        address_fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._keys = _keys_in(self.path)
        self._file: FileIO = self.path.open("ab", buffering=0)
        self._closed = False

    @classmethod
    def checked_recipient(cls, message: Message, address_fields: Mapping[str, str]) -> str | None:
        """None passes: what reads the outbox may find the customer by id."""
        return one_recipient(cls.name, message, False, address_fields.get(message.channel))

    def send(self, message: Message) -> Receipt:
        self.checked_recipient(message, self.address_fields)  # what reads the outbox sends to it
        line = json.dumps(message.as_json(), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if message.key in self._keys:
                return Receipt(message.key, self.name, message.key, "already in the outbox")
            self._write(line.encode("utf-8"))
            self._keys.add(message.key)
        return Receipt(message.key, self.name, message.key, str(self.path))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._file.close()

    def _write(self, data: bytes) -> None:
        if self._closed:
            raise PermanentError(f"outbox {self.path} is closed")
        try:
            with self._current():
                self._append(data)
        except OSError as error:
            raise RetryableError(f"outbox {self.path}: {error}") from error

    def _append(self, data: bytes) -> None:
        """Write `data` at the end, whole; on an error, cut back what was written of it."""
        end = os.fstat(self._file.fileno()).st_size
        try:
            left = memoryview(data)
            while left:
                left = left[self._file.write(left) :]
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError:
            with contextlib.suppress(OSError):  # a device (/dev/full) has no length
                os.ftruncate(self._file.fileno(), end)
            raise

    @contextlib.contextmanager
    def _current(self) -> Iterator[None]:
        """The lock on the file now at `path`, reopened when a rewrite replaced it."""
        while True:
            if not self._file.closed:
                with locked(self._file):
                    if _same_file(self._file, self.path):
                        yield
                        return
                self._file.close()
            self._file = self.path.open("ab", buffering=0)  # its folder gone: OSError


def _same_file(file: IO[Any], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(file.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def rewrite_lines(path: Path, change: Callable[[bytes], bytes | None]) -> int:
    """Replace each line of the file at `path` by `change(line)` (None: the line goes),
    atomically: the new file is written beside it, on disk, then renamed over it, under the
    lock writers take; how many lines changed (nothing is written when none did)."""
    with path.open("rb") as file, locked(file):
        lines = file.read().splitlines(keepends=True)
        changed = [change(line) for line in lines]
        count = sum(new != line for line, new in zip(lines, changed, strict=True))
        if count:
            partial = path.with_name(path.name + ".partial")
            with partial.open("wb") as new:
                new.write(b"".join(line for line in changed if line is not None))
                new.flush()
                os.fsync(new.fileno())
            os.replace(partial, path)
    return count


@contextlib.contextmanager
def locked(file: IO[Any]) -> Iterator[None]:
    """An exclusive lock on a file between processes (advisory: guanxi's own take it)."""
    fcntl.flock(file.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def _keys_in(path: Path) -> set[str]:
    """The keys already in the outbox, after cutting off a torn last line."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with path.open("r+b") as file:
            file.truncate(len(whole))
    return {json.loads(line)["key"] for line in whole.splitlines() if line.strip()}
