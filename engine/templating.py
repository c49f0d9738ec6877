"""Message templates: the sandbox they render in, and the limits that keep one template from
holding up the bank's follow-ups.

Every render has a budget; past it, rendering stops with a `TemplateLimitError` (a
`jinja2.TemplateError`), which fails that one message and nothing else:

    MAX_TEXT     65,536 characters: the longest text one template may produce, and the longest
                 value it may build on the way (a list counts its items as text). An operation
                 that would build a longer one ("x" * 10**9, "{:>2000000000}".format(1), a long
                 join, padding or replace) is refused before it starts, so no step costs more
                 than about MAX_TEXT.
    MAX_WRITTEN  1,048,576 characters written in all, counting what macros, `{% set %}` and
                 `{% filter %}` blocks write before it reaches the message.
    MAX_STEPS    10,000 steps: loop turns, calls (macros, methods, filters), look-ups and
                 arithmetic, and a step for every 64 items of a list measured. Endless loops and
                 nested ranges stop here.
    MAX_DEPTH    16 macros (or recursive loops) within each other.

The limits count work, not time, so a template renders or fails the same way on every machine;
the worst a template can do costs about half a second. Only the filters whose cost is bounded
are offered (`FILTERS`); `lipsum`, `namespace()` and the mutating methods of lists and dicts are
not. Render with `render(compile_template(text), variables)`.
"""

from __future__ import annotations

import contextvars
import decimal
import functools
import inspect
import math
import re
import string
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from guanxi.engine.bidi import BIDI
from guanxi.engine.i18n import N_, _
from guanxi.engine.not_text import stands_for_nothing

MAX_TEXT = 65_536
MAX_WRITTEN = 16 * MAX_TEXT
MAX_STEPS = 10_000
MAX_DEPTH = 16  # macros within macros; values built by doubling at each stay small
MAX_INT_BITS = 4_096  # about 1,200 digits; no figure in a message comes near

FILTERS = frozenset(
    {"abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e",
     "escape", "first", "float", "format", "groupby", "indent", "int", "items", "join", "last",
     "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace",
     "reverse", "round", "select", "selectattr", "slice", "sort", "string", "striptags", "sum",
     "title", "trim", "truncate", "unique", "upper", "wordcount"}
)  # fmt: skip


class TemplateLimitError(jinja2.TemplateError):
    """A template went past one of the limits: too long, too much written, too many steps."""


class _Budget:
    """What one render may still spend."""

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.written = MAX_WRITTEN
        self.depth = 0

    def step(self) -> None:
        self.spend(1)

    def spend(self, steps: int) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise TemplateLimitError(
                _(
                    "the template takes more than {count} steps (loop turns, calls, look-ups);"
                    " does a loop or a macro never end?"
                ).format(count=f"{MAX_STEPS:,}")
            )

    def write(self, text: str) -> None:
        self.written -= len(text)
        if self.written < 0:
            message = _("the template writes more than {count} characters")
            raise TemplateLimitError(message.format(count=f"{MAX_WRITTEN:,}"))


_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("template_budget")


def _step() -> None:
    _BUDGET.get().step()  # a LookupError outside `render`: no template runs without a budget


def _too_long(what: str, size: int) -> TemplateLimitError:
    """`what` is marked with N_() by the caller and translated here."""
    return TemplateLimitError(
        _(
            "{what} would be longer than {count} characters (about {size}),"
            " the most a message may hold"
        ).format(what=_(what), count=f"{MAX_TEXT:,}", size=f"{size:,}")
    )


def _bounded(value: Any) -> Any:
    """`value`, refused when it is a text or collection longer than a message may be (a list's
    length is that of its items as text: a list of long texts costs as much to search)."""
    if isinstance(value, str | bytes) and len(value) > MAX_TEXT:
        raise _too_long(N_("a value in the template"), len(value))
    if isinstance(value, list | tuple | dict | set):
        _limit(N_("a value in the template"), _text_size(value))
    return value


def _limit(what: str, size: int) -> None:
    if size > MAX_TEXT:
        raise _too_long(what, size)


