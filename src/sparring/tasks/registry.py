"""The task registry: a family registers its Task class once, in its own folder.

    @register
    class MyTask(Task): ...

``sparring.tasks`` imports every sub-package of ``sparring/tasks/`` at import time, so a
new family is one folder and nothing else to edit (docs/tasks.md).
"""

from __future__ import annotations

from typing import Callable

from .base import CAPABILITIES, Problem, Task

_REGISTRY: dict[str, type[Task]] = {}
# families of tasks named ``PREFIX:NAME`` (``rg:chain_sum``): PREFIX -> a factory of the class
_FAMILIES: dict[str, Callable[[str], type[Task]]] = {}
_MADE: dict[str, type[Task]] = {}
# the method each capability promises (the Task defaults raise the missing-capability error)
_METHOD_OF = {"flaws": "flaw", "search": "search_trace", "wrong_answers": "plausible_wrong_answer"}


def register(cls: type[Task]) -> type[Task]:
    """Register a Task subclass under ``cls.name`` (a class decorator)."""
    check_class(cls)
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"task: {cls.name!r} is registered twice ({_REGISTRY[cls.name].__name__}, {cls.__name__})")
    _REGISTRY[cls.name] = cls
    return cls


def register_family(prefix: str, factory: Callable[[str], type[Task]]) -> None:
    """Resolve every task name ``PREFIX:NAME`` with ``factory(NAME)`` (a Task class, checked
    like a registered one, made once; the factory raises ValueError for an unknown NAME).
    Such tasks are not in ``list_tasks``: a family may hold hundreds."""
    _FAMILIES[prefix] = factory


def check_class(cls: type[Task]) -> None:
    """The checks every task class passes: a name, known capabilities with their methods,
    levels starting at "id", at least two templates."""
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


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def task_class(name: str) -> type[Task]:
    if name in _REGISTRY:
        return _REGISTRY[name]
    prefix, sep, rest = str(name).partition(":")
    if sep and prefix in _FAMILIES:
        if name not in _MADE:
            cls = _FAMILIES[prefix](rest)
            check_class(cls)
            _MADE[name] = cls
        return _MADE[name]
    families = ", ".join(f"{p}:NAME" for p in sorted(_FAMILIES))
    raise ValueError(
        f"task: unknown task {name!r}; available: {list_tasks()}" + (f" and {families}" if families else "")
    )


def get_task(name: str, **config) -> Task:
    """A configured task instance; unknown names or config fields raise ValueError."""
    return task_class(name)(**config)


def load_problem(d: dict) -> Problem:
    """A Problem from its dict form, checked against its task's generator (untrusted input)."""
    p = Problem.from_dict(d)
    try:
        cls = task_class(p.task)
    except ValueError as err:
        raise ValueError(f"problem.task: {err}") from err
    return cls.check_problem(p)
