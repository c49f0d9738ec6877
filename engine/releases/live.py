"""The rules a daemon in `rules: {mode: releases}` runs: the live release's files, written
once to a folder of the cache named by their rule-set hash, and loaded from there. Every
daemon sharing the store runs the same files, whatever the rule project's folder holds."""

from __future__ import annotations

from pathlib import Path

from guanxi.engine.errors import ReleaseError
from guanxi.engine.i18n import _
from guanxi.engine.releases.files import materialise, read_files, same_files
from guanxi.engine.releases.ledger import Release, files_of, live
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store.base import Store


def live_ruleset(store: Store, cache: Path) -> tuple[Release, RuleSet]:
    """The live release and its rules; ReleaseError when none is live."""
    release = live(store)
    if release is None:
        message = _(
            "guanxi.yaml says '{setting}', but no release is live in the store: propose one"
            " (guanxi release propose DIR) and have another person approve it"
            " (guanxi release approve ID)"
        )
        raise ReleaseError(message.format(setting="rules: {mode: releases}"))
    return release, released_ruleset(store, release, cache)


def released_ruleset(store: Store, release: Release, cache: Path) -> RuleSet:
    """The rules of `release`, from its files in `cache`."""
    folder = materialise(files_of(store, release.id), cache, release.hash)
    result = validate_project(folder)
    if result.ruleset is None:
        errors = sum(1 for d in result.diagnostics if d.severity == "error")
        message = _(
            "release {id} does not validate with this version of guanxi ({count} error(s),"
            " guanxi validate {folder}): roll it back or propose a fix"
        )
        raise ReleaseError(message.format(id=release.id, count=errors, folder=folder))
    return result.ruleset


def unreleased(folder: Path, store: Store, release: Release) -> bool:
    """Whether the rule project at `folder` differs from the files of `release`."""
    try:
        return not same_files(read_files(folder), files_of(store, release.id))
    except ReleaseError:  # a file that cannot be read is a change too
        return True
