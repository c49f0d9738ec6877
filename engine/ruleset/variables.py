"""`${NAME}` in the options of guanxi.yaml's `delivery:`, read from the environment: the
daemon resolves them to start its adapters, erasure and retention to find the files those
adapters write (an outbox `path: ${OUTBOX_DIR}/outbox.jsonl`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from guanxi.engine.errors import DeliveryError
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.models import AdapterSpec

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolved_options(spec: AdapterSpec, channel: str) -> dict[str, Any]:
    """The spec's options with `${NAME}` replaced from the environment; DeliveryError names
    the channel and the variable when one is not set."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            return VARIABLE.sub(lambda m: _environment(m.group(1), channel), value)
        if isinstance(value, Mapping):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return {name: resolve(value) for name, value in spec.options.items()}


def _environment(name: str, channel: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise DeliveryError(
            _(
                "channel '{channel}': the environment variable {name} is not set"
                " (guanxi.yaml delivery refers to it as {reference})"
            ).format(channel=channel, name=name, reference="${" + name + "}")
        )
    return value
