"""A ladder's `order:` is lowest first: written from the highest down it would swap falls and
rises silently, so the names and labels that say which end is which give a warning at it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.ruleset.order_sense import against_known, known_order, reversed_pair
from guanxi.engine.ruleset.ruleset import CompiledRule, Origin

RULES = Path(__file__).parent.parent / "rules"
TIERS = "order: [dormant, low_value, valuable, high_value_added]"
LEVELS = "order: [basic, passive, responsible, proactive, partner]"


def project(tmp_path: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return folder


def reversed_warnings(folder: Path) -> list[tuple[str, int, int, str]]:
    found = validate_project(folder)
    assert found.ruleset is not None  # a warning: the project still loads
    return [
        (Path(d.file).name, d.line, d.col, d.message)
        for d in found.diagnostics
        if d.code == "reversed-order"
    ]


@pytest.mark.parametrize(
    ("file", "order", "top", "bottom"),
    [
        ("tiers.yaml", TIERS, "high_value_added (高附加值客户)", "low_value (低价值客户)"),
        ("levels.yaml", LEVELS, "partner (伙伴型)", "basic (基本型)"),
    ],
)
def test_an_order_from_the_highest_down_is_warned_at_its_place(
    tmp_path: Path, file: str, order: str, top: str, bottom: str
) -> None:
    names = order.removeprefix("order: [").removesuffix("]").split(", ")
    written = f"order: [{', '.join(reversed(names))}]"
    folder = project(tmp_path, file, order, written)
    line = next(
        n for n, text in enumerate((folder / file).read_text("utf-8").splitlines(), 1)
        if text.startswith("order:")
    )  # fmt: skip
    [(shown, at, col, message)] = reversed_warnings(folder)
    assert (shown, at, col) == (file, line, 8)
    assert f"here {top} comes before" in message or f"before {bottom}" in message
    assert "would count as a rise (on_rise:), not a fall" in message


def test_the_default_orders_and_neutral_names_give_no_warning(tmp_path: Path) -> None:
    assert reversed_warnings(RULES) == []
    assert misordered_warnings(RULES) == []
    # passive, responsible and proactive say nothing of their place: any order of them is not
    # reversed (it is misordered, below, as Kotler's levels rank them)
    folder = project(
        tmp_path, "levels.yaml", LEVELS, "order: [basic, proactive, passive, responsible, partner]"
    )
    assert reversed_warnings(folder) == []


def misordered_warnings(folder: Path) -> list[tuple[str, int, int, str, str | None]]:
    found = validate_project(folder)
    assert found.ruleset is not None  # a warning: the project still loads
    return [
        (Path(d.file).name, d.line, d.col, d.message, d.hint)
        for d in found.diagnostics
        if d.code == "misordered-ladder"
    ]


@pytest.mark.parametrize(
    ("file", "order", "written", "col", "higher", "lower"),
    [
        (
            "levels.yaml",
            LEVELS,
            "order: [basic, responsible, passive, proactive, partner]",
            16,
            "responsible (负责型)",
            "passive (被动型)",
        ),
        (
            "levels.yaml",
            LEVELS,
            "order: [basic, proactive, passive, responsible, partner]",
            16,
            "proactive (能动型)",
            "passive (被动型)",
        ),
        (
            "tiers.yaml",
            TIERS,
            "order: [dormant, valuable, low_value, high_value_added]",
            18,
            "valuable (有价值客户)",
            "low_value (低价值客户)",
        ),
    ],
)
def test_two_known_levels_swapped_are_warned_with_the_order_to_write(
    tmp_path: Path, file: str, order: str, written: str, col: int, higher: str, lower: str
) -> None:
    folder = project(tmp_path, file, order, written)
    line = next(
        n for n, text in enumerate((folder / file).read_text("utf-8").splitlines(), 1)
        if text.startswith("order:")
    )  # fmt: skip
    [(shown, at, at_col, message, hint)] = misordered_warnings(folder)
    assert (shown, at, at_col) == (file, line, col)
    assert f"here {higher} comes before {lower}, which ranks below it" in message
    assert hint == f"write them from the lowest to the highest: {order}"
    assert reversed_warnings(folder) == []


def rule(name: str, label: str = "") -> CompiledRule:
    return CompiledRule(name, label, None, None, None, Origin("tiers.yaml", 1))


RULES_BY_WORD = [rule("dormant", "睡眠客户"), rule("x1"), rule("x2"), rule("vip", "贵宾")]


@given(st.permutations([r.name for r in RULES_BY_WORD]))
def test_only_an_order_with_every_marked_pair_upside_down_is_reversed(order: list[str]) -> None:
    """Unmarked names never decide; the one marked pair decides alone."""
    found = reversed_pair(order, RULES_BY_WORD)
    assert (found is not None) == (order.index("vip") < order.index("dormant"))


BANK_WORDS = [rule("l1", "基本型"), rule("l2", "被动"), rule("l3", "负责型"), rule("vip", "伙伴型")]


def test_known_levels_are_recognised_by_their_labels() -> None:
    """Levels named in the bank's own words rank by their Chinese labels (被动 for 被动型)."""
    order = ["l1", "l3", "l2", "vip"]
    assert against_known(order, BANK_WORDS) == ("l3", "l2")
    assert known_order(order, BANK_WORDS) == ["l1", "l2", "l3", "vip"]
    assert against_known(["l1", "x", "l2", "l3", "vip"], [*BANK_WORDS, rule("x")]) is None


@given(st.permutations(["basic", "passive", "responsible", "proactive", "partner"]))
def test_kotler_order_is_written_whatever_the_order_given(order: list[str]) -> None:
    rules = [rule(name) for name in order]
    written = known_order(order, rules)
    assert written == ["basic", "passive", "responsible", "proactive", "partner"]
    assert (against_known(order, rules) is None) == (order == written)


def test_a_reversal_that_reversing_does_not_mend_is_answered_with_the_known_order(
    tmp_path: Path,
) -> None:
    written = "order: [partner, basic, passive, responsible, proactive]"
    folder = project(tmp_path, "levels.yaml", LEVELS, written)
    [warning] = [d for d in validate_project(folder).diagnostics if d.severity == "warning"]
    assert warning.code == "reversed-order"
    assert warning.hint == f"write them from the lowest to the highest: {LEVELS}"


def test_an_order_that_leaves_a_level_out_is_answered_with_kotlers_order(tmp_path: Path) -> None:
    """The order to write mends the swap as well as the gap: written as told, it is clean."""
    folder = project(
        tmp_path, "levels.yaml", LEVELS, "order: [basic, responsible, passive, partner]"
    )
    [error] = validate_project(folder).diagnostics
    assert (error.code, error.message) == ("invalid-order", "'order:' leaves out proactive")
    assert error.hint == f"list each once, from the lowest to the highest: {LEVELS}"
