"""Charts drawn as inline SVG: nothing to download, nothing to run, readable offline.

Each chart is an <svg> with data-chart="NAME", a <title> and a <desc> (for screen readers
and for tests), sized by its viewBox so it scales with the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from guanxi.engine.i18n import _
from guanxi.engine.report.concentration import Concentration
from guanxi.engine.report.distribution import Distribution
from guanxi.engine.report.experiments import Experiments
from guanxi.engine.report.groups import Name
from guanxi.engine.report.labels import Labels
from guanxi.engine.report.migration import Matrix

PALETTE = ("#1f4e79", "#2e86c1", "#48c9b0", "#f4d03f", "#eb984e", "#af7ac5", "#839192")
LINES = ("#c0392b", "#1f4e79", "#27ae60", "#8e44ad")
UP, DOWN, SAME = "39,174,96", "192,57,43", "93,109,126"  # green, red, slate (RGB)
FONT = "font-family=\"'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif\""


def text(
    x: float, y: float, content: str, size: int = 12, anchor: str = "start", **extra: str
) -> str:
    attributes = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in extra.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{attributes}>'
        f"{escape(content)}</text>"
    )


def two_lines(x: float, y: float, label: str, size: int = 12, anchor: str = "start") -> str:
    """'有价值客户 valuable' as two lines: the Chinese label above the English."""
    chinese, _, english = label.partition(" ")
    if not english:
        return text(x, y, label, size, anchor)
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f'<tspan x="{x:.1f}">{escape(chinese)}</tspan>'
        f'<tspan x="{x:.1f}" dy="{size + 2}" fill="#566573">{escape(english)}</tspan></text>'
    )


def frame(name: str, width: int, height: int, title: str, desc: str, body: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" data-chart="{name}" role="img"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" {FONT}>'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{''.join(body)}</svg>"
    )


def distribution_chart(found: Distribution) -> str:
    """The pyramid: one centred bar per tier (most valuable on top), split by level."""
    width, left, top, bar, gap = 820, 190, 58, 34, 14
    span = width - left - 70
    widest = max((found.tier_total(t) for t in found.tiers), default=0) or 1
    body = _legend(found.levels, found.labels, top=16, left=left)
    for row, tier in enumerate(found.tiers):
        y = top + row * (bar + gap)
        body.append(two_lines(left - 12, y + 14, found.labels.tier(tier), 12, "end"))
        x = left + span * (1 - found.tier_total(tier) / widest) / 2
        for index, level in enumerate(found.levels):
            count = found.count(tier, level)
            w = span * count / widest
            if count:
                body.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}"'
                    f' fill="{PALETTE[index % len(PALETTE)]}" data-tier="{escape(str(tier))}"'
                    f' data-level="{escape(str(level))}" data-customers="{count}">'
                    f"<title>{escape(found.labels.tier(tier))} · "
                    f"{escape(found.labels.level(level))}: {count:,}</title></rect>"
                )
            x += w
        body.append(text(x + 6, y + bar / 2 + 4, f"{found.tier_total(tier):,}", 12))
    height = top + len(found.tiers) * (bar + gap) + 8
    desc = f"{found.customers} customers in {len(found.tiers)} tiers"
    return frame("distribution", width, height, found.title, desc, body)


def _legend(names: Sequence[Name], labels: Labels, top: int, left: int) -> list[str]:
    body, x = [], float(left)
    for index, name in enumerate(names):
        label = labels.level(name)
        body.append(
            f'<rect x="{x:.1f}" y="{top - 10}" width="12" height="12" rx="2"'
            f' fill="{PALETTE[index % len(PALETTE)]}"/>'
        )
        body.append(text(x + 16, top, label, 12))
        x += 26 + 7.5 * len(label.encode("utf-8")) * 0.75
    return body


Place = Callable[[float, float], tuple[float, float]]


def pareto_chart(found: Concentration) -> str:
    """Share of the total held (y) by the top share of customers (x), one line per measure;
    the dashed diagonal is an even spread, the dots mark the top 10 % and 20 %."""
    width, height, left, top, plot_w, plot_h = 820, 440, 70, 30, 560, 340
    held = [h for c in found.curves for _, h in c.points]
    low, high = min([0.0, *held]), max([1.0, *held])

    def place(x: float, y: float) -> tuple[float, float]:
        return left + x * plot_w, top + plot_h * (high - y) / (high - low)

    body = _pareto_axes(place, low, high)
    for index, curve in enumerate(c for c in found.curves if c.customers):
        color = LINES[index % len(LINES)]
        points = " ".join("{:.1f},{:.1f}".format(*place(x, y)) for x, y in curve.points)
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2.5"'
            f' data-field="{escape(curve.field)}"/>'
        )
        body += _pareto_marks(curve.top, place, color, below=index % 2 == 0)
        ly = top + 20 + 40 * index
        body.append(
            f'<rect x="{left + plot_w + 16}" y="{ly - 6}" width="16" height="4" fill="{color}"/>'
        )
        body.append(two_lines(left + plot_w + 38, ly, curve.label, 12))
    desc = "; ".join(curve.verdict() for curve in found.curves)
    return frame("pareto", width, height, found.title, desc, body)


def _pareto_marks(top: dict[int, float | None], place: Place, color: str, below: bool) -> list[str]:
    """Dots at the top 10 % and 20 %, labelled below-right or above-left of the line."""
    body = []
    for k in (10, 20):
        value = top.get(k)
        if value is None:
            continue
        x, y = place(k / 100, value)
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}"/>')
        if below:
            body.append(text(x + 7, y + 15, f"{value:.0%}", 11, fill=color))
        else:
            body.append(text(x - 7, y - 8, f"{value:.0%}", 11, "end", fill=color))
    return body


def _pareto_axes(place: Place, low: float, high: float) -> list[str]:
    body = []
    for tick in range(0, 101, 10):
        (x0, y0), (_x1, y1) = place(tick / 100, low), place(tick / 100, high)
        body.append(_line(x0, y0, x0, y1, "#eaecee"))
        body.append(text(x0, y0 + 16, f"{tick}%", 11, "middle"))
    for step in range(math.floor(low * 5), math.ceil(high * 5) + 1):
        (x0, y0), (x1, _y1) = place(0, step / 5), place(1, step / 5)
        body.append(_line(x0, y0, x1, y0, "#eaecee"))
        body.append(text(x0 - 6, y0 + 4, f"{step * 20}%", 11, "end"))
    (ax, ay), (bx, by) = place(0, 0), place(1, 1)
    body.append(_line(ax, ay, bx, by, "#aab7b8", ' stroke-dasharray="5 4"'))
    x, y = place(0.5, low)
    body.append(text(x, y + 36, _("share of customers, largest first"), 12, "middle"))
    x, y = place(0, (low + high) / 2)
    turn = f"rotate(-90 {x - 46:.1f} {y:.1f})"
    body.append(text(x - 46, y, _("share held"), 12, "middle", transform=turn))
    return body


def _line(x0: float, y0: float, x1: float, y1: float, color: str, extra: str = "") -> str:
    return (
        f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{color}"{extra}/>'
    )


def migration_chart(matrix: Matrix, labels: Labels, title: str) -> str:
    """From (rows) × to (columns), most valuable first: green above the pyramid's diagonal
    (moved up), red below (slipped), grey on it (stayed); darker is more customers."""
    show = labels.tier if matrix.kind == "tier" else labels.level
    left, top, cell_w, cell_h = 170, 64, 108, 40
    sources: list[Name | None] = [*matrix.order]
    width = left + cell_w * len(matrix.order) + 10
    height = top + cell_h * (len(sources) + bool(matrix.arrivals)) + 30
    body = [text(left - 10, top - 40, _("from ↓ / to →"), 11, "end", fill="#566573")]
    for column, target in enumerate(matrix.order):
        body.append(two_lines(left + cell_w * (column + 0.5), top - 26, show(target), 12, "middle"))
    largest = max([*matrix.moves.values(), *matrix.arrivals.values(), 1])
    for row, source in enumerate(sources):
        y = top + row * cell_h
        body.append(two_lines(left - 10, y + 17, show(source), 12, "end"))
        for column, target in enumerate(matrix.order):
            count = matrix.moves.get((source, target), 0)
            tone = {"up": UP, "down": DOWN, "same": SAME}[matrix.direction(source, target)]
            body.append(_cell(left + column * cell_w, y, cell_w, cell_h, count, largest, tone))
    if matrix.arrivals:
        y = top + len(sources) * cell_h
        body.append(two_lines(left - 10, y + 17, _("new"), 12, "end"))
        for column, target in enumerate(matrix.order):
            count = matrix.arrivals.get(target, 0)
            body.append(
                _cell(left + column * cell_w, y, cell_w, cell_h, count, largest, "46,134,193")
            )
    summary = matrix.summary()
    desc = ", ".join(f"{k} {v}" for k, v in summary.items())
    return frame(f"migration-{matrix.kind}s", width, height, title, desc, body)


def _cell(x: float, y: float, w: float, h: float, count: int, largest: int, rgb: str) -> str:
    """A matrix cell: its colour's strength grows with the log of the count."""
    strength = 0.0 if count == 0 else 0.12 + 0.78 * math.log1p(count) / math.log1p(largest)
    ink = "#ffffff" if strength > 0.55 else "#1c2833"
    label = f"{count:,}" if count else "·"
    return (
        f'<rect x="{x + 1:.1f}" y="{y + 1:.1f}" width="{w - 2:.1f}" height="{h - 2:.1f}" rx="3"'
        f' fill="rgba({rgb},{strength:.2f})" stroke="#eaecee" data-customers="{count}"/>'
        + text(x + w / 2, y + h / 2 + 5, label, 13, "middle", fill=ink)
    )


