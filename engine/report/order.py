"""The pyramid: tiers and levels from the most valuable down, so a move can be called up or
down. Rule files list rules in the order they are tried (dormant first, say), which is not
the order of value; the report orders by the mean contribution of the customers in each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def pyramid(ladder: Sequence[str], means: Mapping[str | None, float | None]) -> list[str | None]:
    """Highest mean first; names without a mean follow in rule-file order; unclassified last."""
    names = list(dict.fromkeys([*ladder, *(n for n in means if n is not None)]))
    position = {name: index for index, name in enumerate(names)}

    def key(name: str) -> tuple[bool, float, int]:
        value = means.get(name)
        return (value is None, -(value or 0.0), position[name])

    ranked: list[str | None] = [*sorted(names, key=key)]
    return [*ranked, None] if None in means else ranked