def _text_size(value: Any) -> int:
    """About how long `value` is as text: its characters, or those of a collection's items and
    keys with a separator each. Counting stops past MAX_TEXT; every 64 items counted are a step."""
    size, seen, pending = 0, 0, [value]
    while pending and size <= MAX_TEXT:
        item = pending.pop()
        seen += 1
        if isinstance(item, str | bytes):
            size += len(item)
        elif isinstance(item, Mapping):
            size += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            size += 2 + 2 * len(item)
            pending.extend(item)
        else:
            size += len(str(item)) if isinstance(item, int | float) else 16
    budget = _BUDGET.get(None)  # none while compiling, which only measures constants
    if budget is not None:
        budget.spend(seen // 64)
    return size


# --- the operations that can build a large value from small ones, checked before they run ---


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        _check_product(left, right)
    elif operator == "**" and _is_int(left) and _is_int(right) and abs(left) > 1:
        if left.bit_length() * right > MAX_INT_BITS:
            message = _("{left} ** {right} is too large a number")
            raise TemplateLimitError(message.format(left=left, right=right))
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(_("the product is too large a number"))
        return
    sequence, times = (right, left) if _is_int(left) else (left, right)
    if _is_int(times) and hasattr(sequence, "__len__"):
        _limit(N_("the repeated value"), _text_size(sequence) * times)


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent(template: str, values: Any) -> None:
    """`template % values`: each field at most as long as its width or the longest value."""
    fields = _PERCENT_FIELD.findall(template)
    widths = [int(n) for field in fields for n in field if n.isdigit()]
    starred = any("*" in field for field in fields)
    _check_fields(template, len(fields), widths, _values(values), starred)


def _check_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """`template.format(...)`, likewise; a width given as `{:{}}` is one of the values."""
    specs = [
        spec or "" for _, name, spec, _ in string.Formatter().parse(template) if name is not None
    ]
    widths = [int(n) for spec in specs for n in re.findall(r"\d+", spec)]
    nested = any("{" in spec for spec in specs)
    _check_fields(template, len(specs), widths, _values((*args, *kwargs.values())), nested)


def _values(values: Any) -> list[Any]:
    """The values a format may insert: those of a tuple or mapping (one level), or `values`."""
    if isinstance(values, Mapping):
        return list(values.values())
    items = list(values) if isinstance(values, tuple) else [values]
    return [v for item in items for v in (item.values() if isinstance(item, Mapping) else [item])]


def _check_fields(
    template: str, fields: int, widths: list[int], values: list[Any], widths_in_values: bool
) -> None:
    if widths_in_values:
        widths += [abs(v) for v in values if _is_int(v)]
    widest = max([*widths, *(_text_size(v) for v in values), 0])
    _limit(N_("the formatted text"), len(template) + fields * widest)


def _check_text_method(name: str, text: str, args: tuple[Any, ...]) -> None:
    """The str methods (and filters of the same name) whose result can outgrow the text."""
    if name in ("center", "ljust", "rjust", "zfill") and args and _is_int(args[0]):
        _limit(N_("the padded text"), args[0])
    elif name == "expandtabs":
        tab = args[0] if args and _is_int(args[0]) else 8
        _limit(N_("the text with tabs expanded"), len(text) + text.count("\t") * tab)
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        _limit(N_("the replaced text"), len(text) + text.count(old) * len(new))
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(str(v)) for v in args[0].values()), default=1)
        _limit(N_("the translated text"), len(text) * longest)


def _check_join(separator: str, items: list[Any]) -> None:
    _limit(N_("the joined text"), _text_size(items) + len(separator) * len(items))


# --- filters: the allowed ones, each a step, checked before and after ---------------------


def _indent_size(a: Mapping[str, Any]) -> int:
    width, text = a["width"], str(a["s"])
    return len(text) + (text.count("\n") + 1) * (width if _is_int(width) else len(str(width)))


def _check_sum_start(start: Any) -> None:
    if not isinstance(start, int | float):  # adding lists copies them again at every item
        raise TemplateLimitError(_("sum adds numbers only"))


# The filters whose result can outgrow their input, checked by their parameters' names.
_FILTER_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "join": lambda a: _check_join(str(a["d"]), list(a["value"])),
    "format": lambda a: _check_percent(str(a["value"]), a["kwargs"] or a["args"]),
    "center": lambda a: _check_text_method("center", str(a["value"]), (a["width"],)),
    "replace": lambda a: _check_text_method("replace", str(a["s"]), (a["old"], a["new"])),
    "indent": lambda a: _limit(N_("the indented text"), _indent_size(a)),
    "batch": lambda a: _limit(N_("the batch"), a["linecount"]),
    "slice": lambda a: _limit(N_("the number of slices"), a["slices"]),
    "sum": lambda a: _check_sum_start(a["start"]),
}


