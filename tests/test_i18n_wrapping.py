"""Which user-facing texts are not yet translated: English literals handed to the calls that
show text to people, found in the syntax tree of engine/, cli/ and adapters/.

Flagged: a string literal or f-string with a word in it, passed to click.echo / echo /
secho, click.ClickException, UsageError, BadParameter, Diagnostic (its message, hint and
expected), the diagnostic builders (`error`, `warn`, `warning`, `_at`), an exception raised
as `raise SomethingError(...)`, or as `message=`, `hint=` or `expected=` to any call.
Wrapping it in `_()` (or marking a constant with `N_()`) clears it. TODO lists the files that
still have such texts; a file leaves the list when its texts are wrapped, and no file may join
it. Texts built by other helpers escape this lint: wrap them too.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
from collections.abc import Iterator
from pathlib import Path

from guanxi.engine.diagnostics import CODES

ROOT = Path(__file__).parent.parent
SHOWING = {"echo", "secho", "ClickException", "UsageError", "BadParameter"}
KEYWORDS = {"message", "hint", "expected"}
BUILDERS = {"error", "warn", "warning", "_at"}
WORD = re.compile(r"[A-Za-z]{2,}")
# Not text to translate: a diagnostic code ('unknown-field') or a rule file's name, which
# stay as they are in every language.
FILE_NAME = re.compile(r"[\w/-]+\.(yaml|csv|xlsx|jsonl)")

TODO: set[str] = set()  # every file's texts are wrapped

# Kept in English on purpose: an adapter's errors become a delivery's last_error, and an
# SMTP, HTTP or AMQP reply is quoted in it; the ledger keeps them as technical detail for
# auditors and support, whatever language the daemon runs in.
EXEMPT = {
    "adapters/amqp.py",
    "adapters/base.py",
    "adapters/console.py",
    "adapters/outbox.py",
    "adapters/recording.py",
    "adapters/registry.py",
    "adapters/rm_tasks.py",
    "adapters/smtp.py",
    "adapters/webhook.py",
}
# Log lines (`log.error("...")`) are for operations: structured, searched and alerted on by
# their English text, like the --json codes. They are not shown to the bank's staff.
LOGGERS = {"log", "logger", "logging"}


def literal(node: ast.expr) -> bool:
    """Is `node` English text written in place (not already passed through `_()`)?"""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if node.value in CODES or FILE_NAME.fullmatch(node.value):
            return False
        return bool(WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(literal(part) for part in node.values)
    if isinstance(node, ast.BinOp):
        return literal(node.left) or literal(node.right)
    return False


def called(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else ""


def shown_texts(node: ast.Call) -> Iterator[ast.expr]:
    name = called(node)
    if logged(node):
        return
    if name in SHOWING:
        yield from node.args[:1]
    if name == "Diagnostic":
        yield from node.args[4:7]
    if name in BUILDERS:
        yield from node.args
    yield from (k.value for k in node.keywords if k.arg in KEYWORDS)


def logged(node: ast.Call) -> bool:
    function = node.func
    return (
        isinstance(function, ast.Attribute)
        and isinstance(function.value, ast.Name)
        and function.value.id in LOGGERS
    )


def untranslated(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    raised = [n.exc for n in ast.walk(tree) if isinstance(n, ast.Raise)]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    texts = [t for c in calls for t in shown_texts(c)]
    texts += [t for e in raised if isinstance(e, ast.Call) for t in raised_texts(e)]
    lines = sorted({t.lineno for t in texts if literal(t)})
    return [f"{path.relative_to(root)}:{line}" for line in lines]


def raised_texts(node: ast.Call) -> Iterator[ast.expr]:
    """A project error's message (builtin errors such as ValueError report a defect)."""
    name = called(node)
    if name.endswith("Error") and not hasattr(builtins, name):
        yield from node.args[:1]


def found_files() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for folder in ("engine", "cli", "adapters"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            places = untranslated(path)
            if places and str(path.relative_to(ROOT)) not in EXEMPT:
                found[str(path.relative_to(ROOT))] = places
    return found


def test_no_file_outside_the_todo_list_shows_untranslated_text() -> None:
    found = found_files()
    assert {f: p for f, p in found.items() if f not in TODO} == {}


def test_a_file_whose_texts_are_all_wrapped_leaves_the_todo_list() -> None:
    assert sorted(TODO - set(found_files())) == []


def test_the_lint_sees_the_calls_it_should(tmp_path: Path) -> None:
    source = """
click.echo(f"created {folder}")
raise click.ClickException("bad")
Diagnostic(f, 1, 2, "code", "no such field", hint=_("did you mean"))
error(at, code, message=f"no {x}")
click.echo(_("created {folder}").format(folder=folder))
click.echo(json.dumps(data))
click.echo("")
raise DurationError(f"'{text}' is not a duration")
warn("bad row")
log.error("new rules not used", extra={"error": str(error)})
"""
    path = tmp_path / "example.py"
    path.write_text(source, encoding="utf-8")
    assert [place.rpartition(":")[2] for place in untranslated(path, tmp_path)] == [
        "2",
        "3",
        "4",
        "5",
        "9",
        "10",
    ]


def shadowing_functions(path: Path) -> Iterator[str]:
    """Functions that call `_()` but also assign `_` (a throwaway `for _ in`, `a, _ = …`):
    there `_` is the local variable, and `_("…")` fails when it runs."""
    pending = [symtable.symtable(path.read_text(encoding="utf-8"), str(path), "exec")]
    while pending:
        table = pending.pop()
        pending += table.get_children()
        if table.get_type() != "function" or "_" not in table.get_identifiers():
            continue
        symbol = table.lookup("_")
        if symbol.is_local() and symbol.is_assigned() and symbol.is_referenced():
            yield f"{path.relative_to(ROOT)}: {table.get_name()}"


def test_no_function_hides_the_translation_function_behind_a_throwaway_name() -> None:
    paths = [p for folder in ("engine", "cli", "adapters") for p in (ROOT / folder).rglob("*.py")]
    translating = [
        p
        for p in paths
        if "import _" in p.read_text(encoding="utf-8") or "N_, _" in p.read_text(encoding="utf-8")
    ]
    assert [place for path in translating for place in shadowing_functions(path)] == []
