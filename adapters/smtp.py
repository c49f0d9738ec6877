"""Email through an SMTP server, over connections kept open and reopened after any error.

Safe to use from several threads: each send borrows an idle connection (or opens one) and
gives it back afterwards, so dispatch may run `concurrent_sends` sends at once, one
connection each.

The `Message-ID` is derived from the idempotency key (`<sha256(key)[:32]@domain>`), so a mail
sent twice after a lost answer carries the same id and the customer's mail system can
recognise it; the raw key, which holds a customer id, is not put in the mail.

    SMTP 5xx reply              PermanentError (refused sender, recipient or message)
    SMTP 4xx reply              RetryableError (greylisting, mailbox busy, local error)
    a kept connection closed    sent again at once on a new connection: the server closed it
                                while idle (no answer to MAIL, or 421), nothing of the mail
                                was taken
    refused, reset, timeout     RetryableError, up to the end of the mail's text
    no answer to the mail       OutcomeUnknownError (dead, not retried): the whole mail went
                                out and the server's answer to it (the reply after DATA's
                                final dot) timed out or the connection dropped; the server
                                may have queued it, and a retry would reach the customer
                                twice where its mail system does not drop a repeated
                                Message-ID; the reason names the Message-ID to look up in
                                the mail server's log
    not done by the deadline    RetryableError: a send as a whole (connecting, STARTTLS,
                                login and the mail) is cut off after SMTP_STEPS × `timeout`,
                                however the server drips its replies, so it never outlasts
                                the lease that `longest_send` asks of the daemon
    no recipient address        PermanentError
    not one address             PermanentError: two addresses, a display name, a line break
                                or control character, a source route, no domain or one that
                                names no host (the mail would go to one and show others, or
                                carry a header of the field's making; recipients.py, as the
                                webhook checks its recipients)
    non-ASCII address           sent with SMTPUTF8 (RFC 6531) where the server offers it,
                                else PermanentError
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import threading
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.header import Header
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, compat32
from typing import Any

from guanxi.adapters.base import (
    Adapter,
    AdapterError,
    Message,
    OutcomeUnknownError,
    PermanentError,
    Receipt,
    RetryableError,
    seconds_option,
)
from guanxi.adapters.deadlines import Deadlines, Watch, cut_off
from guanxi.adapters.recipients import one_email_address
from guanxi.engine.i18n import _

CLOSING = 421  # the server is closing the connection: service not available
WIRE = compat32.clone(linesep="\r\n")  # SMTP lines end in CRLF; sendmail sends bytes as given
INTERNATIONAL = SMTPUTF8.clone(linesep="\r\n")  # UTF-8 headers, for a non-ASCII address
TIMEOUT = 10.0  # seconds each exchange with the server may take, by default
SMTP_STEPS = 6  # exchanges of one send: greeting, EHLO, MAIL, RCPT, DATA, the message


def message_id(key: str, domain: str = "guanxi") -> str:
    """The `Message-ID` header for an idempotency key."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


