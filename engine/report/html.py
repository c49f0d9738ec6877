"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no script and
no link to anything outside, so it opens offline and can be mailed as a single file."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import jinja2
from markupsafe import Markup

from guanxi.engine.i18n import current_language, gettext
from guanxi.engine.report.build import Report
from guanxi.engine.report.concentration import Concentration
from guanxi.engine.report.distribution import Distribution
from guanxi.engine.report.experiments import Experiments
from guanxi.engine.report.migration import Migration
from guanxi.engine.report.model import Section, Table, shown
from guanxi.engine.report.svg import (
    distribution_chart,
    experiments_chart,
    migration_chart,
    pareto_chart,
)

MAX_ROWS = 40  # longer tables are cut on the page; the CSV and JSON files have every row


@dataclass(frozen=True)
class ShownTable:
    title: str
    headers: list[tuple[str, bool]]  # (label, is a number)
    rows: list[list[str]]
    hidden: int


@dataclass(frozen=True)
class ShownSection:
    name: str
    title: str
    notes: list[str]
    charts: list[Markup]
    tables: list[ShownTable]


def render_html(report: Report) -> str:
    sections = [_section(s) for s in report.sections]
    page_language = "zh-CN" if current_language() == "zh" else "en"
    return PAGE.render(report=report, sections=sections, page_language=page_language)


def _section(section: Section) -> ShownSection:
    tables = [_table(t) for t in section.tables() if not t.detail]
    return ShownSection(section.name, section.title, section.notes(), _charts(section), tables)


def _charts(section: Section) -> list[Markup]:
    """Markup: svg.py builds the SVG from escaped text."""
    if isinstance(section, Distribution):
        return [Markup(distribution_chart(section))]
    if isinstance(section, Concentration) and any(c.customers for c in section.curves):
        return [Markup(pareto_chart(section))]
    if isinstance(section, Experiments) and section.compared():
        return [Markup(experiments_chart(section))]
    if isinstance(section, Migration):
        matrices = [m for m in (section.tiers, section.levels) if m is not None]
        return [Markup(migration_chart(m, section.labels, section.title)) for m in matrices]
    return []


def _table(table: Table) -> ShownTable:
    headers = [(c.label, c.kind != "text") for c in table.columns]
    rows = [
        [shown(value, column.kind) for value, column in zip(row, table.columns, strict=True)]
        for row in table.rows[:MAX_ROWS]
    ]
    return ShownTable(table.title, headers, rows, max(0, len(table.rows) - MAX_ROWS))


ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
ENVIRONMENT.globals["_"] = gettext
PAGE = ENVIRONMENT.from_string(
    resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
)
