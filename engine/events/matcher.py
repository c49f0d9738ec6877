"""Match one event, with the customer's current profile, against every event step at once.

durable_rules is used as a stateless matcher, as LIBRARIES.md advises: one Host per process,
rulesets registered under a name derived from the rule-set hash (it cannot replace a ruleset),
one fixed session id, each event asserted as a fact with a unique id and retracted at once
(a posted message is consumed by one rule only; a fact is seen by every rule). Actions only
record the step; exceptions inside them would be swallowed, so they do nothing that can fail.

Such a stateless match depends only on the attributes the rules test (their values, and
whether they are there), so each matcher remembers the steps fired for every combination of
those it has asserted: an event whose tested attributes were seen before is not asserted
again. With rules that test only the event type and the level, durable_rules sees each
combination once.

Only the tested attributes are posted, each in a form durable_rules reads back exactly
(`durable_value`: not every number the store holds has one). A record with a tested value
that has none is matched by the Python back end, which agrees with durable_rules on every
value it can read; so no value the store accepts can fail the matcher.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import threading
from collections.abc import Mapping
from typing import Any

from durable import engine as durable_engine
from sqlglot import exp

from guanxi.engine.events.durable_json import durable_value, to_durable
from guanxi.engine.language.to_python import coerce, compile_python
from guanxi.engine.ruleset.ruleset import COMPUTED_FIELDS, CompiledStep, RuleSet

SESSION = "0"  # one sid for everything: durable_rules allows 1,024 live sids per ruleset
EVERY_LEVEL = "all"
REMEMBERED = 100_000  # combinations of tested attributes a matcher keeps the steps of
_UNSEEN = ""  # a record key whose attribute is not worked out yet


class _Host(durable_engine.Host):  # type: ignore[misc]
    """The process's single durable_rules host; actions append to the current match."""

    def __init__(self) -> None:
        super().__init__()
        self.fired: list[str] = []

    def get_action(self, action_name: str) -> Any:
        def record(_context: Any) -> None:
            self.fired.append(action_name)

        return record


_HOST: _Host | None = None
_LOCK = threading.Lock()  # durable_rules has no locks of its own
_IDS = itertools.count()
_REGISTERED: set[str] = set()


def register(name: str, rules: Mapping[str, dict[str, Any]]) -> None:
    """Register a ruleset of {rule name: durable expression}, once per name and process."""
    global _HOST
    definition = {rule: {"all": [{"m": test}], "run": rule} for rule, test in rules.items()}
    with _LOCK:
        if _HOST is None:
            _HOST = _Host()
        if name not in _REGISTERED:  # durable_rules cannot replace a ruleset
            _HOST.set_rulesets({name: copy.deepcopy(definition)})  # it mutates what it gets
            _REGISTERED.add(name)


def fire(name: str, message: Mapping[str, Any]) -> set[str]:
    """The rules of ruleset `name` that match `message` (a fact asserted, then retracted)."""
    fact = {**message, "id": f"m{next(_IDS)}", "sid": SESSION}
    with _LOCK:
        assert _HOST is not None, f"ruleset {name} was never registered"
        _HOST.fired = []
        try:
            _HOST.assert_fact(name, fact)
            _HOST.retract_fact(name, fact)
        except durable_engine.MessageNotHandledException:
            return set()
        return set(_HOST.fired)


def attribute(name: str) -> str:
    """A field's attribute in a posted message: durable_rules does not allow dots."""
    return name.replace(".", "__")


