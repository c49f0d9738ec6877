"""Options shared by many commands, kept free of engine imports so that `guanxi --help` and
`guanxi validate` start fast."""

from __future__ import annotations

from pathlib import Path

import click

RULES_DIR = click.Path(file_okay=False, path_type=Path)

rules_option = click.option(
    "--rules",
    "rules",
    type=RULES_DIR,
    default=None,
    help="Rule project (default: the one the store was last classified with, else ./rules"
    " if it exists, else the shipped default rules).",
)
