"""Options shared by many commands, kept free of engine imports so that `guanxi --help` and
`guanxi validate` start fast."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from guanxi.engine.i18n import _

F = TypeVar("F", bound=Callable[..., Any])


class _RuleFolder(click.Path):
    """A rule project's folder. A file given instead is answered in the user's language:
    click's own message names the kind in the language of import time, before --lang."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if Path(value).is_file():
            message = _(
                "{path} is a file, not a folder: give the rule project's folder"
                " (the one holding guanxi.yaml)"
            )
            self.fail(message.format(path=value), param, ctx)
        return super().convert(value, param, ctx)


RULES_DIR = _RuleFolder(file_okay=False, path_type=Path)

rules_option = click.option(
    "--rules",
    "rules",
    type=RULES_DIR,
    default=None,
    help="Rule project (default: the one the store was last classified with, else this"
    " folder if it holds a guanxi.yaml, else ./rules if it exists, else the shipped default"
    " rules).",
)


class _Id(click.ParamType):
    """An id as guanxi stores it and looks it up: ＣＵＳＴ００１ typed in full width is
    CUST001 (engine/ids.py)."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from guanxi.engine.ids import same_id

        return same_id(value) if isinstance(value, str) else value


ID = _Id()


class _Interval(click.ParamType):
    """How long: `15m`, `2h`, `1d`, `15 minutes`, `15分钟`, `2小时`, `1天`."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from guanxi.engine.timing import TimingError, parse_option_interval

        if not isinstance(value, str):
            return value
        try:
            return parse_option_interval(value)
        except TimingError as error:
            self.fail(f"{error} — {error.hint}", param, ctx)


INTERVAL = _Interval()


def newest_first_limit(default: int) -> Callable[[F], F]:
    """`--limit N` of a listing shown newest first."""
    return click.option(
        "--limit",
        default=default,
        show_default=True,
        type=click.IntRange(min=1),
        help="Show at most this many, newest first.",
    )


encoding_option = click.option(
    "--encoding",
    type=click.Choice(["utf-8", "gb18030", "gbk"], case_sensitive=False),
    default="utf-8",
    show_default=True,
    help="The encoding of a CSV file: gb18030 for one saved by Chinese Excel as 'CSV (逗号分隔)'"
    " or by a core-banking export (gbk: the same; GBK is part of GB18030). JSON Lines are"
    " always UTF-8.",
)