class EventMatcher:
    """The event steps of one rule set, compiled once into one durable_rules ruleset."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.name = f"guanxi_{ruleset.hash}"
        self.steps = {s.id: s for s in ruleset.steps if s.step.on}
        self.event_types = frozenset(str(s.step.on) for s in self.steps.values())
        self.types = self._field_types()
        self.leaves: dict[str, exp.Expression] = {}
        self.compiled: dict[dt.date | None, dict[str, Any]] = {}
        read = {
            name for s in self.steps.values() for c in (s.when, s.unless) if c for name in c.fields
        }
        # only the profile fields some step's `when:` or `unless:` reads: a profile has many
        self.coercions = [(k, t) for k, t in self.types.items() if "." not in k and k in read]
        rules = {step.id: self._rule(step) for step in self.steps.values()}
        self.tested = frozenset(name for rule in rules.values() for name in _attributes(rule))
        self.attributes: dict[str, str | None] = {}  # record key -> tested attribute
        self.fired: dict[tuple[tuple[str, type, Any], ...], tuple[str, ...]] = {}
        self.event_fields: dict[str, tuple[str, str]] = {}  # event key -> record name, type
        register(self.name, rules)

    def _field_types(self) -> dict[str, str]:
        types = self.ruleset.field_types()
        for event in self.ruleset.schema.events.values():
            types.update({f"event.{k}": v.type for k, v in event.fields.items()})
        return types

    def _rule(self, step: CompiledStep) -> dict[str, Any]:
        tests: list[dict[str, Any]] = [{"event__type": step.step.on}]
        if step.level != EVERY_LEVEL:
            tests.append({"level": step.level})
        if step.when is not None:
            compiled = to_durable(step.when.tree, self.types, attribute)
            for key, leaf in compiled.leaves.items():
                self.leaves[f"{step.id}{key}"] = leaf
            tests.append(_prefixed(compiled.expression, step.id))
        return {"$and": tests}

    def match(
        self, event: Mapping[str, Any], profile: Mapping[str, Any], today: dt.date | None = None
    ) -> list[CompiledStep]:
        """The event steps whose trigger and `when:` this event and profile satisfy.

        `today` (the event's date in the project zone) is what DAYS_SINCE counts to.
        """
        if event.get("type") not in self.event_types:
            return []  # no step listens: spare durable_rules the work
        return self.match_record(self.record(event, profile), today)

    def match_record(self, record: Mapping[str, Any], today: dt.date | None) -> list[CompiledStep]:
        """`match` for a record made by `record` (of an event some step listens to)."""
        tested = self._tested(record, self._leaf_values(record, today))
        key = tuple((name, type(v), v) for name, v in sorted(tested.items()))
        fired = self.fired.get(key)
        if fired is None:
            message = _durable_message(tested)
            if message is None:
                fired = self._python_match(record, today)
            else:
                fired = tuple(sorted(fire(self.name, message)))
            if len(self.fired) >= REMEMBERED:
                self.fired.clear()
            self.fired[key] = fired
        return [self.steps[name] for name in fired]

    def _python_match(self, record: Mapping[str, Any], today: dt.date | None) -> tuple[str, ...]:
        """The steps whose rules hold for `record`, by the Python back end."""
        event_type, level = record.get("event.type"), record.get("level")
        return tuple(
            sorted(
                step.id
                for step in self.steps.values()
                if step.step.on == event_type
                and step.level in (EVERY_LEVEL, level)
                and (step.when is None or step.when.evaluate(record, today))
            )
        )

    def _leaf_values(self, record: Mapping[str, Any], today: dt.date | None) -> dict[str, Any]:
        if not self.leaves:
            return {}
        values = ((key, leaf(record)) for key, leaf in self._leaves(today).items())
        return {key: value for key, value in values if value is not None}

    def _tested(self, record: Mapping[str, Any], leaves: Mapping[str, Any]) -> dict[str, Any]:
        """The part of the message the rules test: all durable_rules' answer depends on."""
        tested: dict[str, Any] = {}
        attributes = self.attributes
        for key, value in record.items():
            name = attributes.get(key, _UNSEEN)  # its attribute if some rule tests it
            if name is _UNSEEN:
                name = attributes[key] = self._tested_attribute(key)
            if value is not None and name is not None:
                tested[name] = _plain(value)
        tested.update((k, v) for k, v in leaves.items() if k in self.tested)
        return tested

    def _tested_attribute(self, key: str) -> str | None:
        """The attribute of a record key that some rule tests; None for the others."""
        name = attribute(key)
        return name if name in self.tested else None

    def _leaves(self, today: dt.date | None) -> dict[str, Any]:
        if today not in self.compiled:
            self.compiled[today] = {
                key: compile_python(tree, self.types, today) for key, tree in self.leaves.items()
            }
        return self.compiled[today]

    def record(self, event: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
        """The profile fields the event steps read and the event's fields, as the Python back
        end sees them (typed, NULL = None)."""
        get = profile.get
        record = {k: get(k) if t == "string" else coerce(get(k), t) for k, t in self.coercions}
        for key, value in event.items():
            name, kind = self._event_field(key)
            record[name] = coerce(value, kind)
        for name in COMPUTED_FIELDS:
            record[name] = profile.get(name)
        return record

    def _event_field(self, key: str) -> tuple[str, str]:
        """An event field's name in a record and its type (event fields are few)."""
        found = self.event_fields.get(key)
        if found is None:
            name = f"event.{key}"
            found = (name, self.types.get(name, "string"))
            if len(self.event_fields) < REMEMBERED:
                self.event_fields[key] = found
        return found


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _durable_message(tested: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tested attributes as durable_rules reads them; None if one of them it cannot."""
    message = {}
    for name, value in tested.items():
        readable = durable_value(value)
        if readable is None:
            return None
        message[name] = readable
    return message


def _attributes(expression: Any) -> set[str]:
    """Every message attribute a durable_rules expression tests."""
    found: set[str] = set()
    if isinstance(expression, list):
        for part in expression:
            found |= _attributes(part)
    elif isinstance(expression, dict):
        for key, value in expression.items():
            if key == "$m":
                found.add(value)
            elif not key.startswith("$"):
                found.add(key)
            if isinstance(value, dict | list):
                found |= _attributes(value)
    return found


def _prefixed(expression: Any, step_id: str) -> Any:
    """Give each step's Python leaves (_p0, _p1, …) names of their own: <step>_p0, …"""
    if isinstance(expression, dict):
        return {
            (f"{step_id}{k}" if k.startswith("_p") else k): _prefixed(v, step_id)
            for k, v in expression.items()
        }
    if isinstance(expression, list):
        return [_prefixed(v, step_id) for v in expression]
    return expression
