"""The daemon's logs: text for people, JSON lines for log collectors, personal data masked.

Customer identifiers, names, phone numbers, ID-card and bank-card numbers, e-mail addresses and
URL credentials never reach a log line whole (see `guanxi.engine.privacy.personal`): the
fields passed as `extra={…}` are masked by name (`customer_id`, `key`, `customer_name`,
`phone` …), and every text, the message and the exception included, is scanned as well.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from guanxi.engine.privacy.personal import mask_field, mask_id, mask_key, mask_text
from guanxi.engine.unseen import printable

__all__ = ["JsonFormatter", "TextFormatter", "mask_id", "mask_key", "mask_text", "setup_logging"]

LOGGER = "guanxi.daemon"
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _masked_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = {k: v for k, v in vars(record).items() if k not in STANDARD}
    return {k: mask_field(k, v) for k, v in fields.items()}


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
    """`time level message key=value …`, masked the same way, on one line: a line break or
    other control character in the message or a field is written as its escape (`\\n`), so
    no value can start a line that reads as the daemon's own."""

    def format(self, record: logging.LogRecord) -> str:
        time = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # a field without a value (no release, no port) is left out, not written as None
        shown = {k: v for k, v in _masked_fields(record).items() if v is not None}
        fields = " ".join(f"{k}={v}" for k, v in shown.items())
        line = f"{time} {record.levelname.lower():7} {mask_text(record.getMessage())}"
        line = printable(f"{line} {fields}" if fields else line)
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
