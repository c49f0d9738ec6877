"""Whether a ladder's `order:` (lowest first) reads the wrong way round.

`order:` lists the lowest tier or level first: a move down it is a fall (`on_fall:`), up it
a rise. Written from the highest down, as the tiers themselves are often listed, it silently
swaps falls and rises. The names and labels usually say which end is which (睡眠, 低价值,
基本型 at the bottom; 高附加值, 贵宾, 伙伴型 at the top): when every pair they place is
placed the other way, the order is very likely reversed. A warning, never an error: a bank's
own words may mean otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from guanxi.engine.i18n import _
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import CompiledRule

# fmt: off
LOW_WORDS = ("低", "睡眠", "沉睡", "休眠", "流失", "基本", "普通", "low", "dormant", "sleep",
             "inactive", "basic", "churn", "lost")
HIGH_WORDS = ("高", "贵宾", "金", "钻", "私人银行", "私行", "伙伴", "战略", "high", "vip",
              "gold", "platinum", "diamond", "partner", "premium", "private", "strategic")
# fmt: on


def rank_word(rule: CompiledRule) -> int:
    """-1 when the rule's words say bottom, 1 top, 0 when they say neither or both."""
    words = " ".join([rule.name, rule.label, rule.label_en or ""]).lower()
    low = any(word in words for word in LOW_WORDS)
    high = any(word in words for word in HIGH_WORDS)
    return int(high) - int(low)


def reversed_pair(order: Sequence[str], rules: Sequence[CompiledRule]) -> tuple[str, str] | None:
    """A (top, bottom) pair the order places the wrong way, when no pair is placed the right
    way; None otherwise."""
    by_name = {rule.name: rank_word(rule) for rule in rules}
    ranks = [(name, by_name.get(name, 0)) for name in order]
    marked = [(name, rank) for name, rank in ranks if rank]
    wrong = [(a, b) for i, (a, ra) in enumerate(marked) for b, rb in marked[i + 1 :] if ra > rb]
    right = any(ra < rb for i, (_a, ra) in enumerate(marked) for _b, rb in marked[i + 1 :])
    return wrong[0] if wrong and not right else None


def warn_if_reversed(
    project: Project, file: str, order: Sequence[str], rules: Sequence[CompiledRule]
) -> None:
    pair = reversed_pair(order, rules)
    if pair is None:
        return
    labels = {rule.name: rule.label for rule in rules}
    top, bottom = (f"{name} ({labels[name]})" if labels.get(name) else name for name in pair)
    project.warn(
        file,
        ("order",),
        "reversed-order",
        _(
            "'order:' lists the lowest first, but here {top} comes before {bottom}: a move"
            " down to {bottom} would count as a rise (on_rise:), not a fall"
        ).format(top=top, bottom=bottom),
        hint=_("if the list goes from the highest down, reverse it: order: [{names}]").format(
            names=", ".join(reversed(order))
        ),
    )


def order_to_write(order: Sequence[str], rules: Sequence[CompiledRule]) -> list[str]:
    """Every name of the ladder once, lowest first: the names `order` has, as it has them, and
    each left out put where its words say (睡眠 at the bottom, 伙伴 at the top), else just above
    the name below it in the rules, which first-match ladders list from the highest down."""
    names = [rule.name for rule in rules]
    written = list(dict.fromkeys(name for name in order if name in names))
    for rule in reversed(rules):
        if rule.name not in written:
            written.insert(_place(written, names, rule), rule.name)
    return written


def _place(written: list[str], names: list[str], rule: CompiledRule) -> int:
    rank = rank_word(rule)
    if rank:
        return 0 if rank < 0 else len(written)
    below = [n for n in names[names.index(rule.name) + 1 :] if n in written]
    return written.index(below[0]) + 1 if below else 0
