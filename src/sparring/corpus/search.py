"""Stream-of-Search corpora (METHODS.md 1.6): completions are whole serialized searches.

Only for tasks with the ``search`` capability (they provide
``task.search_trace(problem, strategy, heuristic, beam) -> (trace, solved)``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import chain, product

from datasets import Dataset

from ..tasks.base import MAX_COMPLETION_CHARS, Problem, Task
from .common import (
    Options,
    Rows,
    check_args,
    check_templates,
    int_tuple,
    more_problems,
    need,
    recipe_rng,
    select_problems,
    str_tuple,
)

Combo = tuple[str, str, int]


@dataclass
class SearchOptions(Options):
    """``strategies`` x ``heuristics`` x ``beams``: the search settings one is drawn from per
    problem (defaults: DFS and BFS, the ``sum`` and ``mult`` heuristics, beams 1..5, the SoS
    mix). ``only_solved``: keep only traces that reach the goal (a problem whose drawn
    setting fails is skipped and another problem drawn). ``templates``: prompt templates."""

    recipe = "search"
    strategies: tuple[str, ...] = ("dfs", "bfs")
    heuristics: tuple[str, ...] = ("sum", "mult")
    beams: tuple[int, ...] = (1, 2, 3, 4, 5)
    only_solved: bool = True
    templates: tuple[int, ...] = (0,)

    def needs(self) -> tuple[str, ...]:
        return ("search",)

    def validate(self) -> None:
        r = self.recipe
        self.strategies = str_tuple(self.strategies, r, "strategies")
        self.heuristics = str_tuple(self.heuristics, r, "heuristics")
        self.beams = int_tuple(self.beams, r, "beams", 1)
        need(isinstance(self.only_solved, bool), r, "only_solved", "must be True or False", self.only_solved)
        self.templates = int_tuple(self.templates, r, "templates", 0)


def check_search(task: Task, recipe: str, strategies, heuristics, beams, probe: Problem) -> list[Combo]:
    """All (strategy, heuristic, beam) combos, each list checked against the task on ``probe``."""
    for name, values in (("strategies", strategies), ("heuristics", heuristics), ("beams", beams)):
        for v in values:
            args = {"strategies": strategies[0], "heuristics": heuristics[0], "beams": beams[0]}
            args[name] = v
            try:
                task.search_trace(probe, args["strategies"], args["heuristics"], args["beams"])
            except ValueError as e:
                raise ValueError(f"{recipe}.{name}: {v!r} rejected by {task.name}: {e}") from e
    return list(product(strategies, heuristics, beams))


def trace_for(
    task: Task, problem: Problem, rng: random.Random, combos: list[Combo], only_solved: bool
) -> tuple[str, str] | None:
    """``(trace, label)`` for one problem with a drawn setting, or None if unusable.

    Label ``search:{strategy}-{heuristic}-{beam}``, with ``:failed`` appended for a
    search that did not reach the goal (only when ``only_solved`` is False). Traces longer
    than the verifier's completion bound are never used.
    """
    s, h, b = rng.choice(combos)
    trace, solved = task.search_trace(problem, s, h, b)
    if (only_solved and not solved) or len(trace) > MAX_COMPLETION_CHARS:
        return None
    return trace, f"search:{s}-{h}-{b}" + ("" if solved else ":failed")


def search(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """SoS rows: prompt = ``task.prompt(p, template)``, completion = the search trace.

    Each problem gets one (strategy, heuristic, beam) drawn with the seeded rng. With
    ``only_solved`` a failed search drops the problem and further train problems are
    drawn until ``n`` rows exist (ValueError if fewer than 1 in 50 problems succeed).
    """
    o = SearchOptions.make(options)
    check_args(o.recipe, task, n, seed)
    o.require(task)
    templates = check_templates(task, o.recipe, o.templates)
    problems = select_problems(task, n, seed)
    combos = check_search(task, o.recipe, o.strategies, o.heuristics, o.beams, problems[0])
    rng = recipe_rng(o.recipe, task, seed)
    rows = Rows(task)
    budget = 50 * n + 1000
    for tried, p in enumerate(chain(problems, more_problems(task, seed))):
        if len(rows) >= n:
            break
        if tried >= budget:
            raise ValueError(
                f"{o.recipe}.only_solved: only {len(rows)} of {n} traces reached the goal in "
                f"{budget} problems; widen beams or set only_solved=False"
            )
        got = trace_for(task, p, rng, combos, o.only_solved)
        if got is not None:
            rows.add(p, task.prompt(p, rng.choice(templates)), got[0], got[1])
    return rows.dataset()