class SmtpAdapter(Adapter):
    """Sends each message from `sender` to its recipient through `host:port`."""

    name = "smtp"
    concurrent_sends = 4

    def __init__(
        self,
        host: str = "localhost",
        port: int = 25,
        *,
        sender: str = "noreply@localhost",
        timeout: float = TIMEOUT,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        domain: str = "guanxi",
        address_fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.starttls, self.username, self.password = starttls, username, password
        self.domain = domain
        self._idle: list[_Smtp] = []  # open connections no send is using
        self._lock = threading.Lock()
        self._deadlines = Deadlines(self.name)

    @classmethod
    def longest_send(cls, options: Mapping[str, Any]) -> float | None:
        """`timeout` bounds each exchange with the server, and SMTP_STEPS of them a send as
        a whole (STARTTLS and a login, when a connection is opened, count within it)."""
        timeout = seconds_option(options, "timeout", TIMEOUT)
        return None if timeout is None else SMTP_STEPS * timeout

    @classmethod
    def checked_recipient(cls, message: Message, address_fields: Mapping[str, str]) -> str:
        return one_email_address(cls.name, message)

    def send(self, message: Message) -> Receipt:
        recipient = self.checked_recipient(message, self.address_fields)
        international = not recipient.isascii()
        mail = self._international(message) if international else self._mail(message)
        options = ["SMTPUTF8"] if international else []
        with self._deadlines.watch(SMTP_STEPS * self.timeout) as watch:
            smtp = self._mail_once(message, (recipient, mail, options), watch, reuse=True)
        self._give_back(smtp, watch)
        mail_id = message_id(message.key, self.domain)
        return Receipt(message.key, self.name, mail_id, f"{self.host}:{self.port}")

    def _mail_once(
        self, message: Message, envelope: tuple[str, bytes, list[str]], watch: Watch, reuse: bool
    ) -> _Smtp:
        """Send the mail on a kept connection (`reuse`) or a new one; the connection it went
        on. A kept one the server closed meanwhile (no answer yet to this mail: none of it
        was taken) is replaced by a new one, once."""
        recipient, mail, options = envelope
        smtp = None
        try:
            smtp = self._borrow(watch, reuse)
            smtp.sendmail(self.sender, [recipient], mail, options)
            return smtp
        except (smtplib.SMTPException, OSError) as error:
            if smtp is None:
                raise _classify(error, watch) from error
            smtp.close()
            if smtp.unanswered_mail and not _answered(error):
                raise self._unknown(message, error, watch) from error
            if smtp.found_closed(error) and not watch.expired:
                return self._mail_once(message, envelope, watch, reuse=False)
            raise _classify(error, watch) from error

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp in idle:
            with (
                self._deadlines.watch(self.timeout) as watch,
                contextlib.suppress(smtplib.SMTPException, OSError),
            ):
                smtp.follow(watch)
                smtp.quit()  # a server dripping its goodbye is cut off too
            smtp.close()
        self._deadlines.close()

    def _unknown(self, message: Message, error: Exception, watch: Watch) -> OutcomeUnknownError:
        problem = cut_off(watch.seconds) if watch.expired else str(error)
        return OutcomeUnknownError(
            _(
                "smtp: the whole mail went to {server} but its answer never came ({problem}):"
                " it may have been delivered, so it is not sent again; look for Message-ID"
                " {id} in the mail server's log, and send it again by hand only if it is not"
                " there"
            ).format(
                server=f"{self.host}:{self.port}",
                problem=problem,
                id=message_id(message.key, self.domain),
            )
        )

    def _mail(self, message: Message) -> bytes:
        """The mail as sent, built with the `compat32` classes: the same headers and UTF-8
        body as `EmailMessage` gives, several times faster to build and flatten. An address
        that would smuggle in a header of its own is refused."""
        mail = MIMEText(message.body, "plain", "utf-8")
        mail["From"] = self.sender
        mail["To"] = str(message.recipient)
        subject = Header(message.subject or "", "utf-8")  # RFC 2047 words, folded safely
        mail["Subject"] = subject  # type: ignore[assignment]  # typeshed wants str only
        mail["Message-ID"] = message_id(message.key, self.domain)
        try:
            return mail.as_bytes(policy=WIRE)
        except HeaderParseError as error:
            raise PermanentError(f"smtp: follow-up {message.key}: {error}") from error

    def _international(self, message: Message) -> bytes:
        """The mail to a non-ASCII address: its headers in UTF-8, as SMTPUTF8 carries them
        (a line break in the subject is a space there)."""
        mail = EmailMessage(policy=INTERNATIONAL)
        mail["From"] = self.sender
        mail["To"] = str(message.recipient)
        mail["Subject"] = " ".join((message.subject or "").splitlines())
        mail["Message-ID"] = message_id(message.key, self.domain)
        body = message.body.encode("utf-8")  # as MIMEText carries it: exact, base64
        mail.set_content(body, "text", "plain", cte="base64", params={"charset": "utf-8"})
        return mail.as_bytes()

    def _borrow(self, watch: Watch, reuse: bool = True) -> _Smtp:
        """An idle connection (`reuse`), or a new one when every open one is in use; under
        `watch`."""
        with self._lock:
            smtp = self._idle.pop() if reuse and self._idle else None
        if smtp is not None:
            smtp.follow(watch)
            smtp.kept, smtp.replies = True, 0
            return smtp
        smtp = _Smtp(watch, timeout=self.timeout)
        try:
            smtp.connect(self.host, self.port)
            if self.starttls:
                smtp.starttls()
            if self.username is not None:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _give_back(self, smtp: _Smtp, watch: Watch) -> None:
        """Keep the connection for the next send, unless the deadline cut it off."""
        if watch.expired:  # after the server's last reply: the mail went, the socket did not
            smtp.close()
            return
        with self._lock:
            self._idle.append(smtp)


class _Smtp(smtplib.SMTP):
    """An SMTP connection whose socket is under a `Watch`: from the greeting on, and the TLS
    socket once STARTTLS puts it in the place of the plain one."""

    def __init__(self, watch: Watch, *, timeout: float) -> None:
        self._watch = watch
        self._data_replies = -1  # replies read since DATA was sent; -1: not in DATA
        self.unanswered_mail = False  # the whole mail went, its answer is not read yet
        self.kept = False  # taken from the idle connections for this mail
        self.replies = 0  # replies read since it was taken for this mail
        super().__init__(timeout=timeout)

    def found_closed(self, error: Exception) -> bool:
        """Whether the server closed this kept connection before it took anything of this
        mail (a relay's idle timeout, one mail a connection): no answer to MAIL, or 421
        (closing) as that answer."""
        if not self.kept:
            return False
        if isinstance(error, smtplib.SMTPSenderRefused):
            return self.replies == 1 and error.smtp_code == CLOSING
        return self.replies == 0 and isinstance(error, smtplib.SMTPServerDisconnected)

    def data(self, msg: Any) -> tuple[int, bytes]:
        """DATA, knowing when the whole mail has gone out: the second reply of the
        exchange is the answer to the mail itself (the first, 354, asks for it)."""
        self._data_replies, self.unanswered_mail = 0, False
        try:
            return super().data(msg)
        finally:
            self._data_replies = -1

    def follow(self, watch: Watch) -> None:
        """Put the connection's exchanges under `watch`."""
        self._watch = watch
        if self.sock is not None:
            watch.follow(self.sock)

    def getreply(self) -> tuple[int, bytes]:
        if self._data_replies >= 0:
            self.unanswered_mail = self._data_replies == 1
            self._data_replies += 1
        if self.sock is not None:
            self._watch.follow(self.sock)
        reply = super().getreply()
        self.unanswered_mail = False
        self.replies += 1
        return reply


def _answered(error: Exception) -> bool:
    """Whether the server answered (a reply with a code), as against a timeout or a drop."""
    return isinstance(error, smtplib.SMTPResponseException)


def _classify(error: smtplib.SMTPException | OSError, watch: Watch) -> AdapterError:
    if watch.expired:
        return RetryableError(f"smtp: {cut_off(watch.seconds)}")
    code = _code(error)
    text = f"smtp: {error}"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return PermanentError(f"smtp: the server does not take non-ASCII addresses ({error})")
    if code is not None and 500 <= code < 600:
        return PermanentError(text)
    return RetryableError(text)


def _code(error: smtplib.SMTPException | OSError) -> int | None:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return min(codes) if codes else None
    if isinstance(error, smtplib.SMTPResponseException):
        return int(error.smtp_code)
    return None
