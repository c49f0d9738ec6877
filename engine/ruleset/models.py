"""The shape of every rule file, as pydantic models (unknown keys are errors).

These models check structure only: kinds of values and allowed words. What needs the whole
project (conditions against the schema, references between files, durations, cron) is checked
in `checks.py`, so that every problem can point at its own line.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from guanxi.engine.i18n import _
from guanxi.engine.language.numbers import spoken_percent
from guanxi.engine.language.yes_no import said_yes_no
from guanxi.engine.timing import MAX_AMOUNT, Schedule, parse_schedule

FieldTypeName = Literal["string", "integer", "number", "boolean", "date", "datetime"]
HitPolicy = Literal["first", "unique", "priority"]
StepKind = Literal["task", "message"]
# The kind of personal data a customer field holds, masked by its kind in what commands show
# (个人信息保护法); `false`: not personal, whatever the field's name suggests.
PersonalKind = Literal["name", "phone", "email", "id_number", "other"]
PERSONAL_KINDS = typing.get_args(PersonalKind)


def problem(code: str, message: str, hint: str) -> PydanticCustomError:
    """A validator's error named after its diagnostic `code`, read back in reading.py;
    `message` and `hint` are already in the user's language."""
    return PydanticCustomError(code, message, {"hint": hint})


def _written_condition(value: Any) -> Any:
    """A condition that is given must say something: `when: ""` or a bare `when:` would
    otherwise match every customer without anyone having written so. YAML reads
    `when: TRUE` as a boolean; in a rule it means the condition TRUE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None or (isinstance(value, str) and not value.strip()):
        hint = _("write the condition, or leave the key out ('when: TRUE' matches everyone)")
        raise problem("empty-condition", _("the condition is empty"), hint)
    return value


Condition = Annotated[str | None, BeforeValidator(_written_condition)]


def _personal_kind(value: Any) -> Any:
    """One problem for a wrong `personal:`, naming every kind (not one per kind of value);
    `personal: 否` is false, `personal: 是` does not say which kind."""
    said = said_yes_no(value)
    if said is None or said is False or said in PERSONAL_KINDS:
        return said
    hint = _("write one of {kinds}, or false for a field that is not personal").format(
        kinds=", ".join(PERSONAL_KINDS)
    )
    if said is True:
        message = _("'personal: {value}' does not say which kind of personal data it holds")
        raise problem("invalid-value", message.format(value=value), hint)
    message = _("'{value}' is not a kind of personal data").format(value=value)
    raise problem("invalid-value", message, hint)


Personal = Annotated[PersonalKind | Literal[False] | None, BeforeValidator(_personal_kind)]


def _bounded_amount(value: Any) -> Any:
    """The number in '3 business days' stays small enough for date arithmetic (and for
    Python to convert at all: a 5,000-digit number cannot be)."""
    for digits in re.findall(r"\d+", value) if isinstance(value, str) else ():
        if len(digits) > len(str(MAX_AMOUNT)) or int(digits) > MAX_AMOUNT:
            hint = _("a duration's number is at most {limit}").format(limit=f"{MAX_AMOUNT:,}")
            raise problem("invalid-duration", _("the number in this duration is too large"), hint)
    return value


def _unit_given(value: Any) -> Any:
    """`after: 3` says three of what? A number alone is refused with the words to write."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        hint = _("write a number and a unit, e.g. '3 business days'")
        raise problem("invalid-duration", _("'{text}' is not a duration").format(text=value), hint)
    return value


DurationText = Annotated[str, BeforeValidator(_unit_given), AfterValidator(_bounded_amount)]


def _field_list(value: Any) -> Any:
    """`within: kind` is the one-field list `within: [kind]`."""
    return (value,) if isinstance(value, str) else value


FieldList = Annotated[tuple[str, ...], BeforeValidator(_field_list)]


YesNo = Annotated[bool, BeforeValidator(said_yes_no)]  # also 是, 否, 开, 关, ｔｒｕｅ …


