"""The shape of every rule file, as pydantic models (unknown keys are errors).

These models check structure only: kinds of values and allowed words. What needs the whole
project (conditions against the schema, references between files, durations, cron) is checked
in `checks.py`, so that every problem can point at its own line.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FieldTypeName = Literal["string", "integer", "number", "boolean", "date", "datetime"]
HitPolicy = Literal["first", "unique", "priority"]
StepKind = Literal["task", "message"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Settings(Model):
    """guanxi.yaml — the project's settings."""

    name: str = "guanxi rules"
    timezone: str = "Asia/Shanghai"
    calendar: str = "CN"
    calendar_overrides: str | None = None
    store: str = "guanxi.db"
    spark_master: str = "local[2]"  # where `classify --engine spark` runs
    classify_every: str = "day"
    classify_at: str = "02:00"


class FieldSpec(Model):
    type: FieldTypeName
    label: str
    label_en: str | None = None
    required: bool = False
    values: tuple[str, ...] | None = None
    description: str | None = None


class EventSpec(Model):
    label: str
    label_en: str | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)


class Schema(Model):
    """schema.yaml — customer fields and event types that rules may use."""

    key: str = "customer_id"
    fields: dict[str, FieldSpec]
    events: dict[str, EventSpec] = Field(default_factory=dict)


class Rule(Model):
    """One row of an ordered rule list: a tier, a level or a strategy."""

    name: str
    label: str
    label_en: str | None = None
    when: str | None = None
    priority: int | None = None
    description: str | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> Any:
        """YAML reads `when: TRUE` as a boolean; in a rule it means the condition TRUE."""
        return ("TRUE" if value else "FALSE") if isinstance(value, bool) else value


class Measure(Model):
    """A derived value: an arithmetic `expr`, or the percentile rank of a field (0 to 1)."""

    name: str
    label: str
    label_en: str | None = None
    expr: str | None = None
    percentile_of: str | None = None


class Gold(Model):
    """金牌客户: the top `top_percent` % of customers by `by` (contribution)."""

    label: str = "金牌客户"
    by: str
    top_percent: float = Field(gt=0, le=100)


class TiersFile(Model):
    measures: tuple[Measure, ...] = ()
    gold: Gold | None = None
    hit_policy: HitPolicy = "first"
    tiers: tuple[Rule, ...] | None = None
    decision_table: str | None = None


class LevelsFile(Model):
    hit_policy: HitPolicy = "first"
    levels: tuple[Rule, ...] | None = None
    decision_table: str | None = None


class StrategiesFile(Model):
    hit_policy: HitPolicy = "first"
    strategies: tuple[Rule, ...] | None = None
    decision_table: str | None = None


class Step(Model):
    """One playbook step: a trigger, optional timing and conditions, and what to do."""

    id: str
    label: str | None = None
    on: str | None = None
    every: str | None = None
    day: int | str | None = None
    on_enter: str | None = None
    on_leave: str | None = None
    when: str | None = None
    unless: str | None = None
    cancel_on: tuple[str, ...] = ()
    after: str | None = None
    at: str | None = None
    expires: str | None = None
    do: StepKind
    channel: str
    template: str
    priority: int = Field(default=50, ge=0, le=100)
    mandatory: bool = False
    purpose: Literal["marketing", "service"] = "marketing"


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
    per: str


class QuietHours(Model):
    start: str
    end: str


class Capacity(Model):
    owner_field: str
    tasks_per_day: int = Field(gt=0)


class PoliciesFile(Model):
    channels: dict[str, Channel]
    preferred: Preferred | None = None
    consent: Consent = Consent()
    caps: tuple[Cap, ...] = ()
    quiet_hours: QuietHours | None = None
    capacity: Capacity | None = None


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


class ExpectedFollowup(Model):
    step: str
    due: str | None = None
    channel: str | None = None


class Expectation(Model):
    tier: str | None = None
    level: str | None = None
    strategy: str | None = None
    gold: bool | None = None
    followups: tuple[ExpectedFollowup, ...] = ()
    no_followups: tuple[str, ...] = ()


class Scenario(Model):
    name: str
    today: str | None = None
    customer: dict[str, str | int | float | bool | None]
    events: tuple[ScenarioEvent, ...] = ()
    expect: Expectation


class ScenariosFile(Model):
    scenarios: tuple[Scenario, ...]
