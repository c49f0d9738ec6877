"""The bidirectional controls (marks, embeddings, overrides, isolates): invisible characters
that reorder the text shown around them, so that a customer's name holding one can make an
amount or a link in a message, or a line on the terminal, read differently from what it is.
Defined once here: `load` refuses them in text, templates drop them from the values they write,
and the console shows them escaped."""

from __future__ import annotations

import re

# As the inside of a character class, to combine with other characters.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
BIDI = re.compile(f"[{BIDI_CONTROLS}]")