class Model(BaseModel):
    # defer_build: a model's validator is built when it first validates; a project read back
    # from the disk cache (unpickled) never does, and building all of them at import cost
    # 0.1 s of CPU at the start of every command that reads the rules
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True
    )


class AdapterSpec(BaseModel):
    """Which adapter delivers a channel, and its options (every other key):
    `{adapter: webhook, url: "https://sms.example/send", timeout: 5}`."""

    model_config = ConfigDict(
        extra="allow", frozen=True, str_strip_whitespace=True, defer_build=True
    )
    adapter: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _adapter_spec(value: Any) -> Any:
    return {"adapter": value} if isinstance(value, str) else value


class Delivery(Model):
    """guanxi.yaml `delivery:` — the adapter of each channel; `default` for the rest."""

    default: AdapterSpec = AdapterSpec(adapter="outbox")
    channels: dict[str, AdapterSpec] = Field(default_factory=dict)

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        return _adapter_spec(value)

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _adapter_spec(spec) for name, spec in value.items()}
        return value


class DaemonSettings(Model):
    """guanxi.yaml `daemon:` — how `guanxi run` works."""

    tick_every: DurationText = "30 seconds"  # how often due follow-ups are dispatched
    batch: int = Field(default=500, ge=1, le=100_000)  # follow-ups claimed at a time
    lease: DurationText = "5 minutes"  # a claim not concluded by then is claimed again
    max_attempts: int = Field(default=5, ge=1, le=100)  # then a dead letter
    retry_after: DurationText = "30 seconds"  # the first retry's delay; doubled each time …
    retry_cap: DurationText = "1 hour"  # … up to this
    reload_every: DurationText = "5 seconds"  # how often the rule project is checked for edits
    port: int | None = Field(default=9464, ge=0, le=65535)  # /healthz, /metrics; null: none


class RulesSettings(Model):
    """guanxi.yaml `rules:` — where the daemon takes its rules from: this folder, each saved
    edit taken at once (`folder`, for development), or only the approved release in the
    store (`releases`: `guanxi release propose` / `approve`, engine/releases)."""

    mode: Literal["folder", "releases"] = "folder"


class RetentionSettings(Model):
    """guanxi.yaml `retention:` — how long each kind of record is kept (engine/privacy/
    retention.py): a window such as '400 days' or '3 years'; none: kept for ever."""

    events: str | None = None
    followups: str | None = None
    deliveries: str | None = None
    decisions: str | None = None
    quarantine: str | None = None
    transitions: str | None = None  # the tier moves, by when they happened
    field_history: str | None = None  # values superseded before the window go
    consent: str | None = None  # consent records superseded before the window go
    outbox: str | None = None  # the file adapters' lines; by default the deliveries' window
    archive: Literal["none", "parquet"] = "none"  # parquet: written there before deletion
    archive_folder: str = "archive"  # relative to the store's folder
    batch: int = Field(default=10_000, ge=1, le=1_000_000)  # rows deleted per transaction
    at: str = "03:00"  # when the daemon applies it, each night

    def windows(self) -> dict[str, str]:
        """The kinds of record given a window, and their windows."""
        kinds = (
            "events", "followups", "deliveries", "decisions", "quarantine", "transitions",
            "field_history", "consent", "outbox",
        )  # fmt: skip
        return {k: getattr(self, k) for k in kinds if getattr(self, k) is not None}

    def outbox_window(self) -> str | None:
        """The window of the file adapters' lines: the outbox's, else the deliveries' (the
        lines are the copies of what the deliveries ledger says was sent)."""
        return self.outbox or self.deliveries


