"""`fwmigrate check`: how portable files are, statically (the migration engines run in memory;
nothing is written, no framework is imported, no user code runs). See docs/check.md."""

from migrator.check.paths import check_output, expand_paths
from migrator.check.result import CheckReport, FileCheck, Item, Policy, RuleInfo
from migrator.check.run import check_paths
from migrator.check.score import construct_counts, portability_score

__all__ = [
    "CheckReport",
    "FileCheck",
    "Item",
    "Policy",
    "RuleInfo",
    "check_output",
    "check_paths",
    "construct_counts",
    "expand_paths",
    "portability_score",
]
