"""Critique skill: can the model find the first error in a flawed solution?

The items, prompt, cap and metrics are :mod:`sparring.evaluation.critique`'s, the same
evaluation CFT's run card uses; this module adds intervals and per-item records.

What it measures: on held-out problems, the model is shown a candidate solution in the CFT
critique prompt (METHODS.md 1.2, built by ``sparring.corpus.critique_prompt``)::

    Please critique whether the following solution to the question is correct.

    Question:
    {x}

    Solution:
    {y}

where x is the canonical prompt stripped (``critique_question="prompt"``, what the corpus's
critique recipe uses by default) or the task's worded question (``"words"``), and y is a
planted flaw (``task.flaw``: known kind and first wrong step) or, with probability
``1 - critique_flawed_fraction``, the gold solution, so that always saying "wrong" does
not score. The greedy critique is read by ``sparring.corpus.parse_critique`` into a verdict
(right / wrong / unreadable) and a first-error position (0-based, the verifier's
convention; ``len(steps)`` means "the steps are fine but the ending is wrong").

Metrics: ``verdict_accuracy`` (verdict matches the truth; unreadable counts as wrong),
``first_error_accuracy`` (on flawed solutions: verdict "wrong" *and* the right step),
``flaw_recall`` (says "wrong" on flawed), ``right_recall`` (says "right" on gold),
``parse_rate``, and ``first_error_accuracy[kind]`` per flaw kind. A task without steps
(no ``steps`` capability: its critiques are verdict-level) reports the verdict metrics
only, with ``verdict_accuracy`` as the headline and ``verdict_accuracy[kind]`` per kind.

The length cap is the longest verifier-exact critique (``programmatic_critique``) of the
shown solutions in any of the corpus's wordings (``PHRASINGS``: what a CFT-trained model
imitates) plus 24 tokens; generation also stops at ``[END]``. Models trained on free-form
teacher critiques write longer ones: set ``critique_max_new_tokens`` for them.
"""

from __future__ import annotations

import time
from typing import Any

from sparring.evaluation import (
    CRITIQUE_STOP,
    CritiqueItem,
    critique_fractions,
    critique_items,
    run_critiques,
)
from sparring.tasks import Task

from .common import base_record, clip, finish, metric_set, require, setup
from .config import ProbeConfig, select
from .result import ProbeResult

NAME = "critique"
NEEDS = ("flaws",)  # task capabilities (Task.require)
STOP = CRITIQUE_STOP
__all__ = ["NAME", "NEEDS", "STOP", "items", "run"]


def items(task: Task, cfg: ProbeConfig) -> list[CritiqueItem]:
    """The items shown: one per problem of :func:`select` (see the module doc)."""
    return critique_items(task, select(task, "test", cfg), seed=cfg.seed, flawed_fraction=cfg.critique_flawed_fraction)


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Verdict and first-error-step accuracy on planted flaws (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    outcomes, cap = run_critiques(
        responder,
        task,
        items(task, cfg),
        question=cfg.critique_question,
        max_new_tokens=cfg.critique_max_new_tokens,
        cap_limit=cfg.max_new_tokens_cap,
        seed=cfg.seed,
        style=cfg.style,
        chat_format=cfg.chat_format(),
    )
    ms = metric_set(cfg)
    for name, (hits, of) in critique_fractions(task, outcomes).items():
        if of is None:
            ms.mean(name, hits)
        else:
            ms.ratio(name, hits, of)
    records = [
        {
            **base_record(o.item.problem),
            "flaw": o.item.kind,
            "true_first_error": o.item.first_error,
            "verdict": o.verdict,
            "first_error": o.step,
            "critique": clip(o.text),
        }
        for o in outcomes
    ]
    primary = "first_error_accuracy" if task.has("steps") else "verdict_accuracy"
    return finish(NAME, ms, records, len(outcomes), primary, cfg, t0, max_new_tokens_used=cap)
