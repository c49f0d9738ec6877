"""Amounts of memory written in guanxi.yaml and on the command line: '3GB', '512 MB', '4g'.

Full-width digits and letters (３ＧＢ, typed on a Chinese keyboard) read as their ASCII twins.
The result is DuckDB's own spelling ('3GB'), so it can be handed to `SET memory_limit`.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from guanxi.engine.i18n import _

UNITS = {"m": "MB", "mb": "MB", "mib": "MiB", "g": "GB", "gb": "GB", "gib": "GiB"}
UNIT_MB = {"MB": 1, "MiB": 1.048576, "GB": 1000, "GiB": 1073.741824}
SMALLEST_MB = 100  # below this DuckDB cannot classify even a small snapshot
LARGEST_MB = 16_000_000  # 16 TB: anything larger is a typing mistake


class SizeError(ValueError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def parse_memory(text: str) -> str:
    """'3GB' for '3 GB', '3g', '３ＧＢ'; SizeError when it is not an amount of memory
    from 100 MB to 16 TB."""
    plain = unicodedata.normalize("NFKC", str(text)).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]+)", plain)
    unit = UNITS.get(match[2]) if match else None
    if match is None or unit is None:
        raise SizeError(
            _("'{text}' is not an amount of memory").format(text=text),
            hint=_("write a number and MB or GB, e.g. '6GB'"),
        )
    amount = float(match[1])
    if not SMALLEST_MB <= amount * UNIT_MB[unit] <= LARGEST_MB:
        raise SizeError(
            _("'{text}' is outside 100 MB to 16 TB").format(text=text),
            hint=_("give the snapshot engine at least '1GB'; '3GB' is the default"),
        )
    return f"{match[1]}{unit}"


def doubled(memory: str) -> str:
    """Twice an amount `parse_memory` returned: '6GB' for '3GB'."""
    match = re.fullmatch(r"([\d.]+)(\D+)", memory)
    assert match is not None, memory
    twice = Decimal(match[1]) * 2
    return f"{twice.normalize():f}{match[2]}"
