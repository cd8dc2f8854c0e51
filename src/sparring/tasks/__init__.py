"""Reasoning tasks: seeded generators, exact solvers, safe verifiers, declared capabilities.

    from sparring.tasks import get_task, list_tasks
    task = get_task("countdown", n_numbers=3)
    problems = task.problems(split="test", n=500, seed=0)
    v = task.verify(problems[0], task.solve(problems[0]))   # v.correct is True
    task.require("flaws", by="my recipe")                     # ValueError if it lacks them

Each task family is a sub-package (``countdown/``, ``arith/``, ``linear/``) that registers
itself; every sub-package is imported here, so adding a family touches no other file.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (
    ABSTAIN_TEXT,
    CAPABILITIES,
    Flaw,
    Problem,
    StepCheck,
    Task,
    TaskConfig,
    Verdict,
)
from .flaws import FLAW_KINDS
from .registry import get_task, list_tasks, load_problem, register, task_class

for _info in pkgutil.iter_modules(__path__):
    if _info.ispkg:
        importlib.import_module(f"{__name__}.{_info.name}")

from .arith import Arith, ArithConfig
from .countdown import Countdown, CountdownConfig

__all__ = [
    "ABSTAIN_TEXT",
    "CAPABILITIES",
    "FLAW_KINDS",
    "Flaw",
    "Problem",
    "StepCheck",
    "Task",
    "TaskConfig",
    "Verdict",
    "Arith",
    "ArithConfig",
    "Countdown",
    "CountdownConfig",
    "get_task",
    "list_tasks",
    "load_problem",
    "register",
    "task_class",
]
