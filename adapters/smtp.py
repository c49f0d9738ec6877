"""Email through an SMTP server, one connection kept open and reopened after any error.

The `Message-ID` is derived from the idempotency key (`<sha256(key)[:32]@domain>`), so a mail
sent twice after a lost answer carries the same id and the customer's mail system can
recognise it; the raw key, which holds a customer id, is not put in the mail.

    SMTP 5xx reply              PermanentError (refused sender, recipient or message)
    SMTP 4xx reply              RetryableError (greylisting, mailbox busy, local error)
    refused, reset, timeout     RetryableError
    no recipient address        PermanentError
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage

from guanxi.adapters.base import (
    Adapter,
    AdapterError,
    Message,
    PermanentError,
    Receipt,
    RetryableError,
)


def message_id(key: str, domain: str = "guanxi") -> str:
    """The `Message-ID` header for an idempotency key."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


class SmtpAdapter(Adapter):
    """Sends each message from `sender` to its recipient through `host:port`."""

    name = "smtp"

    def __init__(
        self,
        host: str = "localhost",
        port: int = 25,
        *,
        sender: str = "noreply@localhost",
        timeout: float = 10.0,
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
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: Message) -> Receipt:
        mail, recipient = self._mail(message), str(message.recipient)
        try:
            self._connection().send_message(mail, self.sender, [recipient])
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise _classify(error) from error
        return Receipt(message.key, self.name, mail["Message-ID"], f"{self.host}:{self.port}")

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._drop()

    def _mail(self, message: Message) -> EmailMessage:
        if not message.recipient:
            raise PermanentError(f"smtp: follow-up {message.key} has no email address")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or ""
        mail["Message-ID"] = message_id(message.key, self.domain)
        mail.set_content(message.body, charset="utf-8")
        return mail

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls()
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            self._smtp = smtp
        return self._smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None


def _classify(error: smtplib.SMTPException | OSError) -> AdapterError:
    code = _code(error)
    text = f"smtp: {error}"
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
