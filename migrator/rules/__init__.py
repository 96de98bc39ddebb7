"""Rule files: their schema, loading and validation (the machinery; the data lives in ``rules/``)."""

from migrator.rules.loader import RuleError, RuleSet, default_rule_dir, load_rules
from migrator.rules.schema import (
    ArgSpec,
    Contract,
    Example,
    Rule,
    RuleKind,
    ValueTransform,
)

__all__ = [
    "ArgSpec",
    "Contract",
    "Example",
    "Rule",
    "RuleError",
    "RuleKind",
    "RuleSet",
    "ValueTransform",
    "default_rule_dir",
    "load_rules",
]
