"""The CLI in the reader's language: `--lang`, click's own words, and every help text.

Click's words (`Usage:`, `Show this message and exit.`, `No such option`) come from the
stdlib `gettext.gettext` that each click module imported as `_`; the stdlib picks its
language from the environment only, so those names are pointed at our `gettext`, which
follows `--lang` too. Their translations are in our catalog.

Click also words its number types into messages and help ('integer range', `x>=0`): those
words follow the language too (`TypeName`, `described_range`).

Help texts stay English in the cli modules (they are the msgids): `localize` sets each
command's and option's help to its translation from the msgid it keeps, whenever a command
is looked up, so commands registered later (or lazily) are translated as well.
"""

from __future__ import annotations

import gettext as stdlib_gettext
import inspect
import re
import sys
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import click

from guanxi.cli.widths import bind_columns
from guanxi.engine.i18n import (
    LANGUAGES,
    N_,
    Language,
    _,
    current_language,
    detect_language,
    gettext,
    language,
    ngettext,
)

# Click words it translates by value (`_(extra["required"])`), so extraction cannot see them
CLICK_WORDS = (N_("required"),)
LANG_HELP = "Language of messages: zh (中文) or en (default: GUANXI_LANG, else the locale)."


class TypeName:
    """A click number type's name as click words it ('{value} is not a valid integer
    range', the metavar INTEGER RANGE): the English one, else its translation."""

    def __init__(self, english: str, msgid: str) -> None:
        self.english = english
        self.msgid = msgid

    def __get__(self, instance: object, owner: type | None = None) -> str:
        return self.english if current_language() == "en" else _(self.msgid)


TYPE_NAMES: dict[type[click.ParamType], str] = {
    click.types.IntParamType: N_("whole number"),
    click.types.IntRange: N_("whole number"),
    click.types.FloatParamType: N_("number"),
    click.types.FloatRange: N_("number"),
}
ENGLISH_RANGE = click.types._NumberRangeBase._describe_range


def described_range(self: Any) -> str:
    """A number range as words (`at least 0`, `from 1 to 366`) where click writes `x>=0`."""
    if current_language() == "en" or self.min_open or self.max_open:
        return str(ENGLISH_RANGE(self))
    if self.max is None:
        return _("at least {lowest}").format(lowest=self.min)
    if self.min is None:
        return _("at most {highest}").format(highest=self.max)
    return _("from {lowest} to {highest}").format(lowest=self.min, highest=self.max)


def bind_click_types() -> None:
    for kind, msgid in TYPE_NAMES.items():
        english = kind.__dict__["name"]
        if not isinstance(english, TypeName):
            kind.name = TypeName(english, msgid)  # type: ignore[assignment]
    click.types._NumberRangeBase._describe_range = described_range  # type: ignore[method-assign]


def bind_click() -> None:
    """Click's messages through our catalog (see the module docstring), its help measured
    in terminal columns (widths.py)."""
    bind_click_types()
    bind_columns()
    for name, module in list(sys.modules.items()):
        if name != "click" and not name.startswith("click."):
            continue
        if getattr(module, "_", None) is stdlib_gettext.gettext:
            module._ = gettext  # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is stdlib_gettext.ngettext:
            module.ngettext = ngettext  # type: ignore[attr-defined]


def requested_language(args: Sequence[str]) -> str | None:
    """The value of `--lang` among the command-line arguments, if given (read before click
    parses them, so that usage errors and --help are in that language too)."""
    for index, arg in enumerate(args):
        if arg == "--" or not arg.startswith("-"):
            return None  # the group's options end where the command begins
        if arg == "--lang" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
    return None


def choose_language(args: Sequence[str]) -> Language:
    return detect_language(requested_language(args))


def help_msgid(text: str) -> str:
    """A help text as click shows it (cleaned indentation, up to a form feed): the msgid."""
    return inspect.cleandoc(text).partition("\f")[0]


def short_help_msgid(command: click.Command) -> str | None:
    """The command's one-line help: its short_help, else the first sentence of its help."""
    if command.short_help:
        return help_msgid(command.short_help)
    if not command.help:
        return None
    return first_sentence(command.help)


def first_sentence(help_text: str) -> str:
    first = help_msgid(help_text).split("\n\n")[0]
    sentence = re.split(r"(?<=\.)\s", " ".join(first.split()), maxsplit=1)[0]
    return sentence.removesuffix(".")


def texts(command: click.Command) -> Iterator[tuple[object, str, str]]:
    """(owner, attribute, msgid) for every help text of `command` (not its subcommands)."""
    if command.help:
        yield command, "help", help_msgid(command.help)
    short = short_help_msgid(command)
    if short:
        yield command, "short_help", short
    if command.epilog:
        yield command, "epilog", help_msgid(command.epilog)
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            yield param, "help", help_msgid(text)


def localize(command: click.Command) -> None:
    """Set the help texts of `command` and its subcommands to the current language."""
    english = current_language() == "en"
    for owner, attribute, original, msgid in texts_kept(command):
        setattr(owner, attribute, original if english else _(msgid))
    if getattr(command, "_help_option", None) is not None:
        command._help_option = None  # click keeps its --help option, worded once: word it anew
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            localize(sub)


_KEPT: weakref.WeakKeyDictionary[click.Command, list[tuple[object, str, str | None, str]]]
_KEPT = weakref.WeakKeyDictionary()


def texts_kept(command: click.Command) -> list[tuple[object, str, str | None, str]]:
    """`texts` with each attribute's original value, read once and then kept."""
    if command not in _KEPT:
        _KEPT[command] = [(o, a, getattr(o, a), m) for o, a, m in texts(command)]
    return _KEPT[command]


lang_option = click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=None,
    expose_value=False,
    is_eager=True,
    help=LANG_HELP,
)


class LocalizedGroup(click.Group):
    """A group that speaks the language chosen for the invocation, help texts included."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = kwargs.setdefault("context_settings", {})
        settings.setdefault("help_option_names", ["-h", "--help"])
        super().__init__(*args, **kwargs)

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        bind_click()
        chosen = choose_language(sys.argv[1:] if args is None else args)
        try:
            with language(chosen):
                localize(self)
                return super().main(args, *rest, **kwargs)
        finally:
            localize(self)  # back to the language outside this invocation

    def lazy_help(self, name: str) -> str:
        """A lazily imported command's line in `--help`, translated as its own short help
        would be (the same msgid), without importing it."""
        english = super().lazy_help(name)  # type: ignore[misc]
        return english if current_language() == "en" else _(first_sentence(english))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            localize(command)
        return command
