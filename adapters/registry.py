"""Adapters are found by name through the entry-point group `guanxi.adapters`.

A bank adds its own channel without forking: a distribution declares

    [project.entry-points."guanxi.adapters"]
    core_banking = "bank_adapters.core:CoreBankingAdapter"

and `load_adapter("core_banking", **options)` constructs it.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from guanxi.adapters.base import Adapter, UnknownAdapterError
from guanxi.engine.diagnostics import did_you_mean

GROUP = "guanxi.adapters"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def adapter_names() -> list[str]:
    """The names of every installed adapter, sorted."""
    return sorted(_entry_points())


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered under `name`; `UnknownAdapterError` lists the known ones."""
    found = _entry_points()
    if name not in found:
        raise UnknownAdapterError(_unknown(name, sorted(found)))
    cls = found[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise UnknownAdapterError(f"adapter {name!r} ({found[name].value}) is not an Adapter")
    return cls


def load_adapter(name: str, **options: Any) -> Adapter:
    """Construct the adapter registered under `name` with its options."""
    return adapter_class(name)(**options)


def _unknown(name: str, known: list[str]) -> str:
    message = f"unknown adapter {name!r}; known adapters: {', '.join(known) or '(none)'}"
    hint = did_you_mean(name, known)
    return f"{message}; {hint}" if hint else message
