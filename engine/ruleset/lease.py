"""Does the daemon's lease outlast the longest send?

Dispatch starts no send once LEASE_USED of a claim's lease has passed, so a send started just
before then has the rest of the lease to end in. One that can take longer (a webhook's
timeout, an SMTP server's per exchange) may end after the lease, when another daemon may
claim the message again and send it a second time. So the lease must be at least the
longest send divided by the share left: 50 seconds for the webhook's 10-second timeout.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from guanxi.adapters.base import UnknownAdapterError
from guanxi.adapters.registry import adapter_class
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.models import AdapterSpec, Settings
from guanxi.engine.ruleset.project import Project
from guanxi.engine.timing import TimingError, parse_interval

FILE = "guanxi.yaml"
LEASE_USED = 0.8  # of a claim's lease, after which dispatch starts no send of it


def check_lease(project: Project, settings: Settings) -> None:
    """A warning at `daemon.lease` for each adapter whose longest send it does not outlast
    (a warning: with a receiver on the same machine a short lease can be meant)."""
    try:
        lease = parse_interval(settings.daemon.lease).total_seconds()
    except TimingError:
        return  # said by the check of the daemon's intervals
    for where, spec in _specs(settings):
        longest = _longest_send(spec)
        needed = None if longest is None else round(longest / (1 - LEASE_USED), 3)
        if needed is None or lease >= needed:
            continue
        project.warn(
            FILE,
            ("daemon", "lease"),
            "lease-too-short",
            _(
                "a lease of {lease} is too short for the {adapter} adapter of {where}: a send"
                " may take {longest}, so one started at {start}, the latest start, may end"
                " after the lease and go twice"
            ).format(
                lease=settings.daemon.lease,
                adapter=spec.adapter,
                where=where,
                longest=_seconds(longest),
                start=_seconds(lease * LEASE_USED),
            ),
            hint=_("make the lease at least '{needed}', or lower the adapter's timeout").format(
                needed=_seconds(needed)
            ),
        )


def _specs(settings: Settings) -> Iterator[tuple[str, AdapterSpec]]:
    yield "delivery.default", settings.delivery.default
    for channel, spec in settings.delivery.channels.items():
        yield _("channel '{channel}'").format(channel=channel), spec


def _longest_send(spec: AdapterSpec) -> float | None:
    try:
        return adapter_class(spec.adapter).longest_send(spec.options)
    except UnknownAdapterError:
        return None  # said by the check of the delivery


def _seconds(seconds: float | None) -> str:
    """An interval as guanxi.yaml writes it."""
    return f"{math.ceil(seconds or 0)} seconds"
