"""Message templates render within limits: a template that would never finish or would build a
huge text fails its own message with a clear reason, is found by validate at its line, and
spares the rest of a dispatch batch."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.adapters.base import RenderError, render_text
from guanxi.adapters.recording import RecordingAdapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.ruleset.models import Template
from guanxi.engine.store import Store
from guanxi.engine.templating import MAX_TEXT, TemplateLimitError, compile_template, render
from tests.daemon_helpers import invitation

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
VARIABLES = {"name": "张三", "balance": 1234567.5, "products": ["存款", "理财"]}

ENDLESS = {
    "range of a billion": ("{% for i in range(10**9) %}x{% endfor %}", "range of 1,000,000,000"),
    "nested ranges": (
        "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
        "more than 10,000 steps",
    ),
    "format width": ('{{ "{:>2000000000}".format(1) }}', "the formatted text"),
    "percent width": ('{{ "%2000000000d" % 1 }}', "the formatted text"),
    "format filter width": ('{{ "%2000000000d"|format(1) }}', "the formatted text"),
    "repeated text": ('{{ "x" * 10**9 }}', "the repeated value"),
    "huge power": ("{{ 7 ** (10**8) }}", "too large a number"),
    "huge join": ('{{ range(9000)|join("x" * 1000) }}', "the joined text"),
    "padding": ("{{ name.ljust(10**9) }}{{ name|center(10**9) }}", "the padded text"),
    "keyword width": ("{{ name|center(width=10**9) }}", "the padded text"),
    "keyword replace": ('{{ name|replace(old="", new="x" * 60000) }}', "the replaced text"),
    "replace": ('{{ ("ab" * 30000)|replace("", "x" * 60000) }}', "the replaced text"),
    "macro recursion": (
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "more than 16 deep",
    ),
    "doubling macro": (
        "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f(name) }}",
        "the joined text",
    ),
    "long output": ('{% for i in range(9999) %}{{ "y" * 60000 }}{% endfor %}', "longer than"),
    "written in a block": (
        '{% set x %}{% for i in range(9000) %}{{ "y" * 60000 }}{% endfor %}{% endset %}',
        "writes more than 1,048,576",
    ),
    "list of long texts": ("{{ [name * 30000] * 60000 }}", "the repeated value"),
    "long list printed": ("{% set s = name * 15000 %}{{ [s, s, s] }}", "the value written"),
}


@pytest.mark.parametrize(("source", "reason"), ENDLESS.values(), ids=ENDLESS.keys())
def test_templates_that_never_finish_or_explode_fail_with_the_limit_they_reach(
    source: str, reason: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(RenderError, match=f"^template: .*{reason}"):
        render_text(source, VARIABLES)
    assert time.perf_counter() - started < 1.0


def test_ordinary_templates_render_as_before() -> None:
    source = (
        "{% macro item(p) %}<{{ p|upper }}>{% endmacro %}"
        '{{ name }}您好，余额 {{ "{:,.2f}".format(balance) }} / {{ "%.1f"|format(balance) }}：'
        "{% for p in products %}{{ loop.index }}.{{ item(p) }}{% endfor %}"
        ' {{ products|join("、") }}'
        " {{ name ~ '先生' }} {{ (balance * 2)|round|int }} {{ nickname|default('客户') }}"
    )
    assert render_text(source, VARIABLES) == (
        "张三您好，余额 1,234,567.50 / 1234567.5：1.<存款>2.<理财> 存款、理财 张三先生 2469135 客户"
    )


# One piece of a template: what it writes when it can, each with a number drawn up to a billion.
pieces = st.one_of(
    st.integers(0, 10**9).map(lambda n: f'{{{{ "ab" * {n} }}}}'),
    st.integers(0, 10**9).map(lambda n: f'{{{{ "{{:>{n}}}".format(1) }}}}'),
    st.integers(0, 10**9).map(lambda n: f'{{{{ range({n})|join("-") }}}}'),
    st.integers(0, 10**9).map(lambda n: f"{{{{ name|center({n}) }}}}"),
    st.integers(0, 40).map(lambda n: f"{{{{ 3 ** {n} * 3 ** {n} }}}}"),
    st.just("{{ name }}"),
)


def _loops(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    counts = st.integers(0, 10**9)
    looped = st.tuples(counts, inner).map(
        lambda t: f"{{% for i in range({t[0]}) %}}{t[1]}{{% endfor %}}"
    )
    return st.one_of(looped, st.tuples(inner, inner).map("".join))


@settings(max_examples=150, deadline=2_000)
@given(st.recursive(pieces, _loops, max_leaves=4))
def test_any_template_renders_within_the_limits_or_stops_at_one(source: str) -> None:
    try:
        text = render(compile_template(source), VARIABLES)
    except TemplateLimitError:
        return
    assert len(text) <= MAX_TEXT


# --- validate: the limit is found before any message is due -------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return shutil.copytree(RULES, tmp_path / "rules", ignore=shutil.ignore_patterns("*.db*"))


def with_body(project: Path, template: str, body: str) -> None:
    path = project / "templates.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f"  {template}:")
    line = text.index("    body:", start)
    end = text.index("\n", line)
    path.write_text(text[:line] + body + text[end:], encoding="utf-8")


def test_validate_reports_a_template_that_never_finishes_at_its_line(project: Path) -> None:
    body = (
        "    body: |\n"
        "      {{ name }}您好，\n"
        "        {% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}\n"
        "      本月新产品已上线。"
    )
    with_body(project, "product_news", body)
    lines = (project / "templates.yaml").read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines, 1) if "range(9000)" in line)
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.col) == ("template-limit", at, 9)
    assert "more than 10,000 steps" in diagnostic.message
    assert diagnostic.hint is not None and "65,536 characters" in diagnostic.hint


def test_validate_reports_an_explosive_format_width(project: Path) -> None:
    with_body(project, "usage_tips", """    body: "{{ '{:>2000000000}'.format(name) }}您好\"""")
    [diagnostic] = validate_project(project).diagnostics
    assert diagnostic.code == "template-limit"
    assert "the formatted text would be longer than 65,536 characters" in diagnostic.message


