"""One round of self-training (METHODS.md 1.9): sample, verify, (critique, refine), build
the round's SFT rows, and measure the round.

A round over the fixed pool of training problems:

1. **sample** ``samples`` (k) answers per problem at ``temperature`` through the shared
   generator (``CountingResponder``: FLOPs under ``sampling``), each judged by
   ``task.verify``; the verified-correct ones are kept.
2. **critique and refine** (critique-loop only): up to ``refine_per_problem`` distinct
   wrong attempts per problem go to the critic (``critics.py``); each critique that says
   the attempt is wrong becomes a refine prompt (``corpus.refine.refine_prompt``: the CFT
   prompt around the question and the attempt, the critique, ``Corrected solution:``) and
   the actor writes one fix at the same temperature (FLOPs under ``refine``); verified
   fixes join the round's data.
3. **rows**: per problem its correct solutions, exact duplicates (lines stripped) dropped
   when ``dedupe``, at most ``max_per_problem`` (0: no cap), as (question prompt ->
   solution) rows; a correct fix is one more such row (``refine_rows: question``), a
   (refine prompt -> fix) row (``refine``), or both (``both``).

The round's numbers (:func:`round_stats`): data size; the share of rows on problems the
task labels ``hard`` (``Problem.difficulty``) next to that share in the pool; distinct
correct solutions per problem in the data (and per pool problem); pass@k (the share of
problems with a correct sample among k); the sample accuracy (mean c/k = pass@1); per
difficulty D, the solve rate and ``success_share[D]`` (the share of all correct samples on
D problems, the passk probe's tail-narrowing measure); for critique-loop the critic's and
the refiner's counts. Per problem (in pool order) the correct samples, data rows and
distinct solutions are kept for the paired bootstrap of finding 8 (``lab/rounds.py``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sparring.corpus import critique_question
from sparring.corpus.common import Rows
from sparring.corpus.refine import refine_prompt
from sparring.evaluation import answers
from sparring.tasks import Problem, Task

HARD = "hard"
DIFFICULTY_ORDER = ("easy", "medium", "hard")


def normalise(text: str) -> str:
    """A solution as compared for distinctness: lines stripped, blank lines dropped."""
    return "\n".join(ln.strip() for ln in text.strip().split("\n") if ln.strip())


@dataclass
class Attempts:
    """What a round drew for one problem: its samples and which verified."""

    problem: Problem
    samples: list[str]
    correct: list[bool]
    fixes: list[str] = field(default_factory=list)  # verified refinements
    fix_prompts: list[str] = field(default_factory=list)  # their refine prompts


@dataclass
class Round:
    """A round's SFT rows (a Dataset, or None when nothing verified) and its numbers."""

    rows: Any
    stats: dict[str, Any]
    per_problem: dict[str, list[int]]


def sample(responder, task: Task, problems: list[Problem], cfg, seed: int) -> list[Attempts]:
    """``cfg.samples`` answers per problem at ``cfg.temperature``, each verified."""
    texts = answers(
        responder,
        task,
        problems,
        max_new_tokens=cfg.answer_tokens(),
        samples=cfg.samples,
        temperature=cfg.temperature,
        seed=seed,
        style=cfg.style,
        chat_format=cfg.chat_format(),
        label=cfg.method_name,
    )
    return [Attempts(p, row, [task.verify(p, t).correct for t in row]) for p, row in zip(problems, texts)]


def refine(responder, critic, task: Task, drawn: list[Attempts], cfg, seed: int) -> dict[str, int]:
    """Critique up to ``cfg.refine_per_problem`` distinct wrong attempts per problem and
    ask the actor for one fix of each wrong-judged one; verified fixes go to
    ``Attempts.fixes``. Returns the counts."""
    jobs: list[tuple[Attempts, str]] = []
    for a in drawn:
        wrong = list(dict.fromkeys(normalise(t) for t, ok in zip(a.samples, a.correct) if not ok and t.strip()))
        jobs += [(a, t) for t in wrong[: cfg.refine_per_problem]]
    counts = {"wrong_attempts": sum(len(a.correct) - sum(a.correct) for a in drawn), "critiqued": len(jobs)}
    if not jobs:
        return {**counts, "critiques_used": 0, "refinements": 0, "refinements_correct": 0}
    questions = [critique_question(task, a.problem, "prompt", cfg.style) for a, _ in jobs]
    critiques = critic(task, [a.problem for a, _ in jobs], questions, [t for _, t in jobs])
    todo = [(a, refine_prompt(q, t, c)) for (a, t), q, c in zip(jobs, questions, critiques) if c is not None]
    counts.update(critiques_used=len(todo), refinements=len(todo), refinements_correct=0)
    if not todo:
        return counts
    fmt = cfg.chat_format()
    prompts = [fmt.messages(p) if cfg.style == "chat" else p for _, p in todo]
    texts = answers(
        responder,
        task,
        [a.problem for a, _ in todo],
        prompts=prompts,
        max_new_tokens=cfg.answer_tokens(),
        temperature=cfg.temperature,
        seed=seed,
        label=f"{cfg.method_name} refinements",
    )
    for (a, prompt), row in zip(todo, texts):
        if task.verify(a.problem, row[0]).correct:
            a.fixes.append(row[0])
            a.fix_prompts.append(prompt)
    counts["refinements_correct"] = sum(len(a.fixes) for a in drawn)
    return counts


