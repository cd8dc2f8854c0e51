"""Pairwise comparison: shown two answers to one question, can the model tell which is right?

What it measures: on held-out problems, the model is shown two candidate solutions in the
comparison layout (``sparring.corpus.compare_format``: RARO's compact pairwise critic
layout, ``question?`` then ``1:answer`` and ``2:answer``) and must answer ``Verdict: 1``,
``Verdict: 2`` or ``Verdict: none`` (both wrong). Per problem (drawn from
``seeded_rng("compare", problem.id, seed)``): with probability ``BOTH_WRONG_SHARE`` two
different planted flaws (truth ``none``), else the gold solution and one planted flaw in
random order (truth ``1`` or ``2``). Flaws are ``task.flaw`` of the task's own kind draw,
so every kind appears, including any the model never saw critiqued.

This is the latent skill RARO's critic needs (docs/base-v2.md): a critic that cannot tell a
right answer from a wrong one gives the policy an arbitrary preference to climb.

Metrics: ``accuracy`` (verdict = truth; unreadable counts as wrong; a constant verdict
scores at most 0.375 in expectation), ``pair_accuracy`` (on one-right pairs: picks the
right one; chance 0.5 when it never says none), ``none_recall`` (says none on two wrong
answers), ``parse_rate``. Greedy, at most ``MAX_NEW_TOKENS`` tokens, stops at a newline
after the verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sparring.corpus.compare_format import BOTH_WRONG, compare_prompt, parse_compare
from sparring.evaluation import answers
from sparring.tasks import Problem, Task
from sparring.tasks.base import seeded_rng

from .common import base_record, clip, finish, metric_set, require, setup
from .config import ProbeConfig, select
from .result import ProbeResult

NAME = "compare"
NEEDS = ("flaws",)  # task capabilities (Task.require)
BOTH_WRONG_SHARE = 0.25
MAX_NEW_TOKENS = 24  # "Verdict: none" is 13 characters; a chat model gets its own cap below
CHAT_MAX_NEW_TOKENS = 256


@dataclass(frozen=True)
class CompareItem:
    """A problem, the two answers shown (in order) and the right verdict."""

    problem: Problem
    first: str
    second: str
    truth: str


def items(task: Task, cfg: ProbeConfig) -> list[CompareItem]:
    """One item per solvable problem of :func:`select` with a flaw (see the module doc)."""
    out = []
    for p in select(task, "test", cfg):
        if not p.solvable:
            continue
        rng = seeded_rng("compare", p.id, cfg.seed)
        try:
            wrong = task.flaw(p, seed=rng.randrange(2**31)).text
            if rng.random() < BOTH_WRONG_SHARE:
                other = task.flaw(p, seed=rng.randrange(2**31)).text
                if other != wrong:
                    out.append(CompareItem(p, wrong, other, BOTH_WRONG))
                    continue
        except ValueError:
            continue
        gold_first = rng.random() < 0.5
        a1, a2 = (task.solve(p), wrong) if gold_first else (wrong, task.solve(p))
        out.append(CompareItem(p, a1, a2, "1" if gold_first else "2"))
    return out


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Comparison accuracy on (right, wrong) and (wrong, wrong) pairs (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    shown = items(task, cfg)
    if not shown:
        raise ValueError(f"probe {NAME}: no held-out problem of {task.name} has a planted flaw to compare")
    texts = [compare_prompt(task.prompt(it.problem, 0), it.first, it.second) for it in shown]
    chat = cfg.style == "chat"
    prompts = [cfg.chat_format().messages(t) for t in texts] if chat else texts
    outs = answers(
        responder,
        task,
        [it.problem for it in shown],
        prompts=prompts,
        max_new_tokens=CHAT_MAX_NEW_TOKENS if chat else MAX_NEW_TOKENS,
        seed=cfg.seed,
        stop=() if chat else ("\n",),
        label=f"probe {NAME}",
    )
    said = [parse_compare(row[0]) for row in outs]  # never raises on any input
    hit = [float(s == it.truth) for s, it in zip(said, shown)]
    pair = [float(it.truth != BOTH_WRONG) for it in shown]
    ms = metric_set(cfg)
    ms.mean("accuracy", hit)
    ms.ratio("pair_accuracy", [h * w for h, w in zip(hit, pair)], pair)
    ms.ratio("none_recall", [h * (1 - w) for h, w in zip(hit, pair)], [1 - w for w in pair])
    ms.mean("parse_rate", [float(s is not None) for s in said])
    records = [
        {**base_record(it.problem), "truth": it.truth, "verdict": s, "output": clip(row[0])}
        for it, s, row in zip(shown, said, outs)
    ]
    return finish(NAME, ms, records, len(shown), "accuracy", cfg, t0)
