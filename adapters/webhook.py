"""HTTP POST of the message as JSON to an SMS gateway, app push service or CRM API.

The idempotency key travels in the `Idempotency-Key` header (and as `key` in the body), so a
receiver can de-duplicate a send that is retried after a lost answer. A header carries only
ASCII: a key holding other characters (a Chinese event id) is percent-encoded there as UTF-8
(RFC 3986), and an ASCII key is sent as it is.

Connections are kept alive and pooled: a send borrows an idle connection (or opens one) and
gives it back, so the adapter is safe to use from several threads and dispatch runs up to
`concurrent_sends` sends at once. HTTP/1.1 is the standard library's `http.client`: a POST
costs a fraction of the CPU time of httpx's, and that CPU time is what bounds one
dispatcher's throughput. A kept-alive connection the receiver has closed in the meantime is
reopened and the POST sent again once (the key makes that safe).

    2xx                     delivered
    2xx saying it failed    RetryableError: a JSON answer whose `ok` or `success` is false,
                            or is not true and whose `error` or `errors` holds an error (not
                            empty, "0" or "ok"), as gateways that answer 200 to every request
                            say it: nothing went out, it is tried again, and the answer's
                            error is the reason
    408, 429, 5xx           RetryableError (`retry_after` from a Retry-After header in seconds)
    other 3xx/4xx           PermanentError
    timeout, network error  RetryableError
    malformed URL/scheme    PermanentError
    a header no request     PermanentError, naming the header, not its value (a secret); a
    can carry               value's surrounding spaces and line break (a token read from a
                            file) are dropped first
    not one recipient       PermanentError, nothing POSTed: an address field that is empty or
                            holds two numbers or addresses (recipients.py)

`timeout` bounds the whole send (connecting, writing the POST, reading its answer), not only
each read: a receiver that drips its answer a byte at a time is cut off at the deadline. Of an
answer's body at most `MAX_ANSWER` bytes are read (the receiver's id is in its first few); the
rest is left unread and the connection closed, so a flood costs neither memory nor time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any, NamedTuple

from guanxi.adapters.base import (
    Adapter,
    Message,
    PermanentError,
    Receipt,
    RetryableError,
    seconds_option,
)
from guanxi.adapters.deadlines import Deadlines, Watch, cut_off
from guanxi.adapters.recipients import one_recipient

RETRYABLE_STATUS = frozenset({408, 429})
MAX_ANSWER = 64 * 1024  # bytes of an answer's body that are read
SHOWN_ERROR = 200  # characters of a receiver's error kept in the reason
NO_ERROR = frozenset({"0", "ok", "success", "none", "null"})  # an `error` that says all is well
TIMEOUT = 10.0  # seconds a send may take, by default
CONCURRENT_SENDS = 8  # enough to keep a receiver busy; a send is mostly waiting for it
DEFAULT_HEADERS = {"Content-Type": "application/json", "User-Agent": "guanxi"}
# what a kept-alive connection raises when the receiver closed it before this request
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
PRINTABLE_ASCII = "".join(map(chr, range(0x20, 0x7F)))  # kept as they are in a header
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token


class Target(NamedTuple):
    """Where the POSTs go, from the URL."""

    https: bool
    host: str
    port: int | None
    path: str  # with the query


class Answer(NamedTuple):
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    will_close: bool  # the receiver closes the connection after this answer


class WebhookAdapter(Adapter):
    """POSTs each message to `url`; `timeout` in seconds bounds each send as a whole
    (connecting, the POST and its answer); at most `max_connections` are open at once."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = TIMEOUT,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 20,
        address_fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.url, self.timeout = url, timeout
        self.concurrent_sends = max(1, min(CONCURRENT_SENDS, max_connections))
        self._target = _target(url)  # a str: why no POST can go there, raised at send
        self._headers = _headers(url, headers or {})  # a str: why no POST can carry them
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, max_connections))
        self._deadlines = Deadlines(self.name)

    @classmethod
    def longest_send(cls, options: Mapping[str, Any]) -> float | None:
        """`timeout` bounds the whole send."""
        return seconds_option(options, "timeout", TIMEOUT)

    @classmethod
    def checked_recipient(cls, message: Message, address_fields: Mapping[str, str]) -> str | None:
        field = address_fields.get(message.channel)
        return one_recipient(cls.name, message, field is not None, field)

    def send(self, message: Message) -> Receipt:
        self.checked_recipient(message, self.address_fields)
        if isinstance(self._headers, str):
            raise PermanentError(self._headers)
        body = json.dumps(message.as_json(), ensure_ascii=False, default=str).encode("utf-8")
        headers = {**self._headers, "Idempotency-Key": header_key(message.key)}
        answer = self._post(body, headers)
        _raise_for_status(self.url, answer)
        return Receipt(message.key, self.name, _external_id(answer), str(answer.status))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        self._deadlines.close()

    def _post(self, body: bytes, headers: dict[str, str]) -> Answer:
        target = self._target
        if isinstance(target, str):
            raise PermanentError(target)
        with self._slots:
            connection, reused = self._borrow(target)
            watch = self._deadlines.watch(self.timeout)
            try:
                with watch:
                    answer = _exchange(connection, target.path, body, headers, reused, watch)
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                raise RetryableError(f"webhook {self.url}: {_describe(error, watch)}") from error
            if answer.will_close or watch.expired:
                connection.close()  # http.client opens it again for the next request
            with self._lock:
                self._idle.append(connection)
            return answer

    def _borrow(self, target: Target) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (True: it was used before), or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        if target.https:
            context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                target.host, target.port, timeout=self.timeout, context=context
            )
            return connection, False
        return http.client.HTTPConnection(target.host, target.port, timeout=self.timeout), False


