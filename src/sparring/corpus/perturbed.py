"""Perturbed gold traces for "structure vs content" (METHODS.md 3, finding 6).

Start from the imitation corpus (gold solutions) and perturb exactly ``round(rate * n)``
rows, chosen with the seeded rng:

- ``shuffle_steps``: the solution's step lines in a random different order (content kept,
  structure broken).
- ``corrupt_digits``: ``digit_rate`` of the solution's digits (at least one) replaced by a
  different digit (structure kept, content broken); a leading digit never becomes 0.
- ``wrong_answer``: the final result (the last number in the text) changed so the task's
  verifier no longer accepts the answer.
- ``swap_traces``: the solution of another row's problem (a cyclic shift over the chosen
  rows, so nobody keeps their own).

A chosen row that the perturbation cannot change (a one-line solution cannot be
shuffled, ``No solution`` has no digits, a swap that lands on an identical text) stays
gold and keeps its ``gold``/``abstain`` label; changed rows are ``perturbed:<kind>``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from datasets import Dataset

from ..tasks.base import Problem, Task, steps_of
from .common import (
    Options,
    Rows,
    check_args,
    check_templates,
    gold_label,
    int_tuple,
    is_rate,
    need,
    recipe_rng,
    select_problems,
)

KINDS = ("shuffle_steps", "corrupt_digits", "wrong_answer", "swap_traces")
_NUM = re.compile(r"[0-9]{1,12}")


@dataclass
class PerturbedOptions(Options):
    """``kind`` (one of ``KINDS``, required), ``rate`` (share of rows perturbed),
    ``digit_rate`` (corrupt_digits: share of digits changed per solution), ``templates``."""

    recipe = "perturbed"
    kind: str = ""
    rate: float = 1.0
    digit_rate: float = 0.5
    templates: tuple[int, ...] = (0,)

    def needs(self) -> tuple[str, ...]:
        return ("steps",)

    def validate(self) -> None:
        r = self.recipe
        need(self.kind in KINDS, r, "kind", f"must be one of {list(KINDS)}", self.kind)
        need(is_rate(self.rate), r, "rate", "must be a number in [0, 1]", self.rate)
        need(
            is_rate(self.digit_rate) and self.digit_rate > 0,
            r,
            "digit_rate",
            "must be a number in (0, 1]",
            self.digit_rate,
        )
        self.templates = int_tuple(self.templates, r, "templates", 0)


def shuffle_steps(text: str, rng: random.Random) -> str:
    """The step lines in a random order different from the original (or unchanged if impossible)."""
    lines = steps_of(text)
    if len(set(lines)) < 2:
        return text
    for _ in range(20):
        perm = lines[:]
        rng.shuffle(perm)
        if perm != lines:
            return "\n".join(perm)
    return "\n".join(lines[1:] + lines[:1])


def corrupt_digits(text: str, rng: random.Random, digit_rate: float) -> str:
    """Replace ``max(1, round(digit_rate * #digits))`` digits, each by a different digit."""
    pos = [i for i, ch in enumerate(text) if ch.isdigit() and ch.isascii()]
    if not pos:
        return text
    k = min(len(pos), max(1, round(digit_rate * len(pos))))
    chars = list(text)
    for i in rng.sample(pos, k):
        leading = (i == 0 or not text[i - 1].isdigit()) and i + 1 < len(text) and text[i + 1].isdigit()
        choices = [d for d in "0123456789" if d != text[i] and not (leading and d == "0")]
        chars[i] = rng.choice(choices)
    return "".join(chars)


def wrong_answer(task: Task, problem: Problem, text: str, rng: random.Random) -> str:
    """Change the last number of the text until the verifier rejects the answer."""
    last = None
    for last in _NUM.finditer(text):
        pass
    if last is None:
        return text
    value = int(last[0])
    deltas = [1, -1, 2, -2, 3, -3, 10, -10, 7, 11]
    rng.shuffle(deltas)
    for d in deltas:
        if value + d < 0:
            continue
        new = text[: last.start()] + str(value + d) + text[last.end() :]
        if not task.verify(problem, new).answer_correct:
            return new
    return text


def perturbed(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """Gold solutions with ``round(rate * n)`` rows perturbed by ``kind`` (see module doc).

    The problems are those of ``imitation`` with the same ``n`` and ``seed``; with a single
    template (the default) the prompts are identical too, so a perturbed arm differs from
    the imitation arm only in its completions.
    """
    o = PerturbedOptions.make(options)
    check_args(o.recipe, task, n, seed)
    o.require(task)
    templates = check_templates(task, o.recipe, o.templates)
    rng = recipe_rng(f"{o.recipe}:{o.kind}", task, seed)
    problems = select_problems(task, n, seed)
    prompts = [task.prompt(p, rng.choice(templates)) for p in problems]
    gold = [task.solve(p) for p in problems]
    out = list(gold)
    chosen = sorted(rng.sample(range(n), round(o.rate * n)))
    if o.kind == "swap_traces":
        order = chosen[:]
        rng.shuffle(order)
        if len(order) == 1 and n > 1:  # one row to perturb: take any other row's solution
            out[order[0]] = gold[(order[0] + 1) % n]
        elif len(order) > 1:
            for j, i in enumerate(order):
                out[i] = gold[order[(j + 1) % len(order)]]
    else:
        for i in chosen:
            if o.kind == "shuffle_steps":
                out[i] = shuffle_steps(gold[i], rng)
            elif o.kind == "corrupt_digits":
                out[i] = corrupt_digits(gold[i], rng, o.digit_rate)
            else:
                out[i] = wrong_answer(task, problems[i], gold[i], rng)
    rows = Rows(task)
    for p, prompt, g, text in zip(problems, prompts, gold, out):
        rows.add(p, prompt, text, gold_label(p) if text == g else f"perturbed:{o.kind}")
    return rows.dataset()
