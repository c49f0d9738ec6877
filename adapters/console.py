"""Print one line per message: for trying a rule project out and for the demo."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from guanxi.adapters.base import Adapter, Message, Receipt, RetryableError


class ConsoleAdapter(Adapter):
    """Writes `key  channel  recipient  subject | body` to `stream` (standard output by default)."""

    name = "console"

    def __init__(
        self, stream: TextIO | None = None, *, address_fields: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.stream = stream if stream is not None else sys.stdout

    def send(self, message: Message) -> Receipt:
        try:
            self.stream.write(_line(message) + "\n")
            self.stream.flush()
        except OSError as error:
            raise RetryableError(f"console: {error}") from error
        return Receipt(message.key, self.name)


def _line(message: Message) -> str:
    text = f"{message.subject} | {message.body}" if message.subject else message.body
    fields = (message.key, message.channel, message.recipient or "-", text)
    return "\t".join(" ".join(str(f).split()) for f in fields)