def build_rows(task: Task, drawn: list[Attempts], cfg, seed: int) -> tuple[Any, list[int], list[int]]:
    """The round's SFT rows (module doc, step 3), and per problem the rows and distinct
    solutions it contributes. Question prompts use template 0 of the style."""
    rows = Rows(task, cfg.style)
    n_rows, n_distinct = [], []
    rng = random.Random(seed)
    refine_rows = getattr(cfg, "refine_rows", "question")  # self-train: no fixes at all
    for a in drawn:
        prompt = task.prompt(a.problem, 0, cfg.style)
        sols = [t for t, ok in zip(a.samples, a.correct) if ok]
        fixes = list(a.fixes) if refine_rows in ("question", "both") else []
        kept = [(t, "self") for t in sols] + [(t, "refined") for t in fixes]
        if cfg.dedupe:  # the first of each distinct solution (a self-sampled one before a fix)
            unique: dict[str, tuple[str, str]] = {}
            for t, how in kept:
                unique.setdefault(normalise(t), (t, how))
            kept = list(unique.values())
        if cfg.max_per_problem and len(kept) > cfg.max_per_problem:
            kept = rng.sample(kept, cfg.max_per_problem)
        before, texts = len(rows), [t for t, _ in kept]
        for t, how in kept:
            rows.add(a.problem, prompt, t.strip("\n"), how)
        if refine_rows in ("refine", "both"):
            for p, t in zip(a.fix_prompts, a.fixes):
                rows.add(a.problem, p, t.strip("\n"), "refine")
                texts.append(t)
        n_rows.append(len(rows) - before)
        n_distinct.append(len({normalise(t) for t in texts}))
    return (rows.dataset() if len(rows) else None), n_rows, n_distinct


def _share(num: float, den: float) -> float:
    return round(num / den, 4) if den else 0.0


def round_stats(drawn: list[Attempts], n_rows: list[int], n_distinct: list[int], k: int) -> dict[str, Any]:
    """The round's numbers (module doc); shares are over the whole pool unless named."""
    n = len(drawn)
    c = [sum(a.correct) for a in drawn]
    hard = [a.problem.difficulty == HARD for a in drawn]
    in_data = [r > 0 for r in n_rows]
    out: dict[str, Any] = {
        "problems": n,
        "samples": k,
        "data_rows": sum(n_rows),
        "data_problems": sum(in_data),
        "hard_share": _share(sum(r for r, h in zip(n_rows, hard) if h), sum(n_rows)),
        "hard_share_pool": _share(sum(hard), n),
        "distinct_per_problem": _share(sum(n_distinct), sum(d > 0 for d in n_distinct)),
        "distinct_per_pool_problem": _share(sum(n_distinct), n),
        "pass@k": _share(sum(x > 0 for x in c), n),
        "sample_accuracy": _share(sum(c), n * k),
    }
    order = {d: i for i, d in enumerate(DIFFICULTY_ORDER)}
    levels = sorted({a.problem.difficulty for a in drawn}, key=lambda d: (order.get(d, 99), d))
    for d in levels:
        mine = [a.problem.difficulty == d for a in drawn]
        out[f"solved[{d}]"] = _share(sum(x > 0 for x, m in zip(c, mine) if m), sum(mine))
        out[f"success_share[{d}]"] = _share(sum(x for x, m in zip(c, mine) if m), sum(c))
        out[f"data_share[{d}]"] = _share(sum(r for r, m in zip(n_rows, mine) if m), sum(n_rows))
    return out


def run_round(sampler, refiner, critic, task: Task, problems: list[Problem], cfg, seed: int) -> Round:
    """One round (module doc): ``sampler`` and ``refiner`` generate with the model being
    trained (two responders, so their FLOPs are counted apart); ``critic`` None: plain
    self-training."""
    drawn = sample(sampler, task, problems, cfg, seed)
    counts = refine(refiner, critic, task, drawn, cfg, seed + 1) if critic is not None else {}
    rows, n_rows, n_distinct = build_rows(task, drawn, cfg, seed)
    stats = {**round_stats(drawn, n_rows, n_distinct, cfg.samples), **counts}
    if critic is not None:
        stats["refined_rows"] = 0 if rows is None else sum(lb in ("refined", "refine") for lb in rows["label"])
        stats["problems_only_refined"] = sum(not any(a.correct) and bool(a.fixes) for a in drawn)
    per_problem = {"correct": [sum(a.correct) for a in drawn], "rows": n_rows, "distinct": n_distinct}
    return Round(rows, stats, per_problem)