def test_validate_reports_an_unknown_filter_instead_of_failing(project: Path) -> None:
    with_body(project, "usage_tips", '    body: "{{ name|tojson }}您好"')
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.message) == ("template-syntax", "No filter named 'tojson'.")


def test_validate_passes_a_template_whose_cost_depends_on_the_data(project: Path) -> None:
    with_body(project, "usage_tips", '    body: "{% for i in range(event.times) %}.{% endfor %}"')
    schema = project / "schema.yaml"
    times = "fields: {times: {type: integer, label: 次数, required: true}, product:"
    schema.write_text(
        schema.read_text(encoding="utf-8").replace("fields: {product:", times, 1), encoding="utf-8"
    )
    assert [d.code for d in validate_project(project).diagnostics] == []


# --- dispatch: one template past a limit fails one follow-up, the batch goes on ------------


@pytest.mark.every_store
def test_a_template_past_a_limit_is_dead_and_spares_the_rest_of_the_batch(
    store: Store, ruleset: RuleSet
) -> None:
    loop = "{% for i in range(event.times) %}"
    body = f"{loop}{loop.replace('i in', 'j in')}{{% endfor %}}{{% endfor %}}好"
    endless = {"invite_feedback": Template(kind="message", subject="你好", body=body)}
    ruleset = dataclasses.replace(ruleset, templates={**ruleset.templates, **endless})
    store.upsert_customers([{"customer_id": f"C{i}", "name": "张三", "phone": "13800000000",
                             "consent_sms": True} for i in range(3)])  # fmt: skip
    followups = [  # a customer each: the SMS cap (2 a week) stays out of it
        invitation(f"C{i}", f"E{i}", NOW, payload={"times": times})
        for i, times in enumerate([3, 3_000, 3])
    ]
    insert_followups(store, followups, "b1", NOW)
    adapter = RecordingAdapter(clock=lambda: NOW)
    started = time.perf_counter()
    report = dispatch_once(store, ruleset, {"sms": adapter}, NOW)
    assert time.perf_counter() - started < 5.0
    assert (report.sent, report.dead) == (2, 1)
    rows = {r["occurrence"]: r for r in store.execute("SELECT * FROM followups")}
    assert rows["E1"]["status"] == "dead"
    assert "more than 10,000 steps" in rows["E1"]["reason"]
    assert [m.body for m in adapter.messages] == ["好", "好"]
