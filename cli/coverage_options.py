"""`--store`, `--against` and `--now` of `guanxi validate` and `guanxi rules` (see
cli/coverage.py), kept free of engine imports so that those commands start fast."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from guanxi.cli.options import RULES_DIR
from guanxi.engine.i18n import _


@dataclass(frozen=True)
class CoverageRequest:
    """The options: the store to count in (None: no counting), the project to set beside."""

    store: str | None
    against: Path | None
    now_text: str | None


def coverage_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--store, --against and --now, handed to the command as one `coverage` argument."""

    @functools.wraps(command)
    def wrapper(
        *args: Any, store: str | None, against: Path | None, now_text: str | None, **kw: Any
    ) -> Any:
        if against is not None and store is None:
            raise click.UsageError(_("--against needs --store: the customers to count in"))
        return command(*args, coverage=CoverageRequest(store, against, now_text), **kw)

    options = (
        click.option(
            "--store",
            "store",
            default=None,
            help="Count the customers each rule and step catches in this store (read only).",
        ),
        click.option(
            "--against",
            "against",
            type=RULES_DIR,
            default=None,
            metavar="PROJECT",
            help="With --store: the same counts for another rule project, side by side.",
        ),
        click.option(
            "--now",
            "now_text",
            default=None,
            metavar="ISO",
            help="With --store: count as of this time (conditions on dates); default now.",
        ),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
