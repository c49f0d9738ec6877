"""The adapters of a rule set: guanxi.yaml's `delivery:` turned into one adapter per channel.

    delivery:
      default: outbox                         # every channel not listed below
      channels:
        rm_task: rm_tasks
        sms: {adapter: webhook, url: "https://sms.example/send",
              headers: {Authorization: "Bearer ${SMS_TOKEN}"}}

Channels with the same adapter and options share one instance (one connection pool, one file).
The daemon gives what the rule project cannot: the store (`store`), the channels' address
fields (`address_fields`), its clock (`clock`) and, for adapters that write a file, a `path`
next to the store.
A relative `path` is taken from the store's folder; `${NAME}` is read from the environment.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from guanxi.adapters.base import Adapter, AdapterError, address_fields
from guanxi.adapters.registry import adapter_class
from guanxi.engine.clock import Clock
from guanxi.engine.errors import DeliveryError
from guanxi.engine.i18n import _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.followups import PREFERRED
from guanxi.engine.ruleset.variables import resolved_options
from guanxi.engine.store.base import Store


def channels_of(store: Store, ruleset: RuleSet) -> set[str]:
    """Every channel a follow-up may have: declared, used by a step, or already planned."""
    names: set[str] = set()
    if ruleset.policies is not None:
        names.update(ruleset.policies.channels or {})
    names.update(s.step.channel for s in ruleset.steps if s.step.channel)
    names.update(r["channel"] for r in store.execute("SELECT DISTINCT channel FROM followups"))
    names.discard(PREFERRED)
    return names


class Adapters(Mapping[str, Adapter]):
    """channel → adapter for one rule set; `close()` closes each instance once."""

    def __init__(self, by_channel: dict[str, Adapter], stack: ExitStack) -> None:
        self._by_channel = by_channel
        self._stack = stack

    def __getitem__(self, channel: str) -> Adapter:
        return self._by_channel[channel]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_channel)

    def __len__(self) -> int:
        return len(self._by_channel)

    def close(self) -> None:
        self._stack.close()

    def files(self) -> list[Path]:
        """The files these adapters write (an adapter's `path`): where `--outbox` or a
        bank's own adapter's options put them, which guanxi.yaml alone may not tell."""
        paths = (getattr(adapter, "path", None) for adapter in self._by_channel.values())
        return list(dict.fromkeys(Path(p) for p in paths if isinstance(p, str | Path)))


def build_adapters(
    ruleset: RuleSet,
    store: Store,
    folder: Path,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    clock: Clock | None = None,
) -> Adapters:
    """One adapter per channel of the rule set; `folder` is where files go by default;
    `overrides` maps an adapter name to options that replace the configured ones
    (`--outbox PATH` is `{"outbox": {"path": PATH}}`)."""
    delivery = ruleset.settings.delivery
    fields = address_fields(ruleset.policies)
    built: dict[str, Adapter] = {}
    by_channel: dict[str, Adapter] = {}
    with ExitStack() as stack:
        for channel in sorted(channels_of(store, ruleset)):
            spec = delivery.channels.get(channel, delivery.default)
            options = {**resolved_options(spec, channel), **(overrides or {}).get(spec.adapter, {})}
            identity = json.dumps([spec.adapter, options], sort_keys=True, default=str)
            if identity not in built:
                given = {"store": store, "address_fields": fields, "folder": folder, "clock": clock}
                adapter = _construct(spec.adapter, options, given, channel)
                built[identity] = stack.enter_context(adapter)
            by_channel[channel] = built[identity]
        return Adapters(by_channel, stack.pop_all())


def _construct(name: str, options: dict[str, Any], given: dict[str, Any], channel: str) -> Adapter:
    """The adapter with its options and what the daemon gives: the store, the address
    fields, the clock (`clock.now`), and a default `path` in the store's folder."""
    try:
        cls = adapter_class(name)
        takes = inspect.signature(cls.__init__).parameters
        arguments = dict(options)
        if "store" in takes:
            arguments["store"] = given["store"]
        if "address_fields" in takes:
            arguments["address_fields"] = given["address_fields"]
        if "clock" in takes and given["clock"] is not None:
            arguments["clock"] = given["clock"].now
        if "path" in takes:
            arguments["path"] = given["folder"] / Path(str(arguments.get("path", f"{name}.jsonl")))
        return cls(**arguments)
    except (AdapterError, TypeError, ValueError, OSError) as error:
        raise DeliveryError(
            _("the {adapter} adapter of channel '{channel}': {error}").format(
                adapter=name, channel=channel, error=error
            )
        ) from error
