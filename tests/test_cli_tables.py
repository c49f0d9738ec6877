"""Tables fit the terminal without cutting a date, a time, an id or a number: text wraps,
low-value columns are left out (and the caption says which), and a table that still cannot
fit is printed whole, wider than the terminal."""

from __future__ import annotations

import io
import itertools

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from guanxi.cli.fit import Col, number, text
from guanxi.cli.output import SafeConsole, table

COLUMNS = [
    Col("due"),
    text("customer"),
    text("step"),
    Col("channel", drop=3),
    Col("status"),
    text("reason", drop=2),
    number("amount", drop=1),
]
ROWS = [
    ["2026-12-04 09:30", "C0000042 张三丰", "after_sale_call 售后回访电话", "rm_task",
     "pending", "quiet hours until 08:30, then the manager's capacity", "¥1,234,567"],
    ["2026-12-05 10:00", "C0001001 长沙湘江科技有限公司", "partner_quarterly_review 季度联合回顾",
     "email", "suppressed", "cap: 2 messages a week", "¥98,000"],
]  # fmt: skip
VALUES = ["2026-12-04 09:30", "2026-12-05 10:00", "C0000042", "C0001001", "after_sale_call",
          "partner_quarterly_review", "pending", "suppressed"]  # fmt: skip


def shown(width: int, columns: list[Col] = COLUMNS, rows: list[list[str]] = ROWS) -> str:
    out = io.StringIO()
    SafeConsole(file=out, width=width, soft_wrap=True).print(table("follow-ups", columns, rows))
    return out.getvalue()


def test_at_80_columns_nothing_is_cut_and_what_was_left_out_is_named() -> None:
    text_80 = shown(80)
    lines = text_80.splitlines()
    assert "…" not in text_80
    assert all(cell_len(line) <= 80 for line in lines if "│" in line)
    for value in VALUES:
        assert any(value in line for line in lines), value
    assert "left out to fit the terminal: channel, reason, amount (--csv, --json)" in text_80


def test_at_120_columns_the_low_value_columns_come_back() -> None:
    text_120 = shown(120)
    assert "…" not in text_120
    assert "¥1,234,567" in text_120 and "rm_task" in text_120
    assert "left out" not in text_120
    assert "售后回访电话" in text_120  # the label wraps under its id at worst, never cut


def test_a_table_that_cannot_fit_is_printed_wider_rather_than_cut() -> None:
    keys = [Col("key"), Col("due")]
    rows = [["partner_welcome_visit:C0000042:run-17", "2026-12-04 09:30"]]
    narrow = shown(30, keys, rows)
    assert "partner_welcome_visit:C0000042:run-17" in narrow
    assert "2026-12-04 09:30" in narrow


@given(
    width=st.integers(min_value=20, max_value=200),
    ids=st.lists(st.from_regex(r"C[0-9]{4,12}", fullmatch=True), min_size=1, max_size=5),
    words=st.lists(st.text("abc 客户回访", max_size=30), min_size=5, max_size=5),
)
def test_values_are_never_cut_whatever_the_width(
    width: int, ids: list[str], words: list[str]
) -> None:
    columns = [Col("id"), text("note", drop=1), number("amount", drop=2), Col("due")]
    rows = [[i, words[n % 5], f"{n * 1234567:,}", "2026-12-04 09:30"] for n, i in enumerate(ids)]
    lines = shown(width, columns, rows).splitlines()
    for i, row in zip(ids, rows, strict=True):
        assert any(f" {i} " in line for line in lines)
        assert any("2026-12-04 09:30" in line for line in lines)
        assert any(row[2] in line for line in lines) or "amount" in lines[-1]


CLOSING = "，。、；：！？）】」』》〉”’"
REASONS = st.lists(
    st.sampled_from(["未导入", "：", "第 3 行的“balance”", "不是数字", "（", "写成数字",
                     "如 1234.5", "）", "。", "，", "、", "；", "[b]", " ", "guanxi load"]),
    min_size=1, max_size=30,
).map("".join)  # fmt: skip


@given(REASONS, st.integers(30, 120))
def test_chinese_text_in_a_cell_never_starts_a_line_with_a_closing_mark(
    reason: str, width: int
) -> None:
    """As Chinese print: a line breaks between two characters, but 。 or ） stays with the
    character before it; every character is shown once, and the lines fit the terminal."""
    columns = [Col("row"), text("reason")]
    printed = shown(width, columns, [["12", reason]])
    cells = [line.split("│")[2] for line in printed.splitlines() if line.count("│") == 3]
    lines = [cell.strip() for cell in cells]
    assert "".join(lines).replace(" ", "") == reason.replace(" ", "")
    widest = max(cell_len(line) for line in printed.splitlines())
    assert widest <= width or cell_len(reason) > width
    for before, line in itertools.pairwise(lines):
        if line[:1] in CLOSING:  # only where the marks before it fill a line alone
            assert before and all(c in CLOSING for c in before), (before, line)


def test_a_title_holding_data_is_shown_not_read_as_markup() -> None:
    out = io.StringIO()
    title = "tasks of [bold]RM[/bold]001 [link=http://evil.example]x[/link]"
    SafeConsole(file=out, width=80).print(table(title, [Col("key")], [["k1"]]))
    assert title in out.getvalue()
