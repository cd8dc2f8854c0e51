"""The task registry: a family registers its Task class once, in its own folder.

    @register
    class MyTask(Task): ...

``sparring.tasks`` imports every sub-package of ``sparring/tasks/`` at import time, so a
new family is one folder and nothing else to edit (docs/tasks.md).
"""

from __future__ import annotations

from .base import CAPABILITIES, Problem, Task

_REGISTRY: dict[str, type[Task]] = {}
# the method each capability promises (the Task defaults raise the missing-capability error)
_METHOD_OF = {"flaws": "flaw", "search": "search_trace", "wrong_answers": "plausible_wrong_answer"}


def register(cls: type[Task]) -> type[Task]:
    """Register a Task subclass under ``cls.name`` (a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    unknown = sorted(set(cls.capabilities) - set(CAPABILITIES))
    if unknown:
        raise ValueError(f"{cls.__name__}.capabilities: unknown {unknown}; allowed: {list(CAPABILITIES)}")
    levels = list(cls.levels)
    if not levels or levels[0] != "id":
        raise ValueError(f"{cls.__name__}.levels: the first level must be 'id', got {levels}")
    for capability, method in _METHOD_OF.items():
        if capability in cls.capabilities and getattr(cls, method) is getattr(Task, method):
            raise ValueError(f"{cls.__name__}: declares {capability!r} but does not implement {method}()")
    if len(cls.templates) < 2:
        raise ValueError(f"{cls.__name__}.templates: at least two templates are needed (prompt sensitivity)")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"task: {cls.name!r} is registered twice ({_REGISTRY[cls.name].__name__}, {cls.__name__})")
    _REGISTRY[cls.name] = cls
    return cls


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def task_class(name: str) -> type[Task]:
    if name not in _REGISTRY:
        raise ValueError(f"task: unknown task {name!r}; available: {list_tasks()}")
    return _REGISTRY[name]


def get_task(name: str, **config) -> Task:
    """A configured task instance; unknown names or config fields raise ValueError."""
    return task_class(name)(**config)


def load_problem(d: dict) -> Problem:
    """A Problem from its dict form, checked against its task's generator (untrusted input)."""
    p = Problem.from_dict(d)
    if p.task not in _REGISTRY:
        raise ValueError(f"problem.task: unknown task {p.task!r}; available: {list_tasks()}")
    return _REGISTRY[p.task].check_problem(p)
