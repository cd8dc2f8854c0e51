"""Reasoning tasks: seeded generators, exact solvers, safe verifiers, flaws, traces.

    from sparring.tasks import get_task, list_tasks
    task = get_task("countdown", n_numbers=3)
    problems = task.problems(split="test", n=500, seed=0)
    v = task.verify(problems[0], task.solve(problems[0]))   # v.correct is True
"""
from __future__ import annotations

from .base import (
    ABSTAIN_TEXT,
    FLAW_KINDS,
    Flaw,
    Problem,
    StepCheck,
    Task,
    Verdict,
)
from .arith import Arith, ArithConfig
from .countdown import Countdown, CountdownConfig

_REGISTRY: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    """Register a Task subclass under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str, **config) -> Task:
    """A configured task instance; unknown names or config fields raise ValueError."""
    if name not in _REGISTRY:
        raise ValueError(f"task: unknown task {name!r}; available: {list_tasks()}")
    return _REGISTRY[name](**config)


def load_problem(d: dict) -> Problem:
    """A Problem from its dict form, checked against its task's generator (untrusted input)."""
    p = Problem.from_dict(d)
    if p.task not in _REGISTRY:
        raise ValueError(f"problem.task: unknown task {p.task!r}; available: {list_tasks()}")
    return _REGISTRY[p.task].check_problem(p)


register(Countdown)
register(Arith)

__all__ = [
    "ABSTAIN_TEXT", "FLAW_KINDS", "Flaw", "Problem", "StepCheck", "Task", "Verdict",
    "Arith", "ArithConfig", "Countdown", "CountdownConfig", "get_task", "list_tasks",
    "load_problem", "register",
]