class Settings(Model):
    """guanxi.yaml — the project's settings."""

    name: str = "guanxi rules"
    timezone: str = "Asia/Shanghai"
    calendar: str = "CN"
    calendar_overrides: str | None = None
    store: str = "guanxi.db"
    spark_master: str = "local[2]"  # where `classify --engine spark` runs
    snapshot_memory: str = "3GB"  # what DuckDB may use classifying a snapshot (ruleset/sizes)
    classify_every: str = "day"  # or a cron expression, or "never" (another job classifies)
    classify_at: str = "02:00"
    delivery: Delivery = Delivery()
    daemon: DaemonSettings = DaemonSettings()
    rules: RulesSettings = RulesSettings()
    retention: RetentionSettings = RetentionSettings()
    shadow: str | None = None  # a candidate rule project the daemon runs beside (daemon/shadow.py)

    def classify_schedule(self) -> Schedule | None:
        """When the daemon classifies; None for `classify_every: never`. Raises TimingError."""
        if self.classify_every.strip().lower() == "never":
            return None
        return parse_schedule(self.classify_every, None, self.classify_at)


class FieldSpec(Model):
    type: FieldTypeName
    label: str
    label_en: str | None = None
    required: YesNo = False
    # The allowed values: a list of names, or {name: label} so that a file may give either.
    # Iterating yields the names in both cases.
    values: tuple[str, ...] | dict[str, str] | None = None
    min: float | None = None  # integer and number fields: the lowest value a row may give
    max: float | None = None  # and the highest
    unit: str | None = None  # 元: an amount of money, shown as ¥1,234,567 in reports
    personal: Personal = None  # None: known by the field's name (see engine/privacy/views)
    description: str | None = None

    def value_labels(self) -> dict[str, str]:
        """Each allowed value's label ({} when `values:` is a plain list)."""
        return dict(self.values) if isinstance(self.values, dict) else {}

    def accepted_values(self) -> dict[str, str] | None:
        """What a file may write (a name or a label) -> the name stored; None: any value."""
        if not self.values:
            return None
        labels = {label: name for name, label in self.value_labels().items()}
        return {**labels, **{name: name for name in self.values}}

    @field_validator("values")
    @classmethod
    def _labels_unique(
        cls, values: tuple[str, ...] | dict[str, str] | None
    ) -> tuple[str, ...] | dict[str, str] | None:
        if not isinstance(values, dict):
            return values
        seen: dict[str, str] = {}
        for name, label in values.items():
            label = label.strip()
            if not label:
                raise ValueError(_("the value '{name}' has an empty label").format(name=name))
            other = seen.get(label) or (label if label in values and label != name else None)
            if other is not None:
                message = _("'{name}' and '{other}' cannot both be written '{label}'")
                raise ValueError(message.format(name=name, other=other, label=label))
            seen[label] = name
        return {name.strip(): label.strip() for name, label in values.items()}

    @model_validator(mode="after")
    def _bounds(self) -> FieldSpec:
        bounded = self.min is not None or self.max is not None
        if bounded and self.type not in ("integer", "number"):
            message = _("min and max bound numbers: only integer and number fields have them")
            raise ValueError(message)
        if self.min is not None and self.max is not None and self.min > self.max:
            message = _("min {min} is more than max {max}")
            raise ValueError(message.format(min=f"{self.min:g}", max=f"{self.max:g}"))
        return self


class EventSpec(Model):
    label: str
    label_en: str | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)


class Schema(Model):
    """schema.yaml — customer fields and event types that rules may use."""

    key: str = "customer_id"
    fields: dict[str, FieldSpec]
    events: dict[str, EventSpec] = Field(default_factory=dict)
    # text fields besides the key that are read as ids (engine/ids.py): the ones naming the
    # customer's relationship manager and corporate group; marked by the rule-set loader
    # (with_ids), never written in schema.yaml
    _other_ids: frozenset[str] = PrivateAttr(default=frozenset())
    # text fields a channel sends to (`address_field`): marked by the loader (with_contacts)
    _contacts: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def ids(self) -> tuple[str, ...]:
        """The fields read as ids: the key, then the others in schema order."""
        return (self.key, *(n for n in self.fields if n in self._other_ids and n != self.key))

    def with_ids(self, names: Iterable[str | None]) -> Schema:
        """This schema, reading as ids also those of `names` that are its text fields: a
        manager typed `ＲＭ００１` is `RM001`, never a second manager."""
        marked = self.model_copy()
        text = {n for n, spec in self.fields.items() if spec.type == "string"}
        marked._other_ids = frozenset(n for n in names if n in text)
        return marked

    @property
    def contacts(self) -> frozenset[str]:
        """The text fields a channel sends to (a phone, an e-mail)."""
        return self._contacts

    def with_contacts(self, names: Iterable[str | None]) -> Schema:
        """This schema, knowing the text fields of `names` as addresses channels send to."""
        marked = self.model_copy()
        text = {n for n, spec in self.fields.items() if spec.type == "string"}
        marked._contacts = frozenset(n for n in names if n in text)
        return marked


