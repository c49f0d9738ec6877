"""Diagnostics: what is wrong, where, and what would fix it, for people who are not programmers.

Every problem found in a rule project becomes one `Diagnostic`, printed as

    rules/playbooks.yaml:14:22: error[unknown-field]: no customer field 'balanse'
      14 |     when: balanse >= 100000 AND products_held >= 3
         |           ^^^^^^^
      hint: did you mean 'balance'?

The codes are stable slugs; `CODES` documents each one for business users. The words
around them (`error`, `hint:`) and the descriptions are shown in the chosen language; the
codes, and the keys of `--json`, stay English.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from guanxi.engine.i18n import N_, _

Severity = Literal["error", "warning"]
MAX_MESSAGE = 200  # characters of a message or hint; longer ones end in '…'
MAX_EXPECTED = 300  # characters of an `expected:` list
MAX_SHOWN = 120  # characters of the offending source line shown around the caret
MAX_SUMMARY = 10  # diagnostics in one log line

CODES: dict[str, str] = {
    "yaml-syntax": N_(
        "The file is not valid YAML (a missing colon, an unclosed quote, bad indent)."
    ),
    "yaml-tab": N_("A tab character is used for indentation; YAML allows spaces only."),
    "full-width": N_("Full-width punctuation (，：（）‘’ ＞＝ １２３ …) where ASCII is needed."),
    "duplicate-key": N_(
        "The same key appears twice in one block; the second would hide the first."
    ),
    "not-utf8": N_(
        "The file is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8 (Excel: 'CSV UTF-8')."
    ),
    "gbk-file": N_(
        "Warning: the file is saved as GBK/GB18030 (Excel's 'CSV (逗号分隔)', Notepad's"
        " 'ANSI'); it is read as GB18030. Save it as UTF-8 to remove the warning."
    ),
    "empty-file": N_("The file has no content."),
    "file-too-large": N_("The file is larger than a rule file can be (YAML 1 MB, CSV/JSONL 5 MB)."),
    "missing-file": N_("A file the rule project needs is not there."),
    "ignored-file": N_(
        "Warning: a YAML file guanxi does not read for its name (policies.yml, 长沙分行.yaml.txt)."
    ),
    "outside-project": N_("A file name leads out of the rule project (absolute, '..', a link)."),
    "not-a-file": N_("A name in the rule project is a folder, device or pipe, not a file."),
    "too-deep": N_("Blocks and lists in a YAML file are nested more than 50 deep."),
    "too-many-aliases": N_("YAML aliases (*name) repeat more than 10,000 values in one file."),
    "number-out-of-range": N_("A number is too long, not finite, or beyond 10^15 in a condition."),
    "number-format": N_(
        "A number is written as conditions cannot read it: 500,000, 5万万, 万 alone."
    ),
    "unknown-key": N_("A key that this file does not know; often a typing mistake."),
    "missing-key": N_("A required key is not given."),
    "wrong-type": N_("A value has the wrong kind (text where a number is expected, and so on)."),
    "invalid-value": N_("A value is not one of the allowed ones."),
    "duplicate-name": N_("Two rules, steps, fields or templates share one name."),
    "condition-syntax": N_("A condition cannot be read as an expression."),
    "unknown-field": N_("A condition or table names a customer field the schema does not declare."),
    "unknown-function": N_("A condition calls a function that is not on the allowed list."),
    "forbidden-construct": N_(
        "A condition uses SQL that is not allowed (subquery, statement, ';')."
    ),
    "type-mismatch": N_("A condition compares or combines values of different kinds."),
    "null-comparison": N_(
        "A condition compares or calculates with NULL (= NULL, <> NULL, IN (…, NULL)): that is"
        " never true, so the rule would match no one; test with IS NULL or IS NOT NULL."
    ),
    "like-wildcard": N_(
        "A LIKE pattern uses Excel's * or ?; LIKE's wildcards are % (any text) and _ (one"
        " character)."
    ),
    "chinese-word": N_(
        "A Chinese word (且, 或, 大于, 不为空 …) where a condition needs its operator"
        " (AND, OR, >, IS NOT NULL …)."
    ),
    "not-a-condition": N_("A `when:` expression does not give true or false."),
    "empty-condition": N_("A `when:`, `unless:` or `expr:` is given but empty; TRUE matches all."),
    "too-complex": N_("A condition is nested or chained too deeply; split it or use IN (…)."),
    "unknown-level": N_("A playbook or scenario names a relationship level that is not defined."),
    "unknown-tier": N_(
        "A name is no defined tier or level (on_enter/on_leave: nor a strategy, nor gold)."
    ),
    "ambiguous-name": N_(
        "A step's on_enter/on_leave names a state that is both a tier and a level (or strategy)."
    ),
    "unknown-channel": N_("A step or policy names a channel that is not defined."),
    "unknown-template": N_("A step names a message or task template that is not defined."),
    "invalid-goal": N_("A step's `goal:` names none or more than one of event, tier, level."),
    "goal-without-comparison": N_(
        "A step has a `goal:` but no `holdout:` and fewer than two `variants:` to compare."
    ),
    "single-variant": N_("`variants:` lists one template: there is nothing to compare."),
    "unknown-event": N_(
        "A step, scenario or measure names an event type the schema does not declare."
    ),
    "unknown-step": N_("A scenario or a branch overlay names a playbook step that is not defined."),
    "unknown-strategy": N_("A scenario expects a strategy that is not defined."),
    "no-capacity": N_("A branch overlay sets `capacity:` but policies.yaml has none to change."),
    "unknown-value": N_(
        "A text compared with a tier, level, strategy, channel or a field with `values:` is not"
        " one of them (a label is answered with the name to write)."
    ),
    "template-syntax": N_("A template cannot be read (an unclosed {{ or {% block)."),
    "template-limit": N_("A template is too long or never ends (65,536 characters, 10,000 steps)."),
    "template-variable": N_("A template uses a variable that no customer field or event provides."),
    "template-placeholder": N_(
        "Warning: a template holds placeholder text (……, ..., XX, TODO, 待补充) that would be"
        " sent as it stands."
    ),
    "template-event-field": N_(
        "Warning: a template reads an event field that the step's event may lack (not"
        " required in schema.yaml), does not have, or a step that follows no event."
    ),
    "invalid-duration": N_("A duration is not of the form '3 business days', '2 hours', …"),
    "invalid-time": N_("A time of day is not of the form '09:30'."),
    "reversed-order": N_(
        "Warning: a ladder's 'order:' is lowest first, but the names and labels say it goes"
        " from the highest down: falls would count as rises. Reverse it."
    ),
    "misordered-ladder": N_(
        "Warning: a ladder's 'order:' places two of Kotler's relationship levels or of the"
        " value tiers otherwise than they rank: a fall between them would count as a rise."
    ),
    "quiet-hours-by-day": N_(
        "Warning: the quiet hours hold all through the working day, so messages go out at night."
    ),
    "invalid-retention": N_(
        "A retention window in guanxi.yaml is not of the form '400 days', '18 months' or"
        " '3 years', is 0, or is longer than a century."
    ),
    "retention-too-short": N_(
        "A retention window in guanxi.yaml would remove records the rules still read: the"
        " events of a measure's `in_last`, the messages a frequency cap counts."
    ),
    "invalid-memory": N_(
        "guanxi.yaml's snapshot_memory is not an amount of memory from 100 MB to 16 TB, such as"
        " '6GB'."
    ),
    "invalid-cron": N_(
        "A schedule is neither a period (day, week, month, quarter) nor valid cron."
    ),
    "unknown-timezone": N_("The time zone is not a known IANA name such as 'Asia/Shanghai'."),
    "unknown-calendar": N_("The business calendar is not a known country code such as 'CN'."),
    "invalid-trigger": N_(
        "A step needs exactly one trigger: on, every, on_enter, on_leave, on_fall or on_rise."
    ),
    "invalid-order": N_("A ladder's `order:` must list each of its names once, lowest first."),
    "missing-order": N_("A step uses on_fall/on_rise on a ladder that has no `order:`."),
    "unknown-adapter": N_("guanxi.yaml's delivery names an adapter that is not installed."),
    "lease-too-short": N_(
        "Warning: guanxi.yaml's daemon lease is shorter than a send may take: a message could"
        " go twice."
    ),
    "unknown-option": N_("An adapter is given an option it does not take; often a typing mistake."),
    "missing-option": N_("An adapter needs an option that is not given (a webhook's url, …)."),
    "invalid-hold": N_(
        "A ladder's `hold:` is not a number of runs from 1 to 100, such as '2 runs'."
    ),
    "decision-table": N_("A decision table (CSV or Excel) has a malformed header or cell."),
    "no-catch-all": N_("Warning: some customers may match no rule in this list."),
    "shadowed-rule": N_("Warning: this rule can never match, an earlier rule catches everything."),
    "overlapping-rows": N_(
        "Warning: two rows of a 'unique' decision table can match one customer."
    ),
    "unused-template": N_("Warning: a template that no playbook step uses."),
    "unread-at": N_(
        "Warning: a step's `at:` beside a cron expression of another time: the expression"
        " says the time, and the step runs then, not at the `at:`."
    ),
    "unread-day": N_(
        "Warning: a step's `day:` that nothing reads (`every: day`, a cron expression, or a"
        " step with no `every:`): the step runs as if it were not there."
    ),
    "percent-scale": N_(
        "Warning: a percentage written as a fraction (top_percent: 0.05 is 0.05 %, not 5 %)."
    ),
    "unreachable-rule": N_("Warning: no customer the schema allows can match this rule or step."),
    "never-true-part": N_(
        "Warning: one alternative of an OR in a condition can never be true; the others decide."
    ),
    "catches-no-customer": N_(
        "Warning (--store): a rule, table row, step or branch overlay no customer reaches."
    ),
    "catches-every-customer": N_("Warning (--store): a rule with a condition gets every customer."),
    "value-held-by-nobody": N_(
        "Warning (--store): a condition or table cell compares a text field that lists no"
        " `values:` with a text no customer in the store holds (公务元 for 公务员): the"
        " customers it was meant for are silently left out."
    ),
    "group-emptied": N_(
        "Warning (classify, simulate): a tier, level or strategy that held customers at the"
        " last classification holds none now."
    ),
    "group-shrinks": N_(
        "Warning (classify, simulate): a tier, level or strategy kept at most one in ten of the"
        " customers it held at the last classification."
    ),
    "group-swallows": N_(
        "Warning (classify, simulate): one tier, level or strategy now holds more than 90 % of"
        " the customers, where it held less than half at the last classification."
    ),
}


SEVERITY_WORDS: dict[Severity, str] = {"error": N_("error"), "warning": N_("warning")}


def describe(code: str) -> str:
    """What the diagnostic `code` means, in the current language."""
    return _(CODES[code])


def nothing_changed(folder: object, errors: int) -> str:
    """The last line of a rule project with errors."""
    return _("{folder}: {count} error(s); nothing was changed").format(folder=folder, count=errors)


@dataclass(frozen=True)
class Diagnostic:
    """One problem at one place. `line` and `col` are 1-based; `length` is the caret width."""

    file: str
    line: int
    col: int
    code: str
    message: str
    hint: str | None = None
    expected: str | None = None
    severity: Severity = "error"
    length: int = 1

    def __post_init__(self) -> None:
        """Messages quote the user's text; keep each quote short and free of control
        characters, whatever file it came from (a log line stays readable and small)."""
        limits = (("message", MAX_MESSAGE), ("hint", MAX_MESSAGE), ("expected", MAX_EXPECTED))
        for name, limit in limits:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, excerpt(value, limit))

    def headline(self) -> str:
        severity = _(SEVERITY_WORDS[self.severity])
        return f"{self.file}:{self.line}:{self.col}: {severity}[{self.code}]: {self.message}"

    def render(self, source_line: str | None) -> str:
        """The headline, the offending line with a caret under the column, then hints."""
        lines = [self.headline()]
        if source_line is not None:
            number = str(self.line)
            text, col = _window(source_line.rstrip("\r\n"), self.col)
            width = max(1, min(self.length, len(text) - col + 1))
            lines.append(f"  {number} | {text}")
            pad, marks = display_width(text[: col - 1]), display_width(text[col - 1 :][:width])
            lines.append(f"  {' ' * len(number)} | {' ' * pad}{'^' * max(marks, 1)}")
        if self.expected:
            lines.append("  " + _("expected:") + " " + self.expected)
        if self.hint:
            lines.append("  " + _("hint:") + " " + self.hint)
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        del data["length"]
        return data


def display_width(text: str) -> int:
    """Terminal columns `text` takes: a Chinese character or full-width sign takes two, so
    the caret stands under the text it points at on a line with Chinese in it."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _shown(char: str) -> str:
    if char.isprintable() or char == "\u3000":
        return char
    return " " if char == "\t" else "?"


