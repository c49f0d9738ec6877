"""Hot reload: the daemon's `reload` job, and the check that stops a batch for new rules.

A valid edit is swapped in whole (new rule-set hash, adapters and schedules); an invalid one
is logged with its diagnostics and the last good rule set stays. Whether other rules wait
(`rules_wait`) is asked before each dispatch pass and right before each send: a stat of the
rule files, or one indexed query for the live release. Rules that changed are validated and
started there, once per change, so only rules that will be swapped in stop anything. Then
the batch in flight sends nothing more: what it sent is recorded, its other claims are given
back (pending, no attempt counted; the log says how many), the tick claims no further batch
and reloads, and the next tick claims them again under the new rules. A lowered cap, widened
quiet hours or a withdrawn step thus hold from the send after they are seen, not from the
end of a batch of hundreds on a slow channel.

With `rules: {mode: releases}` (a `cache` folder given) the daemon runs the live release of
the store instead (engine/releases): edits to the folder are not used, only said once in the
log; a newly approved release (or a rollback) is swapped in the same way at the next check.

Rules that should run but cannot (an edit with errors, a live release that does not load or
whose adapters cannot start, no release live) leave the daemon on the rules it runs, and
failing (job `reload`) in `guanxi health` and /healthz until rules are taken again.

`Reloader` keeps what this needs between checks: the rule files as last looked at, the
release in use and the one refused, and the rules readied to be swapped in. Swapping them
in (the rules in use, the schedules) is the daemon's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from guanxi.engine.daemon.health import Metrics, described
from guanxi.engine.daemon.running import Running
from guanxi.engine.diagnostics import Diagnostic, summary
from guanxi.engine.errors import ReleaseError
from guanxi.engine.i18n import _, ngettext
from guanxi.engine.releases.ledger import Release, live, live_id
from guanxi.engine.releases.live import released_ruleset, unreleased
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store.base import Store

log = logging.getLogger("guanxi.daemon")
RELOAD = "reload"  # the failing job while the rules that should run cannot be used
RULE_FILES = (".yaml", ".yml", ".csv")

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint:
    """Name, size and modification time of every rule file of the project."""
    return _prints(folder, _walk(folder)[1])


def _prints(folder: Path, files: list[Path]) -> Fingerprint:
    found = []
    for path in files:
        stat = path.stat()
        found.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """The project's folders (itself included) and rule files, hidden ones left out."""
    folders, files = [folder], []
    for path in sorted(folder.rglob("*")):
        if any(p.startswith((".", "__")) for p in path.relative_to(folder).parts):
            continue
        if path.is_dir():
            folders.append(path)
        elif path.suffix in RULE_FILES and path.is_file():
            files.append(path)
    return folders, files


