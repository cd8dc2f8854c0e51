"""Critique skill: can the model find the first error in a flawed solution?

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

from sparring.tasks import Problem, Task
from sparring.tasks.base import seeded_rng

from .common import base_record, clip, finish, first_text, metric_set, require, setup
from .config import ProbeConfig, select
from .responder import token_counter
from .result import ProbeResult

NAME = "critique"
NEEDS = ("flaws",)  # task capabilities (Task.require)
STOP = ("[END]",)
QUESTION_STYLES = ("prompt", "words")


def question_of(task: Task, problem: Problem, style: str) -> str:
    if style not in QUESTION_STYLES:
        raise ValueError(f"probe config critique_question: must be one of {list(QUESTION_STYLES)}, got {style!r}")
    return task.prompt(problem, 0).strip() if style == "prompt" else task.question(problem)


def items(task: Task, cfg: ProbeConfig) -> list[tuple[Problem, str, str | None, int | None]]:
    """(problem, solution shown, flaw kind or None, true 0-based first error or None)."""
    out = []
    for p in select(task, "test", cfg):
        rng = seeded_rng("critique", p.id, cfg.seed)
        if p.solvable and rng.random() < cfg.critique_flawed_fraction:
            try:
                text, kind, first = task.flaw(p, seed=cfg.seed)
                out.append((p, text, kind, first))
                continue
            except ValueError:  # nothing can be planted in this solution: show the gold
                pass
        out.append((p, task.solve(p), None, None))
    return out


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Verdict and first-error-step accuracy on planted flaws (see module doc)."""
    from sparring.corpus import PHRASINGS, critique_prompt, parse_critique, programmatic_critique

    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config)
    shown = items(task, cfg)
    count = token_counter(responder)
    cap = cfg.critique_max_new_tokens
    if cap is None:
        longest = max(count(programmatic_critique(task, p, y, phrasing=k))
                      for p, y, _, _ in shown for k in range(len(PHRASINGS)))
        cap = min(cfg.max_new_tokens_cap, longest + 24)
    prompts = [critique_prompt(question_of(task, p, cfg.critique_question), y) for p, y, _, _ in shown]
    outs = responder.generate(prompts, n_samples=1, temperature=0.0, max_new_tokens=cap,
                              seed=cfg.seed, stop=STOP)
    texts = first_text(outs, len(prompts), NAME)
    ms, records = metric_set(cfg), []
    ok, step_ok, parsed, flawed = [], [], [], []
    for (p, y, kind, first), t in zip(shown, texts):
        verdict, step = parse_critique(t)  # never raises on any input
        truth = "wrong" if kind else "right"
        ok.append(float(verdict == truth))
        step_ok.append(float(kind is not None and verdict == "wrong" and step == first))
        parsed.append(float(verdict is not None))
        flawed.append(float(kind is not None))
        records.append({**base_record(p), "flaw": kind, "true_first_error": first,
                        "verdict": verdict, "first_error": step, "critique": clip(t)})
    steps = task.has("steps")
    ms.mean("verdict_accuracy", ok)
    if steps:
        ms.ratio("first_error_accuracy", step_ok, flawed)
    ms.ratio("flaw_recall", [o * f for o, f in zip(ok, flawed)], flawed)
    ms.ratio("right_recall", [o * (1 - f) for o, f in zip(ok, flawed)], [1 - f for f in flawed])
    ms.mean("parse_rate", parsed)
    per_kind = step_ok if steps else ok
    for k in sorted({s[2] for s in shown if s[2]}):
        mine = [float(s[2] == k) for s in shown]
        name = "first_error_accuracy" if steps else "verdict_accuracy"
        ms.ratio(f"{name}[{k}]", [m * s for m, s in zip(mine, per_kind)], mine)
    return finish(NAME, ms, records, len(shown), "first_error_accuracy" if steps else "verdict_accuracy",
                  cfg, t0, max_new_tokens_used=cap)