def excerpt(text: str, limit: int) -> str:
    """`text` with control characters shown as '?' (an ideographic space is shown as it is),
    cut to `limit` characters with '…'."""
    clean = "".join(_shown(c) for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _window(line: str, col: int) -> tuple[str, int]:
    """At most MAX_SHOWN characters of `line` around column `col`, and the column in them."""
    start = max(0, min(col - 1 - MAX_SHOWN // 3, len(line) - MAX_SHOWN))
    shown = excerpt(line[start:], MAX_SHOWN)
    return ("…" + shown[1:], col - start) if start else (shown, col)


def summary(diagnostics: Sequence[Diagnostic], lines: Mapping[str, Sequence[str]]) -> str:
    """The first MAX_SUMMARY diagnostics rendered, and how many more there are: bounded,
    for a log line."""
    shown = [d.render(_source_line(lines, d)) for d in diagnostics[:MAX_SUMMARY]]
    more = len(diagnostics) - MAX_SUMMARY
    if more > 0:
        shown.append(_("… and {count} more; 'guanxi validate' lists them all").format(count=more))
    return "\n".join(shown)


def _source_line(lines: Mapping[str, Sequence[str]], diagnostic: Diagnostic) -> str | None:
    source = lines.get(diagnostic.file, ())
    return source[diagnostic.line - 1] if 0 < diagnostic.line <= len(source) else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None when nothing is close."""
    options = list(choices)
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in options}
        matches = [lowered[m] for m in difflib.get_close_matches(word.lower(), lowered, n=1)]
    return _("did you mean '{name}'?").format(name=matches[0]) if matches else None


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file, d.line, d.col, d.code)


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.as_json() for d in diagnostics], ensure_ascii=False, indent=2)
