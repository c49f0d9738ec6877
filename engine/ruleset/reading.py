"""Turning one YAML file into one pydantic model, with every structural problem located."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from guanxi.engine.diagnostics import CODES, Diagnostic, did_you_mean
from guanxi.engine.i18n import N_, _
from guanxi.engine.language.numbers import number_hint
from guanxi.engine.ruleset.domains import TITLE_MARKS
from guanxi.engine.ruleset.priority import priority_hint
from guanxi.engine.ruleset.said_settings import said_setting_hint
from guanxi.engine.ruleset.source import Source
from guanxi.engine.said_business_days import holiday_shift_hint

M = TypeVar("M", bound=BaseModel)
PLAIN = {  # pydantic's words, and what a business user reads instead
    "Input should be a valid dictionary or instance of": N_("expected a block of keys for"),
    "Input should be a valid dictionary": N_("expected a block of keys"),
    "Input should be a valid integer": N_("expected a whole number"),
    "Input should be a valid number": N_("expected a number"),
    "Input should be a valid string": N_("expected text"),
    "Input should be a valid boolean": N_("expected true or false"),
    "Input should be a valid tuple": N_("expected a list (lines starting with '- ')"),
    "Input should be a valid list": N_("expected a list (lines starting with '- ')"),
    "Input should be": N_("expected a value"),
}
EXPECTED = {  # pydantic's error types whose English message has a tail of its own
    "int_parsing": N_("expected a whole number"),
    "int_from_float": N_("expected a whole number"),
    "float_parsing": N_("expected a number"),
    "bool_parsing": N_("expected true or false"),
    "model_type": N_("expected a block of keys"),
}
LITERAL_WORDS = {"任务": "task", "消息": "message", "信息": "message", "通知": "message"}  # do:
LITERAL_WORDS |= {"第一个": "first", "首个": "first", "唯一": "unique", "优先级": "priority"}
LITERAL_WORDS |= dict.fromkeys(("短信", "邮件", "推送"), "message")  # do: a message's channel
LITERAL_WORDS |= dict.fromkeys(("服务", "服务类", "客户服务", "售后服务"), "service")  # purpose:
LITERAL_WORDS |= dict.fromkeys(("营销", "营销类", "市场营销", "推广", "促销"), "marketing")
BOUNDS = {  # pydantic's bound errors: the key of the bound in the error's context
    "greater_than": ("gt", N_("expected a number greater than {bound}")),
    "greater_than_equal": ("ge", N_("expected a number of at least {bound}")),
    "less_than": ("lt", N_("expected a number less than {bound}")),
    "less_than_equal": ("le", N_("expected a number of at most {bound}")),
}


def validate_model(
    source: Source, model: type[M], at: tuple[str | int, ...] = ()
) -> tuple[M | None, list[Diagnostic]]:
    """Validate the part of the file at path `at` (the whole file by default) as `model`."""
    try:
        return model.model_validate(source.value(at)), []
    except ValidationError as error:
        return None, [_located(source, model, e, at) for e in error.errors()]


def _located(
    source: Source, model: type[BaseModel], error: Any, at: tuple[str | int, ...]
) -> Diagnostic:
    inner = tuple(p for p in error["loc"] if isinstance(p, str | int))
    loc = (*at, *inner)
    kind, given = error["type"], error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, inner[:-1])
        return source.diagnostic(
            source.position(loc, key=True),
            "unknown-key",
            _("unknown key '{key}'").format(key=key),
            length=len(key),
            hint=did_you_mean(key, allowed)
            or _literal_word_hint(key, ", ".join(f"'{name}'" for name in allowed))
            or holiday_shift_hint(key),
            expected=", ".join(allowed) if allowed else None,
        )
    if kind in CODES:  # raised by a validator of ours, named after its diagnostic
        where = source.position(loc, key=given is None)  # `when:` alone: point at the key
        length = len(str(given if given is not None else loc[-1]))
        hint = error.get("ctx", {}).get("hint")
        return source.diagnostic(where, kind, error["msg"], length=length, hint=hint)
    if kind == "missing":
        where = source.block_position(loc[:-1]) if len(loc) > 1 else (1, 1)
        return source.diagnostic(
            where, "missing-key", _("'{key}' is required here").format(key=loc[-1])
        )
    at = source.position(loc)
    if kind in ("literal_error", "enum"):
        expected = str(error.get("ctx", {}).get("expected", ""))  # "'task' or 'message'"
        expected = _(" or ").join(expected.split(" or "))
        message = _in_place(_("'{value}' is not allowed").format(value=given), loc)
        return source.diagnostic(
            at,
            "invalid-value",
            message,
            length=len(str(given)),
            expected=expected,
            hint=_literal_word_hint(given, expected),
        )
    return source.diagnostic(
        at,
        "wrong-type",
        _in_place(_plain(error), loc),
        length=len(str(given)) if given is not None else 1,
        hint=_number_hint(kind, given, loc)
        or _time_as_number_hint(kind, given, loc)
        or _yes_no_hint(kind)
        or _empty_list_hint(kind, given, loc)
        or _list_as_text_hint(kind, given)
        or said_setting_hint(loc, given, _allowed_keys(model, inner)),
    )


def _number_hint(kind: str, given: Any, loc: Sequence[str | int]) -> str | None:
    """For a number said in words where a number is needed (`top_percent: 百分之五`,
    `priority: 高`), what to write."""
    if kind not in ("float_parsing", "int_parsing") or not isinstance(given, str):
        return None
    if loc and loc[-1] == "priority":
        return priority_hint(given)
    return number_hint(given)


TIME_KEYS = ("at", "start", "end")  # a step's time, quiet hours' start and end


def _time_as_number_hint(kind: str, given: Any, loc: Sequence[str | int]) -> str | None:
    """`at: 10.30` (read as the number 10.3) or `at: 10`: the time of day to write."""
    if kind != "string_type" or not loc or loc[-1] not in TIME_KEYS:
        return None
    if isinstance(given, bool) or not isinstance(given, int | float):
        return None
    hour, minute = int(given), round((given - int(given)) * 100)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    time = f"{hour:02d}:{minute:02d}"
    if minute == 50:  # 9.5 is 9.50 to YAML, and half past nine to some
        half = f"{hour:02d}:30"
        return _('write "{time}" (hours:minutes, in quotes), or "{half}" for half past').format(
            time=time, half=half
        )
    return _('write "{time}" (hours:minutes, in quotes)').format(time=time)


def _literal_word_hint(given: Any, expected: str) -> str | None:
    """`do: 任务` (or a key `任务:`): the allowed value the Chinese word means."""
    value = LITERAL_WORDS.get(str(given).strip())
    return _("write '{value}'").format(value=value) if value and f"'{value}'" in expected else None


def _yes_no_hint(kind: str) -> str | None:
    """`enabled: 是的`: the words a yes/no key reads."""
    return _("write true or false (是 or 否 also do)") if kind == "bool_parsing" else None


def _empty_list_hint(kind: str, given: Any, loc: Sequence[str | int]) -> str | None:
    """A key left empty where a list goes (`basic:`): how to write none, or some."""
    if given is not None or kind not in ("list_type", "tuple_type") or not loc:
        return None
    return _(
        "write '{key}: []' for none, or list them under it, each line starting with '- '"
    ).format(key=loc[-1])


def _list_as_text_hint(kind: str, given: Any) -> str | None:
    """`fallback: app, sms, email`: a list written without its brackets is one text."""
    if kind not in ("list_type", "tuple_type") or not isinstance(given, str):
        return None
    items = [item.strip(TITLE_MARKS) for item in re.split(r"[,，、;；\s]+", given)]
    items = [item for item in items if item]
    if not items:
        return None
    return _("write the list in brackets: [{items}]").format(items=", ".join(items))


def _in_place(message: str, loc: Sequence[str | int]) -> str:
    """`message` followed by where in the file's structure it applies."""
    if not loc:
        return message
    return _("{message} in '{place}'").format(message=message, place=_dotted(loc))


def _dotted(loc: Sequence[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _plain(error: Any) -> str:
    """pydantic's 'Input should be a valid integer, unable to parse string as an integer' as
    'expected a whole number', in the user's language."""
    kind, message = error["type"], str(error["msg"])
    if kind in EXPECTED:
        return _(EXPECTED[kind])
    if kind in BOUNDS:
        key, text = BOUNDS[kind]
        return _(text).format(bound=error.get("ctx", {}).get(key))
    for old, new in PLAIN.items():
        if message.startswith(old):
            return _(new) + message[len(old) :]
    return message


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    current: Any = model
    for step in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(step, str):
            field = current.model_fields.get(step)
            current = _inner_model(field.annotation) if field else None
        elif isinstance(step, str | int):
            current = current  # a key of a dict or an index of a list: same inner model
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    """The model class inside `X | None`, `tuple[X, ...]` or `dict[str, X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list, dict):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def shown_path(root: str, name: str) -> str:
    return str(Path(root) / name) if root not in ("", ".") else name
