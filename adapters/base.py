"""What every delivery adapter is: a pure `render` and an I/O `send`, plus the errors it raises.

    AdapterError                    base of everything an adapter raises
    ├── RetryableError              try again later: timeout, refused connection, 5xx, 4xx SMTP;
    │                               `retry_after` (seconds) when the receiver said how long
    ├── PermanentError              trying again cannot help: 4xx HTTP, 5xx SMTP, no address
    │   ├── RenderError             the template is unknown, uses a variable that is missing,
    │   │                           goes past a limit (too long, too much work), or gives a
    │   │                           message with nothing to read (an `{% if %}` false for
    │   │                           this customer, fields empty)
    │   └── OutcomeUnknownError     the receiver took the whole message and then gave no
    │                               answer: it may have been delivered, so it is not sent
    │                               again (the customer would get it twice); an operator
    │                               checks the receiver's log
    └── UnknownAdapterError         no adapter of that name is installed; lists the known names

`render(followup_row, customer, templates)` turns a follow-up row (a mapping with the columns of
`guanxi.engine.plan.followups.COLUMNS`) into a `Message` without any I/O and without a clock, so
`simulate` can show exactly what would be sent. `send(message)` delivers it, passes the
idempotency key on to the receiver, and returns a `Receipt` or raises one of the errors above.
"""

from __future__ import annotations

import datetime as dt
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import jinja2

from guanxi.engine.i18n import _
from guanxi.engine.ids import same_id
from guanxi.engine.privacy.secrets import mask_secrets
from guanxi.engine.templating import compile_template, event_fields, render, template_fields


class AdapterError(Exception):
    """Base class of everything an adapter raises. Its message goes to the ledger, the
    follow-up's reason and the logs, so URL credentials are masked out of it when it is made."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(mask_secrets(str(message)), *args)


class RetryableError(AdapterError):
    """The send failed for a reason that may pass; the same message may be sent again."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(AdapterError):
    """The send failed for a reason that sending again will not fix."""


class RenderError(PermanentError):
    """A message could not be rendered from its template."""


class OutcomeUnknownError(PermanentError):
    """The whole message reached the receiver, whose answer never came: it may have been
    delivered. Not retried (the customer would get it twice); the reason says where to look."""


class UnknownAdapterError(AdapterError, LookupError):
    """No adapter of the requested name is installed."""


class TemplateText(Protocol):
    """What `render` needs of a template (`guanxi.engine.ruleset.models.Template` has it)."""

    @property
    def subject(self) -> str | None: ...

    @property
    def body(self) -> str: ...


