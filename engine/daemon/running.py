"""The rule set a daemon runs: the store prepared for it, its adapters started, and how it
dispatches. The daemon starts one at its start and one for each reload (reload.py)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guanxi.engine.clock import Clock
from guanxi.engine.daemon.delivery import Adapters, build_adapters
from guanxi.engine.daemon.tick import DispatchSettings
from guanxi.engine.dispatch.dispatch import Backoff
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store
from guanxi.engine.timing import parse_interval


@dataclass
class Running:
    """One rule set in use: its adapters and how it dispatches."""

    ruleset: RuleSet
    adapters: Adapters
    dispatch: DispatchSettings
    tick_every: dt.timedelta
    reload_every: dt.timedelta


def dispatch_settings(ruleset: RuleSet, worker: str | None = None) -> DispatchSettings:
    daemon = ruleset.settings.daemon
    backoff = Backoff(parse_interval(daemon.retry_after), parse_interval(daemon.retry_cap))
    return DispatchSettings(
        limit=daemon.batch,
        lease=parse_interval(daemon.lease),
        max_attempts=daemon.max_attempts,
        backoff=backoff,
        worker=worker,
    )


def worker_name() -> str:
    """This process as the deliveries ledger names its dispatcher: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Starter:
    """Starts rule sets for one daemon: its store, clock and name, and where its adapters
    write (`folder`, `overrides`: see `Daemon`)."""

    store: Store
    clock: Clock
    folder: Path
    overrides: Mapping[str, Mapping[str, Any]]
    worker: str

    def __call__(self, ruleset: RuleSet) -> Running:
        """`ruleset` ready to run; raises what preparing the store or an adapter raises."""
        self.store.prepare(ruleset.schema)
        adapters = build_adapters(ruleset, self.store, self.folder, self.overrides, self.clock)
        daemon = ruleset.settings.daemon
        return Running(
            ruleset,
            adapters,
            dispatch_settings(ruleset, self.worker),
            parse_interval(daemon.tick_every),
            parse_interval(daemon.reload_every),
        )
