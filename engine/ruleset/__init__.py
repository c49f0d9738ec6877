"""Rule projects: the folder of YAML and CSV files business users edit, as one RuleSet."""

from guanxi.engine.ruleset.load import Validation, load_ruleset, read_settings, validate_project
from guanxi.engine.ruleset.ruleset import CompiledRule, CompiledStep, Ladder, Origin, RuleSet

__all__ = [
    "CompiledRule",
    "CompiledStep",
    "Ladder",
    "Origin",
    "RuleSet",
    "Validation",
    "load_ruleset",
    "read_settings",
    "validate_project",
]
