"""Commands imported on first use, so `guanxi --version` does not load the whole engine.

click's documented LazyGroup pattern: the group knows each command by name as
"module:attribute" and imports the module only when that command runs. `guanxi --help`
would still import every module to read each command's one-line help, so the group keeps
that line beside the name; a test checks it matches the command's own help.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click

from guanxi.cli.widths import short_help
from guanxi.engine.i18n import _


@dataclass(frozen=True)
class Lazy:
    target: str  # "guanxi.cli.plan:plan_command"
    short_help: str  # what `guanxi --help` shows beside the name


class LazyGroup(click.Group):
    """A group whose commands (besides those added directly) are imported when first used."""

    def __init__(self, *args: object, lazy: dict[str, Lazy] | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy: dict[str, Lazy] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(load(self.lazy[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of `--help` without importing the lazy commands."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, short_help(command.get_short_help_str(limit), limit)))
            else:
                rows.append((name, short_help(self.lazy_help(name), limit)))
        if rows:
            with formatter.section(_("Commands")):  # click's own word
                formatter.write_dl(rows)

    def lazy_help(self, name: str) -> str:
        """The one-line help of a command not imported yet (a subclass may translate it)."""
        return self.lazy[name].short_help


def load(entry: Lazy) -> click.Command:
    module_name, _, attribute = entry.target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{entry.target} is not a click command")
    return command
