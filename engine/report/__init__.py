"""Reports business users read: what CRM is judged by, from a store (the live one, or the
store a simulation leaves).

    build_report(store, ruleset, ReportRequest(...)) -> Report
        distribution   customers by tier × level, gold among them
        concentration  Pareto: the share of deposits and contribution the top 1/5/10/20 % hold
        migration      tiers and levels moved between two classification runs, up or down
        scorecard      satisfaction, loyalty and contribution by tier and by level
        segments       customers by industry, by system and the top corporate groups
        followups      what became of the follow-ups of each step; task outcomes
        workload       relationship managers' tasks per day against their capacity
        experiments    each goal step: its rate per group, uplift with 95 % intervals
    write_csv(sections, folder) -> paths  one CSV file per table, for Excel
    render_html(report) -> str            one self-contained page with SVG charts
"""

from guanxi.engine.report.build import SECTIONS, Report, ReportRequest, build_report
from guanxi.engine.report.files import write_csv
from guanxi.engine.report.html import render_html
from guanxi.engine.report.model import Column, Table, shown

__all__ = [
    "SECTIONS",
    "Column",
    "Report",
    "ReportRequest",
    "Table",
    "build_report",
    "render_html",
    "shown",
    "write_csv",
]