def _seen_whole(value: Any) -> Any:
    """A filter's value, a generator (from map, select) made a list so it can be measured."""
    if isinstance(value, Iterable) and not isinstance(value, str | Mapping | jinja2.Undefined):
        value = list(value)
    _limit(N_("the value given to a filter"), _text_size(value))
    return value


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` as a step, its value measured, checked by `_FILTER_CHECKS` before it runs
    and its result after."""
    passes_context = hasattr(function, "jinja_pass_arg")  # context, eval_ctx or environment first
    check, signature = _FILTER_CHECKS.get(name), inspect.signature(function)

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _step()
        args = (
            *args[:passes_context],
            _seen_whole(args[passes_context]),
            *args[1 + passes_context :],
        )
        if check is not None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            check(bound.arguments)
        return _bounded(function(*args, **kwargs))

    return guarded


# --- the environment --------------------------------------------------------------------


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_STEPS:
        raise TemplateLimitError(
            _("range of {count} numbers is longer than a template may loop ({steps} steps)").format(
                count=f"{len(numbers):,}", steps=f"{MAX_STEPS:,}"
            )
        )
    return numbers


def _printable(value: Any) -> str:
    """What `{{ value }}` writes, refused before it is made text when it would be too long, and
    without text direction controls: a value from a store loaded before they were refused (a
    customer's name) could otherwise turn around the amount or link written after it. Only
    what is written from values loses them, never the template's own text."""
    _limit(N_("the value written"), _text_size(value))
    if type(value) is float:
        return _decimal(value)
    return BIDI.sub("", str(value))


def _decimal(number: float) -> str:
    """A number as a customer reads it: 1200000.0 as 1200000, 1e-05 as 0.00001, never in
    exponent form; -0.0 (stored before load read it as 0.0) as 0; inf and nan as Python has
    them (load refuses them)."""
    if number == 0:
        return "0"
    if not math.isfinite(number):
        return str(number)
    text = format(decimal.Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Written(list[str]):
    """The buffer of a macro or block: what is written to it is counted against the budget."""

    def append(self, text: str) -> None:
        _BUDGET.get().write(text)
        super().append(text)

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.append(text)


class _CodeGenerator(CodeGenerator):
    """Jinja's, with the buffers of macros and blocks counting what is written to them."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.written()")


class _Metered(NodeTransformer):
    """Makes each loop turn a step (a call of `loop_turn`) and each `~` a checked call."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        turn = nodes.Call(nodes.EnvironmentAttribute("loop_turn"), [], [], None, None)
        node.body.insert(0, nodes.ExprStmt(turn, lineno=node.lineno))
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        concat = nodes.EnvironmentAttribute("concat_texts")
        return nodes.Call(concat, node.nodes, [], None, None, lineno=node.lineno)


class EventFields(dict[str, Any]):
    """The fields of a follow-up's event as templates read them (`event.product`), so that a
    field the event lacks is named as such when rendering fails."""


class EmptyField(jinja2.Undefined):
    """A customer field with no value for this customer: false in `{% if %}`, replaced by
    `default(...)`, but written as it is it fails, naming the field, instead of writing
    "None" into the customer's message."""

    __slots__ = ()
    __str__ = jinja2.Undefined._fail_with_undefined_error

    @property
    def _undefined_message(self) -> str:
        return _(
            "the customer has no value in the field '{field}'; fill it in, or write"
            " {{{{ {field} | default('') }}}} in the template"
        ).format(field=self._undefined_name)


def template_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values as templates read them: a field with no value an EmptyField, as is one
    whose value only stands for nothing (`nan`, `#N/A`, kept in a store loaded before load
    refused them)."""
    return {k: EmptyField(name=k) if _no_value(v) else v for k, v in values.items()}


def event_fields(payload: Mapping[str, Any]) -> EventFields:
    """An event's fields as templates read them: one that only stands for nothing is left
    out, so that `default(...)` replaces it and, written as it is, it fails naming it."""
    return EventFields({k: v for k, v in payload.items() if not _no_value(v)})


def _no_value(value: Any) -> bool:
    return value is None or stands_for_nothing(value)


class _Undefined(jinja2.StrictUndefined):
    """A missing value, failing when used; a missing event field says which and what to do."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        field = self._undefined_name
        if isinstance(self._undefined_obj, EventFields) and isinstance(field, str):
            return _(
                "the event of this follow-up has no field '{field}'; give the event that field,"
                " or write {{{{ event.{field} | default('') }}}} in the template"
            ).format(field=field)
        return str(super()._undefined_message)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with the budget's checks on every call, look-up, filter and loop turn.
    No `namespace()`: a value carried from one loop turn to the next could double at each."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        # No constant folding: it would run "x" * 10**9 while compiling, outside any budget.
        super().__init__(
            undefined=_Undefined, autoescape=False, optimized=False, finalize=_printable
        )
        self.filters = {n: _guarded_filter(n, f) for n, f in self.filters.items() if n in FILTERS}
        self.globals = {"range": _range, "dict": dict, "cycler": self.globals["cycler"],
                        "joiner": self.globals["joiner"]}  # fmt: skip

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one plain dict. Jinja's default, a ChainMap over the
        environment's globals, is copied twice at every render, which costs more than rendering
        a short message; nothing here changes the globals after a template is compiled."""
        return {**self.globals, **(d or {})}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Metered().visit(super()._parse(source, name, filename))
        assert isinstance(tree, nodes.Template)
        return tree

    @staticmethod
    def loop_turn() -> None:
        """Nothing: calling it is the step."""

    @staticmethod
    def concat_texts(*parts: Any) -> str:
        """`a ~ b`, refused before it is joined when it would be too long."""
        _limit(N_("the joined text"), sum(_text_size(part) for part in parts))
        return "".join(str(part) for part in parts)

    @staticmethod
    def written() -> list[str]:
        return _Written()

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _step()
        args = _checked_text_call(obj, args)
        if isinstance(obj, Macro | LoopContext):
            return _bounded(_nested(super().call, context, obj, *args, **kwargs))
        return _bounded(super().call(context, obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _step()
        _check_binop(operator, left, right)
        return _bounded(super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _step()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatting = super().wrap_str_format(value)
        if formatting is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(template, args, kwargs)
            return formatting(*args, **kwargs)

        return checked


def _checked_text_call(method: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments of a call, checked when it is a str method that can outgrow its text."""
    text = getattr(method, "__self__", None)
    if not isinstance(text, str):
        return args
    if method.__name__ == "join" and args:
        args = (list(args[0]), *args[1:])  # a generator is seen whole, once
        _check_join(text, args[0])
    else:
        _check_text_method(method.__name__, text, args)
    return args