class Rule(Model):
    """One row of an ordered rule list: a tier, a level or a strategy."""

    name: str
    label: str
    label_en: str | None = None
    when: Condition = None
    priority: int | None = None
    description: str | None = None


class Measure(Model):
    """A derived value: an arithmetic `expr`, the percentile rank of a field (0 to 1), or a
    measure over the customer's events (`count: complaint`, `sum: sale.amount`, `max:`,
    `min:`, `days_since: sale`) in a window of days (`in_last: 90 days`), or the change of a
    field since an earlier classification run (`change: balance`, `since: 30 days`)."""

    name: str
    label: str
    label_en: str | None = None
    expr: Condition = None
    percentile_of: str | None = None
    within: FieldList = ()  # rank among the customers with the same values of these fields
    # roll-ups over the customer's corporate group (集团): the members' total, largest value,
    # or how many members there are (`group_count: true`)
    group_sum: str | None = None
    group_max: str | None = None
    group_count: YesNo | None = None
    count: str | None = None  # an event type
    sum: str | None = None  # type.field: a number field of an event type
    max: str | None = None
    min: str | None = None
    days_since: str | None = None  # an event type: days since its newest event
    in_last: str | None = None  # '90 days': the window, counted back from the day classified
    where: Condition = None  # on the event's fields: only the events it holds for count
    # the change of a number field between classification runs: `change: balance`,
    # `since: 30 days` (or `since: last run`), `as: percent` (-0.3: fell 30 %) or difference
    change: str | None = None
    since: str | None = None
    as_: str | None = Field(default=None, alias="as")
    scorecard: YesNo = False  # the report's scorecard shows its mean: an assessment