@dataclass(frozen=True)
class Message:
    """One rendered follow-up, ready to send; `key` is its idempotency key."""

    key: str
    customer_id: str
    step_id: str
    kind: str
    channel: str
    recipient: str | None
    subject: str | None
    body: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The message as a JSON object (what the outbox and the webhook carry)."""
        return {
            "key": self.key,
            "customer_id": self.customer_id,
            "step_id": self.step_id,
            "kind": self.kind,
            "channel": self.channel,
            "recipient": self.recipient,
            "subject": self.subject,
            "body": self.body,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Receipt:
    """Proof of one delivery: the key, the adapter's name, the receiver's id when it gives one."""

    key: str
    adapter: str
    external_id: str | None = None
    detail: str = ""


def render_text(source: str, variables: Mapping[str, Any], name: str = "") -> str:
    """Render one template text (of the template `name`) within the limits of
    `guanxi.engine.templating`; a missing variable, bad syntax or a limit passed is a
    `RenderError`."""
    if "{" not in source and "\r" not in source and not source.endswith("\n"):
        return source  # plain text (a fixed subject) renders as itself
    try:
        return render(compile_template(source), variables)
    except jinja2.TemplateError as error:
        if not name:
            raise RenderError(_("template: {problem}").format(problem=error)) from error
        problem = _("template '{name}': {problem}").format(name=name, problem=error)
        raise RenderError(problem) from error


def _readable(text: str) -> bool:
    """Whether `text` shows anything: a character that is neither a space nor invisible."""
    return any(c.isprintable() and not c.isspace() for c in text)


def _empty_message(name: str) -> str:
    return _(
        "template '{name}' gives this customer an empty message (its '{{% if %}}' is false for"
        " them, or the fields it writes are empty): nothing was sent; give the template text"
        " every customer of its step gets, or fill in the customer's fields"
    ).format(name=name)


def _payload(row: Mapping[str, Any]) -> dict[str, Any]:
    payload = row.get("payload") or {}
    if isinstance(payload, str):
        payload = json.loads(payload)
    if not isinstance(payload, Mapping):
        raise RenderError(f"follow-up {row.get('key')}: payload is not a JSON object")
    return dict(payload)


def _due_date(row: Mapping[str, Any]) -> dt.date:
    due = row.get("due_at")
    if isinstance(due, dt.datetime):
        return due.date()
    if isinstance(due, str):
        return dt.datetime.fromisoformat(due).date()
    raise RenderError(f"follow-up {row.get('key')}: no due_at to take 'today' from")


class Adapter(ABC):
    """A delivery channel. Subclasses set `name` and implement `send`; `close` frees resources.

    `address_fields` maps a channel to the customer field holding its address (the
    `address_field` of each channel in policies.yaml); see `address_fields(policies)`.
    """

    name: ClassVar[str]
    concurrent_sends: int = 1
    """How many sends dispatch may run at once on one instance, each on its own thread; 1
    (the default) for an adapter that is not safe to use from several threads."""

    def __init__(self, *, address_fields: Mapping[str, str] | None = None) -> None:
        self.address_fields = dict(address_fields or {})

    @classmethod
    def longest_send(cls, options: Mapping[str, Any]) -> float | None:
        """The longest one send can take, in seconds, with `options` as guanxi.yaml gives
        them (the daemon's lease must outlast it); None when no timeout of the adapter bounds
        it (a file, the store) or it depends on a value read when the daemon starts."""
        return None

    def render(
        self,
        followup_row: Mapping[str, Any],
        customer: Mapping[str, Any],
        templates: Mapping[str, TemplateText],
        *,
        today: dt.date | None = None,
    ) -> Message:
        """Render a follow-up for a customer; pure. `today` defaults to the due date (UTC)."""
        name = str(followup_row.get("template"))
        template = self._template(followup_row, templates)
        variables = self._variables(followup_row, customer, today)
        subject = template.subject
        body = render_text(template.body, variables, name)
        if str(followup_row["kind"]) == "message" and not _readable(body):
            raise RenderError(_empty_message(name))
        return Message(
            key=str(followup_row["key"]),
            customer_id=str(followup_row["customer_id"]),
            step_id=str(followup_row["step_id"]),
            kind=str(followup_row["kind"]),
            channel=str(followup_row["channel"]),
            recipient=self._recipient(str(followup_row["channel"]), customer),
            subject=render_text(subject, variables, name) if subject else None,
            body=body,
            metadata=_metadata(followup_row),
        )

    @classmethod
    def checked_recipient(cls, message: Message, address_fields: Mapping[str, str]) -> str | None:
        """The address `send` hands `message` on to, checked as `send` checks it before
        anything goes out (`address_fields`: channel → customer field, as the adapter is
        given them); PermanentError when `send` would refuse it. `simulate` asks the adapter
        of each channel the same. By default an adapter hands no address on and checks none."""
        return message.recipient

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Deliver `message`, passing its key on. Raises `RetryableError` or `PermanentError`."""

    def close(self) -> None:  # noqa: B027 - adapters without resources need nothing here
        """Release connections and files; the adapter is not used afterwards."""

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _template(row: Mapping[str, Any], templates: Mapping[str, TemplateText]) -> TemplateText:
        name = str(row.get("template"))
        if name not in templates:
            raise RenderError(f"follow-up {row.get('key')}: no template {name!r}")
        return templates[name]

    @staticmethod
    def _variables(
        row: Mapping[str, Any], customer: Mapping[str, Any], today: dt.date | None
    ) -> dict[str, Any]:
        step = {"id": row["step_id"], "kind": row["kind"], "channel": row["channel"]}
        context = template_fields(customer)
        context.update(
            customer=template_fields(customer),
            event=event_fields(_payload(row)),
            step=step,
            today=today or _due_date(row),
        )
        return context

    def _recipient(self, channel: str, customer: Mapping[str, Any]) -> str | None:
        """The channel's address field, read as ids are: a phone or e-mail address typed in
        full width (`１３８…`, `＠`) is its ASCII twin, which gateways and mail servers take,
        and an e-mail address's ideographic full stop (`bank。com`, as a Chinese keyboard
        types it and as loads before such addresses were stored as meant kept it) its dot."""
        field_name = self.address_fields.get(channel)
        value = customer.get(field_name) if field_name else None
        if value is None:
            return None
        read = same_id(str(value))
        if "@" not in read:
            return read or None
        from guanxi.adapters.recipients import typed_email  # recipients imports this module

        return typed_email(read) or None


def seconds_option(options: Mapping[str, Any], name: str, default: float) -> float | None:
    """An option in seconds as written (`default` when absent); None when it is not a
    number yet (`${NAME}`, read when the daemon starts)."""
    value = options.get(name, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    names = ("template", "priority", "owner", "occurrence", "due_at", "ruleset_hash")
    return {name: row[name] for name in names if row.get(name) is not None}


def address_fields(policies: Any) -> dict[str, str]:
    """channel → address field, from a `PoliciesFile` (policies.yaml's `channels`)."""
    channels = getattr(policies, "channels", None) or {}
    return {name: c.address_field for name, c in channels.items() if c.address_field}
