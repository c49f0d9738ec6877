"""The rule project to use: given, remembered by the store, found here (this folder or
./rules), or shipped."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from guanxi.engine.defaults import default_rules_path
from guanxi.engine.encoding import NotText, decode
from guanxi.engine.errors import StoreError
from guanxi.engine.i18n import N_, _
from guanxi.engine.store.base import is_postgresql

if TYPE_CHECKING:
    from guanxi.engine.store import Store

MEMORY_MIGRATION = "m013_runs_rules"


@dataclass(frozen=True)
class Remembered:
    """The rule project of a store's latest classification run."""

    folder: Path
    ruleset_hash: str
    run_id: int


@dataclass(frozen=True)
class Choice:
    """The folder chosen, why (None: it was given), the store that remembered it (where
    the command should look, whatever the project's `store:` says), and what went wrong
    with the folder the store remembers (gone), if anything."""

    folder: Path
    why: str | None
    remembered: Remembered | None = None
    store: str | None = None
    problem: str | None = None

    def note(self, here: Path) -> str | None:
        """One line for standard error, unless the folder was given."""
        if self.why is None:
            return None
        return _("rules: {folder} ({why})").format(folder=shown(self.folder, here), why=_(self.why))

    def changed(self, ruleset_hash: str) -> str | None:
        """What to say when the remembered project's rules changed since its run."""
        known = self.remembered
        if known is None or self.folder != known.folder or known.ruleset_hash == ruleset_hash:
            return None
        return _(
            "the rules in {folder} changed since the store's classification run"
            " {run} (rule set {then}, now {now}): run 'guanxi classify' to classify with them"
        ).format(folder=self.folder, run=known.run_id, then=known.ruleset_hash, now=ruleset_hash)


def remembered(store: Store) -> Remembered | None:
    """The project of the store's latest classification run that recorded one."""
    if MEMORY_MIGRATION in store.pending_migrations():
        return None
    rows = store.execute(
        "SELECT id, ruleset_hash, rules FROM classification_runs WHERE rules IS NOT NULL"
        " ORDER BY id DESC LIMIT 1"
    )
    if not rows:
        return None
    row = rows[0]
    return Remembered(Path(row["rules"]), str(row["ruleset_hash"]), int(row["id"]))


def choose_project(given: Path | None, location: str | None, here: Path) -> Choice:
    """The rule project for a command run in `here` with --rules `given` and --store
    `location` (None: not given; the store is then the one the local project names)."""
    if given is not None:
        return Choice(given, None)
    fallback = _found_here(here) or Choice(default_rules_path(), N_("the shipped default rules"))
    location = location or store_setting(here / fallback.folder)
    known = _recalled(location if "://" in location else str(here / location))
    if known is None:
        return fallback
    if not known.folder.is_dir():
        problem = _(
            "the store was classified with the rules in {folder}, which are gone;"
            " using {fallback} instead"
        ).format(folder=known.folder, fallback=shown(fallback.folder, here))
        return Choice(fallback.folder, fallback.why, known, location, problem)
    return Choice(known.folder, N_("remembered by the store"), known, location)


def _found_here(here: Path) -> Choice | None:
    """The project that is `here` itself (made by `guanxi init`, then entered with cd: its
    edits must not be passed over for the shipped rules), else ./rules."""
    if (here / "guanxi.yaml").is_file():
        return Choice(Path("."), N_("found in this folder"))
    if (here / "rules").is_dir():
        return Choice(Path("rules"), N_("found in this folder"))
    return None


def _recalled(location: str) -> Remembered | None:
    """The store's project; None when there is no store, or it cannot be read now (the
    command that opens it then says why)."""
    from guanxi.engine.store import open_store, store_exists  # not on `validate`'s path

    try:
        if not store_exists(location):
            return None
        store = open_store(location, migrate=False)
        try:
            return remembered(store)
        finally:
            store.close()
    except (StoreError, sqlite3.Error):
        return None
    except Exception as error:  # psycopg's errors, without importing it for a SQLite store
        if is_postgresql(location) and type(error).__module__.startswith("psycopg"):
            return None
        raise


def store_setting(folder: Path) -> str:
    """The project's `store:` setting as guanxi.yaml gives it, read without validating it
    (validation comes after the choice) but in UTF-8 or GB18030 as validation reads it; the
    default when it cannot be read."""
    try:
        settings = YAML(typ="safe").load(decode((folder / "guanxi.yaml").read_bytes()).text)
    except (OSError, NotText, YAMLError):
        return "guanxi.db"
    value = settings.get("store") if isinstance(settings, dict) else None
    return value if isinstance(value, str) and value else "guanxi.db"


def shown(folder: Path, here: Path) -> str:
    """A folder as the user would type it: ./rules under `here`, else as it is."""
    try:
        relative = folder.resolve().relative_to(here.resolve())
    except ValueError:
        return str(folder)
    return f"./{relative}" if str(relative) != "." else "."
