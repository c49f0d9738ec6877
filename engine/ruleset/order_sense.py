"""Whether a ladder's `order:` (lowest first) reads the wrong way round.

`order:` lists the lowest tier or level first: a move down it is a fall (`on_fall:`), up it
a rise. Written from the highest down, as the tiers themselves are often listed, it silently
swaps falls and rises. The names and labels usually say which end is which (睡眠, 低价值,
基本型 at the bottom; 高附加值, 贵宾, 伙伴型 at the top): when every pair they place is
placed the other way, the order is very likely reversed. Kotler's five relationship levels
and the value tiers have a rank of their own (basic < passive < responsible < proactive <
partner): an order that swaps two of them, even in the middle, is warned with the order to
write. A warning, never an error: a bank's own words may mean otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from guanxi.engine.i18n import _
from guanxi.engine.ids import same_id
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import CompiledRule

# fmt: off
LOW_WORDS = ("低", "睡眠", "沉睡", "休眠", "流失", "基本", "普通", "low", "dormant", "sleep",
             "inactive", "basic", "churn", "lost")
HIGH_WORDS = ("高", "贵宾", "金", "钻", "私人银行", "私行", "伙伴", "战略", "high", "vip",
              "gold", "platinum", "diamond", "partner", "premium", "private", "strategic")
# Ladders whose order the domain gives, lowest first, as (name, Chinese label): Kotler's five
# relationship levels, and the value tiers (an empty account; small, traditional dealings;
# large deposits or turnover; as valuable, plus deep use of many products).
KNOWN_LADDERS = (
    (("basic", "基本型"), ("passive", "被动型"), ("responsible", "负责型"),
     ("proactive", "能动型"), ("partner", "伙伴型")),
    (("dormant", "睡眠客户"), ("low_value", "低价值客户"), ("valuable", "有价值客户"),
     ("high_value_added", "高附加值客户")),
)
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


def warn_if_misordered(
    project: Project, file: str, order: Sequence[str], rules: Sequence[CompiledRule]
) -> None:
    """A warning at an `order:` written from the highest down, else at one that places two
    of a known ladder's names otherwise than the domain does."""
    pair = reversed_pair(order, rules)
    if pair is None:
        _warn_if_against_known(project, file, order, rules)
        return
    top, bottom = (_shown(name, rules) for name in pair)
    project.warn(
        file,
        ("order",),
        "reversed-order",
        _(
            "'order:' lists the lowest first, but here {top} comes before {bottom}: a move"
            " down to {bottom} would count as a rise (on_rise:), not a fall"
        ).format(top=top, bottom=bottom),
        hint=_reversal_hint(order, rules),
    )


def _reversal_hint(order: Sequence[str], rules: Sequence[CompiledRule]) -> str:
    """The order reversed; where reversing still leaves a known ladder's names out of their
    rank (partner first, then basic, passive …), the order they rank in."""
    reverse = list(reversed(order))
    written = known_order(reverse, rules)
    if written == reverse:
        return _("if the list goes from the highest down, reverse it: order: [{names}]").format(
            names=", ".join(reverse)
        )
    return _lowest_first(written)


def order_to_write(order: Sequence[str], rules: Sequence[CompiledRule]) -> list[str]:
    """Every name of the ladder once, lowest first: the names `order` has, as it has them, and
    each left out put where its words say (睡眠 at the bottom, 伙伴 at the top), else just above
    the name below it in the rules, which first-match ladders list from the highest down;
    a known ladder's names (Kotler's levels, the value tiers) as they rank."""
    names = [rule.name for rule in rules]
    written = list(dict.fromkeys(name for name in order if name in names))
    for rule in reversed(rules):
        if rule.name not in written:
            written.insert(_place(written, names, rule), rule.name)
    return known_order(written, rules)


def _place(written: list[str], names: list[str], rule: CompiledRule) -> int:
    rank = rank_word(rule)
    if rank:
        return 0 if rank < 0 else len(written)
    below = [n for n in names[names.index(rule.name) + 1 :] if n in written]
    return written.index(below[0]) + 1 if below else 0


def known_ranks(rules: Sequence[CompiledRule]) -> dict[str, int]:
    """Each rule's place in the known ladder most of `rules` belong to (by name, label or
    English label), when at least two do; {} otherwise."""
    best: dict[str, int] = {}
    for ladder in KNOWN_LADDERS:
        ranks = {rule.name: rank for rule in rules if (rank := _known_rank(rule, ladder)) >= 0}
        best = ranks if len(ranks) > len(best) else best
    return best if len(best) >= 2 else {}


def _known_rank(rule: CompiledRule, ladder: Sequence[tuple[str, str]]) -> int:
    words = {_plain(text) for text in (rule.name, rule.label, rule.label_en or "") if text}
    for rank, (name, label) in enumerate(ladder):
        if words & {name, label, label.removesuffix("客户").removesuffix("型")}:
            return rank
    return -1


def _plain(text: str) -> str:
    """`High value added`, `high-value-added` as `high_value_added`."""
    return "_".join(same_id(text).lower().replace("-", " ").split())


def against_known(order: Sequence[str], rules: Sequence[CompiledRule]) -> tuple[str, str] | None:
    """The first (higher, lower) pair of a known ladder's names that `order` places the
    wrong way round; None when it places them all as the domain does."""
    ranks = known_ranks(rules)
    known = [name for name in order if name in ranks]
    return next(
        ((a, b) for i, a in enumerate(known) for b in known[i + 1 :] if ranks[a] > ranks[b]),
        None,
    )


def known_order(order: Sequence[str], rules: Sequence[CompiledRule]) -> list[str]:
    """`order` with the known ladder's names put in the domain's order, in the places they
    take; other names stay where they are."""
    ranks = known_ranks(rules)
    known = iter(sorted((name for name in order if name in ranks), key=ranks.__getitem__))
    return [next(known) if name in ranks else name for name in order]


def _warn_if_against_known(
    project: Project, file: str, order: Sequence[str], rules: Sequence[CompiledRule]
) -> None:
    pair = against_known(order, rules)
    if pair is None:
        return
    higher, lower = (_shown(name, rules) for name in pair)
    project.warn(
        file,
        ("order", list(order).index(pair[0])),
        "misordered-ladder",
        _(
            "'order:' lists the lowest first, but here {higher} comes before {lower}, which"
            " ranks below it: a fall to {lower} would count as a rise (on_rise:)"
        ).format(higher=higher, lower=lower),
        hint=_lowest_first(known_order(order, rules)),
    )


def _shown(name: str, rules: Sequence[CompiledRule]) -> str:
    """`partner (伙伴型)`: a rule's name with its label, when it has one."""
    label = next((rule.label for rule in rules if rule.name == name), "")
    return f"{name} ({label})" if label else name


def _lowest_first(names: Sequence[str]) -> str:
    return _("write them from the lowest to the highest: order: [{names}]").format(
        names=", ".join(names)
    )
