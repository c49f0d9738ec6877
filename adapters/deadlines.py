"""Deadlines for a whole exchange with a server, not only for each read.

A socket timeout bounds each read only: a server dripping a byte (or an SMTP continuation
line) before each read would time out keeps a send alive for as long as it likes, past the
daemon's lease, so another daemon sends the same message again. A `Watch` is one exchange's
deadline; one `Deadlines` thread per adapter shuts the socket of every exchange still running
at its deadline, so the read blocked on it returns at once and the send fails as retryable.

    deadlines = Deadlines("smtp")
    with deadlines.watch(seconds) as watch:
        watch.follow(sock)       # again whenever the exchange moves to another socket
        ...                      # reads and writes; `watch.expired` once cut off
    deadlines.close()            # when the adapter is closed
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from guanxi.engine.i18n import _


def cut_off(seconds: float) -> str:
    """What a send cut off at its deadline failed of."""
    return _("no whole answer within {seconds} s").format(seconds=f"{seconds:g}")


class Watch:
    """One exchange's deadline; `expired` once the deadline cut its socket off."""

    def __init__(self, deadlines: Deadlines, seconds: float) -> None:
        self.seconds, self.until = seconds, time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._deadlines = deadlines

    def __enter__(self) -> Watch:
        self._deadlines.add(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._deadlines.remove(self)

    def follow(self, sock: socket.socket) -> None:
        """Watch the exchange's socket (the answer keeps it when the connection lets it go)."""
        self._sock = sock
        self.check()  # the deadline may have passed while connecting

    def check(self) -> None:
        if self.expired:
            raise TimeoutError(cut_off(self.seconds))

    def expire(self) -> None:
        """Shut the socket down: a read blocked on it returns at once."""
        self.expired = True
        if self._sock is not None:
            with contextlib.suppress(OSError):  # the plain socket's shutdown, TLS or not
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


class Deadlines:
    """The deadlines of the exchanges under way, kept by one thread (named after `adapter`)
    that expires each one still running at its deadline. The thread starts with the first
    exchange and ends at `close`."""

    def __init__(self, adapter: str) -> None:
        self._name = f"guanxi-{adapter}-deadlines"
        self._watches: dict[int, Watch] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, seconds: float) -> Watch:
        return Watch(self, seconds)

    def add(self, watch: Watch) -> None:
        with self._changed:
            earliest = min((w.until for w in self._watches.values()), default=None)
            self._watches[id(watch)] = watch
            if self._thread is None:
                self._closed = False
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif earliest is None or watch.until < earliest:
                self._changed.notify()

    def remove(self, watch: Watch) -> None:
        with self._changed:
            self._watches.pop(id(watch), None)

    def close(self) -> None:
        with self._changed:
            thread, self._thread, self._closed = self._thread, None, True
            self._changed.notify()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                now = time.monotonic()
                for watch in [w for w in self._watches.values() if w.until <= now]:
                    del self._watches[id(watch)]
                    watch.expire()
                earliest = min((w.until for w in self._watches.values()), default=None)
                self._changed.wait(None if earliest is None else earliest - now)