def _percent_sign(value: Any) -> Any:
    """`top_percent: 5%` is `top_percent: 5`: the sign only says what the number already is."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1].strip()
    return value


class Gold(Model):
    """金牌客户: the top `top_percent` % of customers by `by` (contribution), among all
    customers or, with `within`, among those with the same values of these fields."""

    label: str = "金牌客户"
    by: str
    top_percent: Annotated[float, BeforeValidator(_percent_sign), Field(gt=0, le=100)]
    within: FieldList = ()


class TiersFile(Model):
    measures: tuple[Measure, ...] = ()
    group_by: str = "group_id"  # the customer field naming a customer's group (集团)
    gold: Gold | None = None
    hit_policy: HitPolicy = "first"
    hold: int | str | None = None  # "2 runs": see ladders.py
    order: tuple[str, ...] | None = None  # lowest first: what `on_fall:`/`on_rise:` go by
    tiers: tuple[Rule, ...] | None = None
    decision_table: str | None = None
    sheet: str | None = None  # of an .xlsx decision table; the first sheet if not given


class LevelsFile(Model):
    hit_policy: HitPolicy = "first"
    hold: int | str | None = None  # "2 runs": see ladders.py
    order: tuple[str, ...] | None = None  # lowest first: what `on_fall:`/`on_rise:` go by
    levels: tuple[Rule, ...] | None = None
    decision_table: str | None = None
    sheet: str | None = None  # of an .xlsx decision table; the first sheet if not given


class StrategiesFile(Model):
    hit_policy: HitPolicy = "first"
    hold: int | str | None = None  # "2 runs": see ladders.py
    strategies: tuple[Rule, ...] | None = None
    decision_table: str | None = None
    sheet: str | None = None  # of an .xlsx decision table; the first sheet if not given


def _share(value: Any) -> Any:
    """A share of customers: `10%` or 0.1, more than nothing and less than everyone."""
    number = value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or not 0 < number < 1:
        said = spoken_percent(str(value))  # 百分之十, 一成
        hint = _("write {text}").format(text=said) if said and 0 < float(said[:-1]) < 100 else None
        hint = hint or _("write a share between 0% and 100%, e.g. '10%'")
        raise problem("invalid-value", _("'{value}' is not a share").format(value=value), hint)
    return float(number)


Share = Annotated[float, BeforeValidator(_share)]


def _holdout(value: Any) -> Any:
    """`holdout: 10%` is `holdout: {share: 10%}`."""
    return value if isinstance(value, dict) else {"share": value}


class Holdout(Model):
    """Customers kept out of a step to measure its effect: chosen by a hash of the customer
    id and the experiment's name (the step's id unless named), the same on every run."""

    share: Share
    experiment: str | None = None


class Variant(Model):
    """One template of an A/B/n test; customers are split by `weight`."""

    template: str
    weight: float = Field(default=1, gt=0, le=1000)


class Goal(Model):
    """What success means for a step: an event within the window after the follow-up was due,
    or the customer in a tier or level when the window ends; `minimum_effect` the smallest
    rise in the success rate worth detecting (for the sample-size check)."""

    event: str | None = None
    tier: str | None = None
    level: str | None = None
    within: DurationText
    minimum_effect: Share | None = None


class Step(Model):
    """One playbook step: a trigger, optional timing and conditions, and what to do."""

    id: str
    label: str | None = None
    on: str | None = None
    every: str | None = None
    day: int | str | None = None
    on_enter: str | tuple[str, ...] | None = None  # a tier, level, strategy, gold, or a list
    on_leave: str | tuple[str, ...] | None = None
    on_fall: Literal["tier", "level"] | None = None  # down the ladder's `order:`
    on_rise: Literal["tier", "level"] | None = None
    initial: YesNo = False  # on_enter: also on the store's first classification (a baseline)
    keep_when_left: YesNo = False  # on_enter/on_leave: not cancelled when the move is undone
    when: Condition = None
    unless: Condition = None
    cancel_on: tuple[str, ...] = ()
    # only a cancelling event whose fields equal the step's own event's (the same product)
    cancel_same: FieldList = ()
    after: DurationText | None = None
    at: str | None = None
    expires: DurationText | None = None
    do: StepKind
    channel: str
    template: str
    priority: int = Field(default=50, ge=0, le=100)
    mandatory: YesNo = False
    purpose: Literal["marketing", "service"] = "marketing"
    holdout: Annotated[Holdout | None, BeforeValidator(_holdout)] = None
    variants: tuple[Variant, ...] = ()
    goal: Goal | None = None

    @property
    def entering(self) -> tuple[str, ...]:
        """The states `on_enter:` names (none for another trigger)."""
        return _names(self.on_enter)

    @property
    def leaving(self) -> tuple[str, ...]:
        """The states `on_leave:` names (none for another trigger)."""
        return _names(self.on_leave)


def _names(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


class PlaybooksFile(Model):
    """playbooks.yaml; each step is validated on its own so one bad step hides no others."""

    playbooks: dict[str, tuple[dict[str, Any], ...]] = Field(default_factory=dict)


class Channel(Model):
    kind: StepKind
    label: str
    consent_field: str | None = None
    address_field: str | None = None


class Preferred(Model):
    field: str
    fallback: tuple[str, ...] = ()


class Consent(Model):
    marketing_field: str | None = None
    do_not_contact_field: str | None = None


class Cap(Model):
    channel: str = "all"
    max: int = Field(ge=0)
    per: DurationText


class QuietHours(Model):
    start: str
    end: str


class Capacity(Model):
    owner_field: str
    tasks_per_day: int = Field(gt=0)


class Expiry(Model):
    """The bound on lateness of a step without its own `expires:`, by kind, counted from the
    step's due time: past it the follow-up is never sent, it ends `expired`."""

    message: DurationText = "2 days"
    task: DurationText = "10 business days"


