"""Checks of guanxi.yaml's `daemon:` and `delivery:` sections.

An adapter is checked against what is installed (the entry-point group `guanxi.adapters`) and
its options against its constructor, so `uri:` for `url:` is found by `guanxi validate`, not by
the daemon at three in the morning. Values are not resolved here: `${SMS_TOKEN}` is read from
the environment when the daemon starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection

from guanxi.adapters.base import UnknownAdapterError
from guanxi.adapters.registry import adapter_class, adapter_names
from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.lease import check_lease
from guanxi.engine.ruleset.models import AdapterSpec, Settings
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.source import PathKey
from guanxi.engine.timing import TimingError, parse_interval

FILE = "guanxi.yaml"
# Given by the daemon, not by the rule project: the store, the channels' address fields, its
# clock, and a default file next to the store for adapters that write one.
INJECTED = frozenset({"store", "address_fields", "clock", "path"})
INTERVALS = ("tick_every", "lease", "retry_after", "retry_cap", "reload_every")


def check_daemon(project: Project, settings: Settings) -> None:
    for name in INTERVALS:
        try:
            parse_interval(getattr(settings.daemon, name))
        except TimingError as error:
            project.error(FILE, ("daemon", name), "invalid-duration", str(error), hint=error.hint)


def check_delivery(project: Project, settings: Settings, channels: Collection[str] | None) -> None:
    """Every adapter installed and given options it takes; every channel named is defined
    (`channels` is None when policies.yaml could not be read)."""
    delivery = settings.delivery
    _check_spec(project, ("delivery", "default"), delivery.default)
    for channel, spec in delivery.channels.items():
        where: tuple[PathKey, ...] = ("delivery", "channels", channel)
        if channels is not None and channel not in channels:
            project.error(
                FILE,
                where,
                "unknown-channel",
                _("no channel '{channel}' in policies.yaml").format(channel=channel),
                hint=did_you_mean(channel, channels)
                or _("channels: {names}").format(names=", ".join(sorted(channels))),
            )
        _check_spec(project, where, spec)
    check_lease(project, settings)


def _check_spec(project: Project, where: tuple[PathKey, ...], spec: AdapterSpec) -> None:
    try:
        cls = adapter_class(spec.adapter)
    except UnknownAdapterError:
        names = adapter_names()
        project.error(
            FILE,
            (*where, "adapter") if _is_mapping(project, where) else where,
            "unknown-adapter",
            _("no adapter '{adapter}' is installed").format(adapter=spec.adapter),
            hint=did_you_mean(spec.adapter, names)
            or _("installed: {names}").format(names=", ".join(names)),
        )
        return
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    takes = [n for n in parameters if n != "self" and n not in INJECTED]
    for option in spec.options:
        if option not in takes:
            project.error(
                FILE,
                (*where, option),
                "unknown-option",
                _("the {adapter} adapter has no option '{option}'").format(
                    adapter=spec.adapter, option=option
                ),
                hint=did_you_mean(option, takes)
                or _("options: {names}").format(names=", ".join(takes) or _("none")),
            )
    for name in takes:
        if parameters[name].default is inspect.Parameter.empty and name not in spec.options:
            project.error(
                FILE,
                where,
                "missing-option",
                _("the {adapter} adapter needs the option '{name}'").format(
                    adapter=spec.adapter, name=name
                ),
                hint=_("write it as {example}").format(
                    example=f"{{adapter: {spec.adapter}, {name}: …}}"
                ),
            )


def _is_mapping(project: Project, where: tuple[PathKey, ...]) -> bool:
    return isinstance(project.sources[FILE].value(where), dict)