class FolderWatch:
    """The rule files' fingerprint, asked before every send: walking the folder costs about
    half a millisecond, as much as a send, so it is walked again only when a stat of what the
    last walk saw moved (a file edited in place; a folder's time, when a file in it is added,
    removed or replaced by an editor's rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stamps: dict[Path, tuple[int, int] | None] = {}
        self._last: Fingerprint = ()

    def fingerprint(self) -> Fingerprint:
        if self._stamps and not self._moved():
            return self._last
        folders, files = _walk(self.folder)
        # stamped before the files are read: a change while they are is seen next time
        self._stamps = {path: _stamp(path) for path in (*folders, *files)}
        self._last = _prints(self.folder, files)
        return self._last

    def _moved(self) -> bool:
        return any(_stamp(path) != stamp for path, stamp in self._stamps.items())


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:  # removed since
        return None
    return stat.st_mtime_ns, stat.st_size


@dataclass
class Ready:
    """Rules validated and started, waiting to be swapped in once the batch in flight has
    stopped; in releases mode, with the release they come from."""

    running: Running
    release: Release | None = None


def release_id(release: Release | None) -> int | None:
    return release.id if release else None


class Reloader:
    """Finds and readies the rules to swap in for the rule project at `rules`, or in releases
    mode (`cache`: the folder releases' files are written to) for the live release of `store`.

    `in_use` gives the rules the daemon runs now, `start` starts a rule set (raising when it
    cannot), `release` is the release in use at the start."""

    def __init__(
        self,
        rules: Path,
        store: Store,
        metrics: Metrics,
        *,
        in_use: Callable[[], RuleSet],
        start: Callable[[RuleSet], Running],
        release: Release | None,
        cache: Path | None,
    ) -> None:
        self.rules, self.store, self.metrics = rules, store, metrics
        self.in_use, self.start = in_use, start
        self.release, self.cache = release, cache
        self._refused: int | None = None  # a release that would not load: logged once
        self._ready: Ready | None = None  # rules to swap in once the tick has stopped
        # in releases mode the first check compares the folder with the release
        self._watch = FolderWatch(rules)
        self._fingerprint: Fingerprint = () if cache else self._watch.fingerprint()

    def changed(self) -> bool:
        """Whether the rules to take may differ from those last looked at: the rule project's
        files changed since, or (releases mode) the live release is neither the one in use
        (or ready to be) nor one refused. Cheap: the files' sizes and times, or one query."""
        if self.cache is None:
            return self._watch.fingerprint() != self._fingerprint
        release = live_id(self.store)
        if release is None:  # none live: what was ready is not to be taken
            return self._ready is not None
        looked_at = self._ready.release if self._ready else self.release
        return release not in (release_id(looked_at), self._refused)

    def waiting(self) -> bool:
        """Whether other rules are ready to be swapped in; rules that changed are validated
        and started here, once per change, so that a batch stops only for rules that will be
        taken; those that cannot be are said (log, health) and the rules in use go on."""
        if self.changed():
            self._look()
        return self._ready is not None

    def take(self) -> Ready | None:
        """The rules to swap in now, if they changed and are valid; the daemon then puts them
        in place and says so (`taken`)."""
        if self._ready is None or self.changed():
            self._look()
        ready, self._ready = self._ready, None
        return ready

    def taken(self, ready: Ready, previous: RuleSet) -> None:
        """`ready` runs now, in place of `previous`."""
        self.metrics.reloaded("ok", ready.running.ruleset.hash)
        self.metrics.job_done(RELOAD)
        log.info(
            "rules reloaded",
            extra={"ruleset": ready.running.ruleset.hash, "previous": previous.hash},
        )
        if ready.release is not None:
            self._adopt(ready.release)

    def drop_ready(self) -> None:
        """Close the adapters of rules readied but not taken."""
        if self._ready is not None:
            self._ready.running.adapters.close()
            self._ready = None

    def _look(self) -> None:
        """Look afresh at the rules to take: ready them when they differ from those in use."""
        self.drop_ready()
        if self.cache is not None:
            self._ready = self._release_ready(self.cache)
        else:
            self._ready = self._folder_ready()

    # --- the rule project ---------------------------------------------------------------

    def _folder_ready(self) -> Ready | None:
        """The edited rule project, started; None when unchanged, invalid (logged) or the same
        rules as those in use."""
        current = self._watch.fingerprint()
        if current == self._fingerprint:
            return None
        self._fingerprint = current
        result = validate_project(self.rules)
        if result.ruleset is None:
            self._reject(result.diagnostics, result.lines)
            return None
        if result.ruleset.hash == self.in_use().hash:
            self.metrics.job_done(RELOAD)  # the broken edit was undone
            return None
        running = self._start(result.ruleset)
        return None if running is None else Ready(running)

    def _reject(self, diagnostics: list[Diagnostic], lines: dict[str, list[str]]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        shown = summary(errors, lines)  # bounded: a hostile project cannot flood the log
        problem = ngettext(
            "the rule project has {count} error (guanxi validate {folder})",
            "the rule project has {count} errors (guanxi validate {folder})",
            len(errors),
        )
        self._rejected(problem.format(count=len(errors), folder=self.rules))
        log.error(
            "rule project has errors; still using the last good rules",
            extra={"ruleset": self.in_use().hash, "errors": len(errors), "diagnostics": shown},
        )

    # --- releases mode ------------------------------------------------------------------

    def _release_ready(self, cache: Path) -> Ready | None:
        """The live release, started; None when it is the one in use, is refused, or has the
        rules in use (then it is taken at once: nothing to swap)."""
        self._note_unreleased_edits()
        release = live(self.store)
        if release is None:
            if self.release is not None:
                self._refuse(_("no release is live in the store"))
            return None
        if release.id == release_id(self.release):
            self.metrics.job_done(RELOAD)  # still live, or live again
            return None
        ruleset = self._released(release, cache) if release.id != self._refused else None
        if ruleset is None:
            return None
        if ruleset.hash == self.in_use().hash:
            self._adopt(release)
            return None
        running = self._start(ruleset)
        if running is None:
            self._refused = release.id
            return None
        return Ready(running, release)

    def _released(self, release: Release, cache: Path) -> RuleSet | None:
        """The rules of `release`; None (refused: logged once, failing in health) when they
        do not load."""
        try:
            return released_ruleset(self.store, release, cache)
        except ReleaseError as error:
            self._refused = release.id
            log.error("release not used", extra={"release": release.id, "error": str(error)})
            problem = _("release {id} is live but cannot be used: {error}")
            self._rejected(problem.format(id=release.id, error=error))
            return None

    def _adopt(self, release: Release) -> None:
        self.release = release
        self.metrics.job_done(RELOAD)
        log.info("release is live", extra={"release": release.id, "ruleset": release.hash})

    def _note_unreleased_edits(self) -> None:
        """Say once, each time the folder changes, that its edits are not released."""
        current = self._watch.fingerprint()
        if current == self._fingerprint or self.release is None:
            return
        self._fingerprint = current
        if unreleased(self.rules, self.store, self.release):
            log.warning(
                "the rule project has changes that are not released; they are not used until"
                " another person approves a release of them",
                extra={"folder": str(self.rules), "release": self.release.id},
            )

    # --- rules that cannot be used ------------------------------------------------------

    def _start(self, ruleset: RuleSet) -> Running | None:
        """`ruleset` started beside the rules in use; None (logged, failing in health) when
        it cannot start (a new adapter that cannot), and the old rules stay."""
        try:
            return self.start(ruleset)
        except Exception as error:
            log.error("new rules not used", extra={"ruleset": ruleset.hash, "error": str(error)})
            problem = _("the new rules cannot start: {error}").format(error=described(error))
            self._rejected(problem)
            return None

    def _rejected(self, problem: str) -> None:
        """Rules found were rejected: counted, and failing in health."""
        self.metrics.reloaded("rejected")
        self._refuse(problem)

    def _refuse(self, problem: str) -> None:
        """The rules that should run cannot be used: failing (job `reload`), with the rules
        that still run, until a reload takes rules."""
        if self.release is not None:
            running = _("the daemon still runs release {id}").format(id=self.release.id)
        else:
            running = _("the daemon still runs the last good rules")
        self.metrics.job_failed(RELOAD, _("{problem}; {running}").format(
            problem=problem, running=running
        ))  # fmt: skip
