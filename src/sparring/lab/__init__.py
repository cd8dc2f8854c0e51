"""The lab: experiment specs -> equal-budget arms x seeds -> resumable runs -> SQLite -> report.

sparring run examples/quick.yaml --out runs/quick
sparring report runs/quick

from sparring.lab import load_spec, run, write_report
run(load_spec("examples/quick.yaml"), "runs/quick")
write_report("runs/quick")
"""

from .findings import CLAIMS, RULE
from .report import build as build_report
from .report import fmt_ci, write_report
from .runner import run
from .spec import Arm, Spec, check_spec, load_spec, parse_spec
from .store import Store

__all__ = [
    "Arm",
    "CLAIMS",
    "RULE",
    "Spec",
    "Store",
    "build_report",
    "check_spec",
    "fmt_ci",
    "load_spec",
    "parse_spec",
    "run",
    "write_report",
]
