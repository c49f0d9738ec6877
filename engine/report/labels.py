"""Names as business users read them: 中文 label and English, from the rule project."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.i18n import N_, _
from guanxi.engine.ruleset import Ladder, RuleSet

NONE_LABEL = N_("(none)")
YUAN = "元"


@dataclass(frozen=True)
class Labels:
    tiers: dict[str, str] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    tier_order: tuple[str, ...] = ()  # as written in the rule files
    level_order: tuple[str, ...] = ()
    money: frozenset[str] = frozenset()  # fields that are amounts in yuan (`unit: 元`)

    def tier(self, name: str | None) -> str:
        return _(NONE_LABEL) if name is None else self.tiers.get(name, name)

    def level(self, name: str | None) -> str:
        return _(NONE_LABEL) if name is None else self.levels.get(name, name)

    def step(self, step_id: str) -> str:
        return self.steps.get(step_id, step_id)

    def field(self, name: str) -> str:
        return self.fields.get(name, name)

    def to_dict(self) -> dict[str, Any]:
        return {"tiers": self.tiers, "levels": self.levels, "steps": self.steps}


def labels_of(ruleset: RuleSet) -> Labels:
    fields = {n: _both(f.label, f.label_en, n) for n, f in ruleset.schema.fields.items()}
    fields.update({m.name: _both(m.label, m.label_en, m.name) for m in ruleset.measures})
    steps = {s.id: _both(s.step.label, None, s.id) for s in ruleset.steps}
    return Labels(
        _ladder(ruleset.tiers),
        _ladder(ruleset.levels),
        steps,
        fields,
        ruleset.tiers.names,
        ruleset.levels.names,
        frozenset(n for n, f in ruleset.schema.fields.items() if f.unit == YUAN),
    )


def _ladder(ladder: Ladder) -> dict[str, str]:
    return {r.name: _both(r.label, r.label_en, r.name) for r in ladder.rules}


def _both(label: str | None, label_en: str | None, name: str) -> str:
    """'有价值客户 valuable': the Chinese label, then the English one (else the name)."""
    english = label_en or name
    return f"{label} {english}" if label and label != english else english
