"""`guanxi validate --fix`: write the repairs of full-width punctuation into the files.

Exactly the reported characters change; comments, layout, line endings, a byte-order mark
and full-width text where it belongs (labels, template texts) stay as they are. Before that,
what no rule file should be is repaired too (resave.py): a file saved as UTF-16 or GBK/GB18030
is saved as UTF-8, and tabs a YAML file is indented with become spaces.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from guanxi.engine.encoding import BOM, decode
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.files import locate
from guanxi.engine.ruleset.fullwidth import Replacement, apply
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.ruleset.reading import shown_path
from guanxi.engine.ruleset.resave import resave_unreadable

MAX_ROUNDS = 5  # a file that could not be read before a repair may have more to repair


def fix_project(folder: Path | str) -> str:
    """Repair the rule project in `folder` in place; a unified diff of what changed."""
    root = Path(folder)
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    notes = []
    for resaved in resave_unreadable(root):
        notes.append(resaved.note(shown_path(str(folder).rstrip("/") or ".", resaved.name)))
        if resaved.old != resaved.new:
            before.setdefault(resaved.name, resaved.old)
            after[resaved.name] = resaved.new
    for _round in range(MAX_ROUNDS):
        repairs = validate_project(root).repairs
        if not repairs:
            break
        for name, found in repairs.items():
            old, new = _rewrite(locate(root, name), found)
            before.setdefault(name, old)
            after[name] = new
    shown = str(folder).rstrip("/") or "."
    diffs = "".join(_diff(shown_path(shown, n), before[n], after[n]) for n in sorted(after))
    return "".join(notes) + diffs


def _rewrite(path: Path, found: list[Replacement]) -> tuple[str, str]:
    """Apply the repairs to the file, written back in the encoding it was read in."""
    raw = path.read_bytes()
    decoded = decode(raw)
    bom = BOM.encode(decoded.encoding)
    bom = bom if raw.startswith(bom) else b""
    repaired = apply(decoded.text, found)
    path.write_bytes(bom + repaired.encode(decoded.encoding))
    return decoded.text, repaired


def _diff(shown: str, old: str, new: str) -> str:
    before = _("{file} (before)").format(file=shown)
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), before, shown, lineterm="")
    return "".join(f"{line}\n" for line in lines)
