"""Whether the servers guanxi.yaml's `delivery:` sends to answer: a TCP connection to the
SMTP host, the webhook URL's host, the AMQP broker, within a short timeout. Nothing is sent.
Every `${NAME}` an adapter's options name must be set, as the daemon needs them to start."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from guanxi.engine.doctor.checks import DELIVERY, Check
from guanxi.engine.errors import DeliveryError
from guanxi.engine.i18n import _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import AdapterSpec
from guanxi.engine.ruleset.variables import resolved_options

LOCAL = {"outbox", "rm_tasks", "console", "recording"}  # write locally: nothing to reach
DEFAULT_PORTS = {"http": 80, "https": 443, "amqp": 5672, "amqps": 5671}


def delivery_checks(ruleset: RuleSet, timeout: float) -> list[Check]:
    """One check per adapter configured, the default first."""
    delivery = ruleset.settings.delivery
    specs = {"default": delivery.default, **delivery.channels}
    return [_check(name, spec, timeout) for name, spec in specs.items()]


def _check(channel: str, spec: AdapterSpec, timeout: float) -> Check:
    name = DELIVERY + channel
    try:  # the daemon would not start: a header's or password's variable counts too
        resolved_options(spec, channel)
    except DeliveryError as error:
        return Check(name, "fail", f"{spec.adapter}: {error}")
    if spec.adapter in LOCAL:
        return Check(name, "ok", _("{adapter}: writes locally").format(adapter=spec.adapter))
    try:
        host, port = target(spec)
    except ValueError as error:
        return Check(name, "fail", f"{spec.adapter}: {error}")
    problem = unreachable(host, port, timeout)
    where = f"{spec.adapter} {host}:{port}"
    if problem:
        detail = _("{where} does not answer ({problem})").format(where=where, problem=problem)
        return Check(name, "fail", detail)
    return Check(name, "ok", _("{where} answers").format(where=where))


def target(spec: AdapterSpec) -> tuple[str, int]:
    """The host and port an adapter connects to. Raises ValueError saying what is missing."""
    options = spec.options
    if spec.adapter == "smtp":
        return str(_expanded(options.get("host", "localhost"))), int(options.get("port", 25))
    key = "url" if "url" in options or spec.adapter != "amqp" else None
    url = _expanded(str(options.get(key, "amqp://localhost"))) if key else "amqp://localhost"
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(_("'{url}' has no host").format(url=url))
    return parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 80)


def _expanded(text: str) -> str:
    """`${NAME}` from the environment. Raises ValueError when it is not set."""
    expanded = os.path.expandvars(text)
    if "${" in expanded:
        raise ValueError(_("an environment variable in '{text}' is not set").format(text=text))
    return expanded


def unreachable(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection to host:port fails within `timeout` seconds; None: it worked."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return _("no answer within {seconds} s").format(seconds=f"{timeout:g}")
    except OSError as error:
        return error.strerror or str(error)
