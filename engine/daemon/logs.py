"""The daemon's logs: text for people, JSON lines for log collectors, personal data masked.

Customer identifiers, phone numbers, e-mail addresses and ID-card numbers never reach a log
line whole (个人信息保护法: logs are read by more people than the store). Identifiers passed as
`extra={"customer_id": …}` or `extra={"key": …}` are masked by field; any text is scanned for
phone numbers, e-mail addresses and ID-card numbers as well.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any, TextIO

LOGGER = "guanxi.daemon"
PHONE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
ID_CARD = re.compile(r"(?<!\d)(\d{4})\d{10}(\d{3}[\dXx])(?!\d)")
FIELDS = ("customer_id", "key", "rm", "ruleset", "error", "diagnostics")
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_id(value: str) -> str:
    """C000123456 → C0…56: enough to tell two customers apart in one incident, no more."""
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[:2]}…{value[-2:]}"


def mask_key(key: str) -> str:
    """step:customer:occurrence with the customer masked."""
    parts = key.split(":", 2)
    if len(parts) < 3:
        return mask_id(key)
    return f"{parts[0]}:{mask_id(parts[1])}:{parts[2]}"


def mask_text(text: str) -> str:
    text = PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)
    text = ID_CARD.sub(r"\1**********\2", text)
    return EMAIL.sub(r"\1***\2", text)


def _masked_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = {k: v for k, v in vars(record).items() if k not in STANDARD}
    if "customer_id" in fields:
        fields["customer_id"] = mask_id(str(fields["customer_id"]))
    if "key" in fields:
        fields["key"] = mask_key(str(fields["key"]))
    return {k: mask_text(v) if isinstance(v, str) else v for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "message": mask_text(record.getMessage()),
            **_masked_fields(record),
        }
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level message key=value …`, masked the same way."""

    def format(self, record: logging.LogRecord) -> str:
        time = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = " ".join(f"{k}={v}" for k, v in _masked_fields(record).items())
        line = f"{time} {record.levelname.lower():7} {mask_text(record.getMessage())}"
        line = f"{line} {fields}" if fields else line
        if record.exc_info:
            line += "\n" + mask_text(self.formatException(record.exc_info))
        return line


def setup_logging(json_lines: bool, level: str = "info", stream: TextIO | None = None) -> None:
    """Send the daemon's logs (and the engine's) to `stream` (stderr) in the chosen form."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger("guanxi")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # the amqp adapter reports its errors