def _nested(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A macro (or recursive loop) called within at most MAX_DEPTH others."""
    budget = _BUDGET.get()
    if budget.depth >= MAX_DEPTH:
        message = _("macros call each other more than {count} deep")
        raise TemplateLimitError(message.format(count=MAX_DEPTH))
    budget.depth += 1
    try:
        return call(*args, **kwargs)
    finally:
        budget.depth -= 1


ENVIRONMENT = _Sandbox()


@functools.lru_cache(maxsize=512)
def compile_template(source: str) -> jinja2.Template:
    """The compiled template; raises `jinja2.TemplateSyntaxError` (an unknown filter too)."""
    return ENVIRONMENT.from_string(source)


def render(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """The text of `template` for `variables`, within the limits; `TemplateLimitError` past them
    and the template's own `jinja2.TemplateError` (a missing variable) or Python error."""
    budget = _Budget()
    token = _BUDGET.set(budget)
    try:
        return _collect(template.generate(variables), budget)
    finally:
        _BUDGET.reset(token)


def _collect(parts: Iterable[str], budget: _Budget) -> str:
    texts: list[str] = []
    length = 0
    for part in parts:
        budget.write(part)
        length += len(part)
        if length > MAX_TEXT:
            message = _("the message is longer than {count} characters")
            raise TemplateLimitError(message.format(count=f"{MAX_TEXT:,}"))
        texts.append(part)
    return "".join(texts)


def template_line(error: BaseException) -> int:
    """The line of the template at which `error` was raised (jinja keeps it in the traceback)."""
    line, trace = 1, error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line
