"""Critique Fine-Tuning corpora (METHODS.md 1.2, 1.3): ``critique`` and ``one_shot_critique``.

Both use the published CFT prompt/target (see ``critique_format``) and by default the
programmatic teacher, which is exact: it reads the task verifier's per-step verdicts, so
with ``wrong_critique_rate=0`` every critique's verdict and first-error step are the truth.
With ``teachers`` (OpenAI-compatible endpoints, ``teacher_critique``) the critiques come
from LLMs instead, kept where they agree with the verifier; one-shot CFT's candidates can
come from LLM ``generators`` too (docs/teachers.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from ..tasks import load_problem
from ..tasks.base import Problem, Task
from .common import (
    Rows,
    candidate,
    check_args,
    int_tuple,
    is_int,
    is_rate,
    need,
    recipe_rng,
    select_problems,
)
from .critique_format import PHRASINGS, PUBLISHED_PHRASINGS, critique_prompt, mis_blocks, render, teacher_blocks
from .teacher import parse_endpoints
from .teacher_critique import TeacherOptions, attach, critique_all, generate_candidates

QUESTION_STYLES = ("prompt", "words")
ID_SCAN = 5000  # one_shot_critique looks a problem_id up among this many train problems


def critique_question(task: Task, problem: Problem, question: str, style: str = "char") -> str:
    """The question x shown in a critique prompt: ``question`` "prompt" is the task's
    canonical char prompt (stripped; what a char model sees at test time), "words" its
    worded question. Chat style always shows the worded question: the chat prompt asks for
    an ``<answer>`` tag, and the solutions critiqued are step lines without one."""
    if question not in QUESTION_STYLES:
        raise ValueError(f"critique question: must be one of {list(QUESTION_STYLES)}, got {question!r}")
    return task.prompt(problem, 0).strip() if question == "prompt" and style == "char" else task.question(problem)


def _check_style(recipe: str, style: object) -> None:
    need(style in QUESTION_STYLES, recipe, "question_style", f"must be one of {list(QUESTION_STYLES)}", style)


# ---- critique ------------------------------------------------------------------------
@dataclass
class CritiqueOptions(TeacherOptions):
    """``question_style``: "prompt" (the task's canonical prompt, what a char model sees at
    test time) or "words" (``task.question``). ``flaw_rate``: chance a candidate solution is
    a planted flaw (else gold). ``wrong_critique_rate``: exact fraction of rows whose
    critique is deliberately wrong (imperfect teacher). ``phrasings``: explanation
    wordings to sample from (ids into ``PHRASINGS``; 4 is the work-first layout).
    ``teachers`` and ``teacher_*``: LLM critics instead of the programmatic teacher
    (``teacher_critique``; then ``phrasings`` is unused and ``wrong_critique_rate`` must be 0)."""

    recipe = "critique"
    chat = True
    question_style: str = "prompt"
    flaw_rate: float = 0.5
    wrong_critique_rate: float = 0.0
    phrasings: tuple[int, ...] = (0,)

    def needs(self) -> tuple[str, ...]:
        return ("flaws",)

    def validate(self) -> None:
        _check_style(self.recipe, self.question_style)
        need(is_rate(self.flaw_rate), self.recipe, "flaw_rate", "must be a number in [0, 1]", self.flaw_rate)
        need(
            is_rate(self.wrong_critique_rate),
            self.recipe,
            "wrong_critique_rate",
            "must be a number in [0, 1]",
            self.wrong_critique_rate,
        )
        self.phrasings = int_tuple(self.phrasings, self.recipe, "phrasings", 0, len(PHRASINGS) - 1)
        self.validate_teachers()
        need(
            not self.teachers or self.wrong_critique_rate == 0,
            self.recipe,
            "wrong_critique_rate",
            "is for the programmatic teacher only; LLM teachers make their own mistakes (set 0)",
            self.wrong_critique_rate,
        )


def critique(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """CFT rows: prompt = the CFT prompt around (question, candidate solution), completion =
    the step-level critique ending ``Conclusion: right|wrong [END]``.

    Candidates are the gold solution or, with probability ``flaw_rate``, a planted flaw
    (unsolvable problems: the gold abstention). Labels: ``critique:right`` /
    ``critique:wrong`` for honest critiques (the candidate's true status), and
    ``critique:right:false_alarm``, ``critique:wrong:missed``, ``critique:wrong:misplaced``
    for the ``round(wrong_critique_rate * n)`` rows whose critique is wrong on purpose.

    With ``teachers``: the same ``n`` candidates, each critiqued by one LLM teacher (round
    robin), and only the critiques that agree with the verifier kept, so FEWER than ``n``
    rows; the counts are on the dataset card (``teacher``).
    """
    o = CritiqueOptions.make(options)
    check_args(o.recipe, task, n, seed)
    o.require(task)
    rng = recipe_rng(o.recipe, task, seed)
    problems = select_problems(task, n, seed)
    if o.teachers:
        items = [
            (p, critique_question(task, p, o.question_style, o.style), candidate(task, p, rng, o.flaw_rate)[0])
            for p in problems
        ]
        kept, entry = critique_all(o, task, items, seed=seed)
        if not kept:
            raise ValueError(f"{o.recipe}.teachers: no teacher critique agreed with the verifier: {entry['totals']}")
        rows = Rows(task, o.style)
        for p, prompt, completion, label in kept:
            rows.add(p, prompt, completion, label)
        return attach(rows.dataset(), {"critics": entry})
    wrong_rows = set(rng.sample(range(n), round(o.wrong_critique_rate * n)))
    rows = Rows(task, o.style)
    for i, p in enumerate(problems):
        y, _ = candidate(task, p, rng, o.flaw_rate)
        verdict = task.verify(p, y)
        ph = rng.choice(o.phrasings)
        truth = "right" if verdict.correct else "wrong"
        if i in wrong_rows:
            blocks, says_right, how = mis_blocks(task, p, verdict, rng, ph)
            label = f"critique:{truth}:{how}"
        else:
            blocks, says_right, label = teacher_blocks(task, p, verdict, ph), verdict.correct, f"critique:{truth}"
        prompt = critique_prompt(critique_question(task, p, o.question_style, o.style), y)
        rows.add(p, prompt, render(blocks, says_right, ph), label)
    return rows.dataset()


# ---- one-shot critique -----------------------------------------------------------------
@dataclass
class OneShotOptions(TeacherOptions):
    """The seed problem is ``task.problems("train", problem_index + 1, seed)[problem_index]``;
    with ``difficulty`` set, the ``problem_index``-th distinct problem of that difficulty in
    ``task.iter_problems("train", seed)``; with ``problem_id``, the problem with that id among
    the first ``ID_SCAN`` train problems of ``seed`` (what the other recipes draw from); with
    ``problem`` (a problem dict or its JSON), that problem, if it is a train problem
    (``problem`` wins over ``problem_id``, which wins over ``problem_index``).
    Candidates: every distinct gold solution (``task.solutions``, up to ``max_solutions``)
    and every distinct flaw of every kind over ``flaw_seeds`` seeds.
    Each is critiqued in every wording of ``phrasings``; exact duplicates are removed and
    the ``trim`` fraction of longest and of shortest critiques dropped (within the right
    and within the wrong critiques). ``right_share``: share of rows critiquing a right
    solution (None = the pool's own proportion, which for planted flaws is tiny).
    ``generators`` (endpoints like ``teachers``; None = the ``teachers``): the candidates
    are instead the distinct replies of ``samples_per_generator`` requests to each generator
    (the seed problem's prompt, ``generator_temperature``; published: 10 x 10).
    ``teachers``: every teacher critiques every candidate ``critiques_per_solution`` times,
    critiques that disagree with the verifier dropped (``teacher_critique``)."""

    recipe = "one_shot_critique"
    chat = True
    problem_index: int = 0
    problem_id: str | None = None
    problem: Any = None
    difficulty: str | None = None
    flaw_seeds: int = 40
    max_solutions: int = 20
    phrasings: tuple[int, ...] = PUBLISHED_PHRASINGS
    question_style: str = "prompt"
    trim: float = 0.05
    right_share: float | None = 0.5
    generators: Any = None
    samples_per_generator: int = 10
    generator_temperature: float = 1.0
    critiques_per_solution: int = 1

    def needs(self) -> tuple[str, ...]:
        return ("flaws",)

    def validate(self) -> None:
        r = self.recipe
        self.validate_teachers()
        if self.generators is not None:
            self.generators = list(parse_endpoints(self.generators, f"{r}.generators"))
        for name in ("samples_per_generator", "critiques_per_solution"):
            v = getattr(self, name)
            need(is_int(v) and 1 <= v <= 1000, r, name, "must be an integer in 1..1000", v)
        t = self.generator_temperature
        ok = isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 5
        need(ok, r, "generator_temperature", "must be a number in [0, 5]", t)
        need(
            is_int(self.problem_index) and 0 <= self.problem_index <= 100_000,
            r,
            "problem_index",
            "must be an integer in 0..100000",
            self.problem_index,
        )
        need(
            self.problem_id is None or (isinstance(self.problem_id, str) and 0 < len(self.problem_id) <= 64),
            r,
            "problem_id",
            "must be None or a problem id string",
            self.problem_id,
        )
        need(
            self.problem is None or isinstance(self.problem, (str, dict)),
            r,
            "problem",
            "must be None, a problem dict or its JSON string",
            type(self.problem).__name__,
        )
        need(
            self.difficulty is None or isinstance(self.difficulty, str),
            r,
            "difficulty",
            "must be None or a difficulty name such as 'medium'",
            self.difficulty,
        )
        need(
            is_int(self.flaw_seeds) and 1 <= self.flaw_seeds <= 10_000,
            r,
            "flaw_seeds",
            "must be an integer in 1..10000",
            self.flaw_seeds,
        )
        need(
            is_int(self.max_solutions) and 1 <= self.max_solutions <= 10_000,
            r,
            "max_solutions",
            "must be an integer in 1..10000",
            self.max_solutions,
        )
        self.phrasings = int_tuple(self.phrasings, r, "phrasings", 0, len(PHRASINGS) - 1)
        _check_style(r, self.question_style)
        need(
            self.right_share is None or is_rate(self.right_share),
            r,
            "right_share",
            "must be None (pool proportions) or a number in [0, 1]",
            self.right_share,
        )
        need(
            isinstance(self.trim, (int, float)) and not isinstance(self.trim, bool) and 0 <= self.trim < 0.5,
            r,
            "trim",
            "must be a number in [0, 0.5)",
            self.trim,
        )


def _seed_problem(task: Task, o: OneShotOptions, seed: int) -> Problem:
    r = o.recipe
    if o.problem is not None:
        try:
            d = json.loads(o.problem) if isinstance(o.problem, str) else o.problem
            p = load_problem(d)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{r}.problem: not a valid problem: {e}") from e
        if p.task != task.name or task.heldout(p):
            raise ValueError(f"{r}.problem: {p.id} is not a {task.name} train problem (wrong task or held out)")
        return p
    if o.problem_id is not None:
        for p in select_problems(task, ID_SCAN, seed):
            if p.id == o.problem_id:
                return p
        raise ValueError(
            f"{r}.problem_id: {o.problem_id!r} is not among the first {ID_SCAN} train problems "
            f"of seed {seed} (held-out problems never are); pass the problem itself as `problem`"
        )
    stream = task.iter_problems("train", seed)
    if o.difficulty is None:
        return task.problems("train", o.problem_index + 1, seed)[o.problem_index]
    seen: set[str] = set()
    for _, p in zip(range(200_000), stream):
        if p.difficulty == o.difficulty and p.id not in seen:
            seen.add(p.id)
            if len(seen) == o.problem_index + 1:
                return p
    raise ValueError(
        f"{r}.difficulty: found only {len(seen)} train problems of difficulty "
        f"{o.difficulty!r}, need problem_index + 1 = {o.problem_index + 1}"
    )


def _trim(items: list, trim: float) -> list:
    """Drop the ``trim`` fraction of longest and of shortest completions (ties: stable)."""
    items = sorted(items, key=lambda kv: len(kv[0][1]))
    cut = int(len(items) * trim)
    return items[cut : len(items) - cut] if cut and len(items) > 2 * cut else items


def _draw(items: list, k: int, rng) -> list:
    """``k`` items without replacement; if there are fewer, whole shuffled passes repeated."""
    out: list = []
    while items and len(out) < k:
        batch = list(items)
        rng.shuffle(batch)
        out.extend(batch[: k - len(out)])
    return out


def one_shot_candidates(task: Task, problem: Problem, flaw_seeds: int, max_solutions: int) -> list[str]:
    """Distinct candidate solutions for one problem: golds first, then flaws kind by kind."""
    out = dict.fromkeys(task.solutions(problem, limit=max_solutions))
    if problem.solvable:
        for kind in task.flaw_kinds():
            for s in range(flaw_seeds):
                try:
                    out.setdefault(task.flaw(problem, seed=s, kind=kind).text)
                except ValueError:
                    break  # this kind cannot be planted in this solution
    return list(out)


def one_shot_critique(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """One-shot CFT: ``n`` critique rows about ONE seed problem (METHODS.md 1.3).

    Stand-in for "many generators x many teachers": the candidates are the problem's
    alternative gold solutions and planted flaws of every kind over many seeds; the
    "teachers" are the exact programmatic teacher in several wordings (``phrasings``).
    The pool is deduplicated and trimmed (``trim`` of the longest and of the shortest
    critiques, 5% each by default, as the paper trims; done separately for critiques of
    right and of wrong solutions, since right ones are always the longest), then
    ``round(right_share * n)`` rows are drawn from the right critiques and the rest from
    the wrong ones, without replacement while the pool lasts, else in repeated shuffled
    passes. Labels: ``critique:right`` / ``critique:wrong``.
    """
    o = OneShotOptions.make(options)
    check_args(o.recipe, task, n, seed)
    o.require(task)
    p = _seed_problem(task, o, seed)
    if not p.solvable:
        raise ValueError(
            f"{o.recipe}.problem_index: seed problem {p.id} is unsolvable; "
            f"one-shot CFT needs a solvable seed (pick another index)"
        )
    question = critique_question(task, p, o.question_style, o.style)
    entries: dict[str, Any] = {}
    generators = o.teachers if o.generators is None else o.generators
    if generators:
        prompt = task.prompt(p, 0) if o.question_style == "prompt" else question
        got, entries["generators"] = generate_candidates(
            o, generators, prompt, o.samples_per_generator, o.generator_temperature, seed
        )
        candidates = [y for y, _ in got]
        if not candidates:
            raise ValueError(
                f"{o.recipe}.generators: no candidate solution came back: {entries['generators']['totals']}"
            )
    else:
        candidates = one_shot_candidates(task, p, o.flaw_seeds, o.max_solutions)
    pool: dict[tuple[str, str], str] = {}
    if o.teachers:
        kept, entries["critics"] = critique_all(
            o, task, [(p, question, y) for y in candidates], o.critiques_per_solution, seed, every_teacher=True
        )
        for _, prompt, completion, label in kept:
            pool.setdefault((prompt, completion), label)
    for y in [] if o.teachers else candidates:
        verdict = task.verify(p, y)
        label = f"critique:{'right' if verdict.correct else 'wrong'}"
        prompt = critique_prompt(question, y)
        for ph in o.phrasings:
            pool.setdefault((prompt, render(teacher_blocks(task, p, verdict, ph), verdict.correct, ph)), label)
    if not pool:
        counts = {k: v["totals"] for k, v in entries.items()}
        raise ValueError(f"{o.recipe}.teachers: no teacher critique agreed with the verifier: {counts}")
    rng = recipe_rng(o.recipe, task, seed)
    groups = {
        lab: _trim([kv for kv in pool.items() if kv[1] == lab], o.trim) for lab in ("critique:right", "critique:wrong")
    }
    if o.right_share is None or not all(groups.values()):
        chosen = _draw(groups["critique:right"] + groups["critique:wrong"], n, rng)
    else:
        k = round(o.right_share * n)
        chosen = _draw(groups["critique:right"], k, rng) + _draw(groups["critique:wrong"], n - k, rng)
        rng.shuffle(chosen)
    rows = Rows(task, o.style)
    for (prompt, completion), label in chosen:
        rows.add(p, prompt, completion, label)
    if not entries:
        return rows.dataset()
    entries["pool"] = {
        "distinct_critiques": len(pool),
        "right": len(groups["critique:right"]),
        "wrong": len(groups["critique:wrong"]),
    }  # after trimming
    return attach(rows.dataset(), entries)