def header_key(key: str) -> str:
    """`key` as an HTTP header carries it: ASCII as it is, any other character as %XX."""
    return key if key.isascii() else urllib.parse.quote(key, safe=PRINTABLE_ASCII)


def _target(url: str) -> Target | str:
    """Where the POSTs go, or why no POST can go to `url`."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"webhook {url}: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"webhook {url}: not an http or https URL"
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    if any(c.isspace() or ord(c) < 32 for c in path):
        return f"webhook {url}: the path has spaces or control characters"
    return Target(parts.scheme == "https", parts.hostname, port, path)


def _headers(url: str, given: Mapping[str, str]) -> dict[str, str] | str:
    """The headers of every POST, each value without the spaces and line break around it (a
    token read from a file ends in one); or why no request can carry them, naming the header
    but not its value, which is usually a secret."""
    headers = dict(DEFAULT_HEADERS)
    for name, value in ((str(n), str(v).strip()) for n, v in given.items()):
        if not HEADER_NAME.fullmatch(name) or not (value.isascii() and value.isprintable()):
            return (
                f"webhook {url}: the header {name!r} is not one an HTTP request can carry: its"
                " name is not one word, or its value holds a line break, a control character or"
                " a character other than ASCII"
            )
        headers[name] = value
    return headers


def _exchange(
    connection: http.client.HTTPConnection,
    path: str,
    body: bytes,
    headers: dict[str, str],
    reused: bool,
    watch: Watch,
) -> Answer:
    """One POST and its answer; on a kept-alive connection the receiver had closed, the POST
    goes once more on a new one (unless the deadline is what closed it)."""
    try:
        return _round_trip(connection, path, body, headers, watch)
    except STALE:
        if not reused or watch.expired:
            raise
        connection.close()  # http.client opens it again for the next request
        return _round_trip(connection, path, body, headers, watch)


def _round_trip(
    connection: http.client.HTTPConnection,
    path: str,
    body: bytes,
    headers: dict[str, str],
    watch: Watch,
) -> Answer:
    if connection.sock is None:
        connection.connect()  # bounded by the socket timeout
    watch.follow(connection.sock)
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read(MAX_ANSWER)
    watch.check()  # a body cut off by the deadline reads as a short one
    unread = not response.isclosed()  # more than MAX_ANSWER: left unread, connection closed
    if unread:
        response.close()
    will_close = response.will_close or unread
    return Answer(response.status, response.reason, response.headers, answer, will_close)


def _describe(error: BaseException, watch: Watch) -> str:
    if watch.expired:
        return cut_off(watch.seconds)
    if isinstance(error, TimeoutError):
        return f"timed out ({error})"
    return f"{type(error).__name__}: {error}" if not str(error) else str(error)


def _raise_for_status(url: str, answer: Answer) -> None:
    status = answer.status
    if 200 <= status < 300:
        _raise_for_refusal(url, answer)
        return
    message = f"webhook {url}: HTTP {status} {answer.reason}"
    if status >= 500 or status in RETRYABLE_STATUS:
        raise RetryableError(message, _retry_after(answer))
    raise PermanentError(message)


def _raise_for_refusal(url: str, answer: Answer) -> None:
    """A 2xx whose JSON answer says the message was not taken (`{"success": false, "error":
    "isv.MOBILE_NUMBER_ILLEGAL"}`) is a failure, not a delivery."""
    refusal = _refusal(_json(answer))
    if refusal is not None:
        said = json.dumps(refusal, ensure_ascii=False, default=str)
        shown = said if len(said) <= SHOWN_ERROR else said[: SHOWN_ERROR - 1] + "…"
        raise RetryableError(f"webhook {url}: HTTP {answer.status} but the answer says: {shown}")


def _refusal(body: Any) -> Any:
    """What a JSON answer says went wrong (its `error` or `errors`, else the whole answer when
    `ok` or `success` is false); None when it says nothing of the kind. An answer that says it
    succeeded did, whatever its `error` holds; so does one whose error reads as none ("0")."""
    if not isinstance(body, dict) or True in (body.get("ok"), body.get("success")):
        return None
    error = body.get("error") or body.get("errors")
    if error and not (isinstance(error, str) and error.strip().lower() in NO_ERROR):
        return error
    return body if False in (body.get("ok"), body.get("success")) else None


def _json(answer: Answer) -> Any:
    """The answer's body as JSON; None when it is not JSON (or was cut off at MAX_ANSWER, or
    nests deeper than the decoder goes: `[[[…` raises RecursionError)."""
    with contextlib.suppress(ValueError, RecursionError):
        return json.loads(answer.body)
    return None


def _retry_after(answer: Answer) -> float | None:
    value = answer.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _external_id(answer: Answer) -> str | None:
    """The receiver's id for the delivery: `id` in a JSON answer, else a Location header."""
    body = _json(answer)
    if isinstance(body, dict) and body.get("id") is not None:
        return str(body["id"])
    location = answer.headers.get("Location")
    return str(location) if location is not None else None
