"""Options shared by many commands, kept free of engine imports so that `guanxi --help` and
`guanxi validate` start fast."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
RULES_DIR = click.Path(file_okay=False, path_type=Path)

rules_option = click.option(
    "--rules",
    "rules",
    type=RULES_DIR,
    default=None,
    help="Rule project (default: the one the store was last classified with, else ./rules"
    " if it exists, else the shipped default rules).",
)


def newest_first_limit(default: int) -> Callable[[F], F]:
    """`--limit N` of a listing shown newest first."""
    return click.option(
        "--limit",
        default=default,
        show_default=True,
        type=click.IntRange(min=1),
        help="Show at most this many, newest first.",
    )