class PoliciesFile(Model):
    channels: dict[str, Channel]
    expires: Expiry = Expiry()
    preferred: Preferred | None = None
    consent: Consent = Consent()
    caps: tuple[Cap, ...] = ()
    quiet_hours: QuietHours | None = None
    capacity: Capacity | None = None
    marketing_holdout: Share | None = None  # customers who get no marketing step at all


class Template(Model):
    kind: StepKind
    label: str | None = None
    subject: str | None = None
    body: str


class TemplatesFile(Model):
    templates: dict[str, Template] = Field(default_factory=dict)


class ScenarioEvent(Model):
    type: str
    at: str
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    repeat: int = Field(default=1, ge=1, le=1000)  # the same event this many times at `at`


class ExpectedFollowup(Model):
    """A follow-up a scenario expects: its step, and what else is given must match too."""

    step: str
    due: str | None = None  # a date (its day in the project's zone) or a date and time
    channel: str | None = None
    policy: str | None = None  # the policy that deferred or suppressed it
    reason: str | None = None  # words its reason contains


class Expectation(Model):
    tier: str | None = None
    level: str | None = None
    strategy: str | None = None
    gold: YesNo | None = None
    followups: tuple[ExpectedFollowup, ...] = ()  # will happen (pending), maybe deferred
    suppressed: tuple[ExpectedFollowup, ...] = ()  # planned, then suppressed or cancelled
    no_followups: tuple[str, ...] = ()  # steps none of whose follow-ups will happen
    # measures of the customer at the scenario's end, as the report computes them
    measures: dict[str, float | None] = Field(default_factory=dict)


Value = str | int | float | bool | None


class ScenarioChange(Model):
    """The customer changes later: from `at` on these fields differ (the others stay)."""

    at: str
    customer: dict[str, Value]


class Scenario(Model):
    """Given a customer (as the day before, and events at their times), what must happen."""

    name: str
    today: str | None = None  # default: the day of the first event
    customer: dict[str, Value]
    before: dict[str, Value] | None = None  # fields that differed the day before today
    baseline: YesNo = False  # today's classification is the store's first
    # classification runs of today's customer; default: as many as the project's hold needs
    runs: int | None = Field(default=None, ge=1, le=100)
    events: tuple[ScenarioEvent, ...] = ()
    # true: plan `every:` steps for 31 days; or a duration
    recurring: Annotated[bool | DurationText, BeforeValidator(said_yes_no)] = False
    later: tuple[ScenarioChange, ...] = ()  # each classified at its time, as a night would
    expect: Expectation


class ScenariosFile(Model):
    population: str | None = None  # customers (CSV or JSONL beside this file) to rank among
    scenarios: tuple[Scenario, ...]


class RuleOverride(Model):
    """A branch's own `when:` for a tier, level or strategy of the head office."""

    when: Condition


class StepOverride(Model):
    """What a branch changes in a playbook step of the head office; `enabled: false` switches
    the step off for the branch's customers."""

    enabled: YesNo = True
    label: str | None = None
    when: Condition = None
    unless: Condition = None
    cancel_on: tuple[str, ...] | None = None
    after: DurationText | None = None
    at: str | None = None
    expires: DurationText | None = None
    day: int | str | None = None
    channel: str | None = None
    template: str | None = None
    priority: int | None = Field(default=None, ge=0, le=100)


class BranchCapacity(Model):
    """A branch's own relationship-manager capacity, for the tasks of its customers (the
    owner is still read from the head office's `capacity.owner_field`)."""

    tasks_per_day: int = Field(gt=0)


class BranchFile(Model):
    """branches/<branch>.yaml — a branch's adjustments of the head office's rules, by name.
    The branch is the file's name, or `branch:` when given (the value of the customers'
    `branch` field it applies to)."""

    branch: str | None = None
    capacity: BranchCapacity | None = None
    tiers: dict[str, RuleOverride] = Field(default_factory=dict)
    levels: dict[str, RuleOverride] = Field(default_factory=dict)
    strategies: dict[str, RuleOverride] = Field(default_factory=dict)
    steps: dict[str, StepOverride] = Field(default_factory=dict)