def experiments_chart(found: Experiments) -> str:
    """Each group's uplift over its control as a dot on its 95% interval, around a zero line:
    an interval clear of zero is a real effect."""
    compared = found.compared()
    width, left, top, row = 820, 300, 40, 30
    height = top + row * len(compared) + 40
    edge = max([0.01, *(max(abs(u.absolute_low), abs(u.absolute_high)) for _, _, u in compared)])
    span = (width - left - 40) / 2

    def x(value: float) -> float:
        return left + span + span * value / edge

    body = [f'<line x1="{x(0):.1f}" y1="{top - 10}" x2="{x(0):.1f}" y2="{height - 30}"'
            ' stroke="#839192" stroke-dasharray="4 3"/>']  # fmt: skip
    body.append(text(x(0), height - 12, "0", 11, "middle"))
    for index, (step, group, lift) in enumerate(compared):
        y = top + row * index + row / 2
        colour = f"rgb({UP})" if lift.absolute_low > 0 else f"rgb({SAME})"
        if lift.absolute_high < 0:
            colour = f"rgb({DOWN})"
        body.append(text(left - 10, y + 4, f"{step} · {group}", 12, "end"))
        body.append(f'<line x1="{x(lift.absolute_low):.1f}" y1="{y:.1f}"'
                    f' x2="{x(lift.absolute_high):.1f}" y2="{y:.1f}" stroke="{colour}"'
                    ' stroke-width="3"/>')  # fmt: skip
        body.append(f'<circle cx="{x(lift.absolute):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        body.append(text(width - 30, y + 4, f"{100 * lift.absolute:+.1f}", 11, "end"))
    title = _("Uplift over the control, with 95% intervals (points)")
    desc = "; ".join(
        f"{step} {group}: {100 * u.absolute:+.1f} ({100 * u.absolute_low:+.1f} to"
        f" {100 * u.absolute_high:+.1f})"
        for step, group, u in compared
    )
    return frame("experiments", width, height, title, desc, [text(10, 20, title, 14), *body])
