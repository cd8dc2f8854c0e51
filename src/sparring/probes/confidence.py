"""Premature confidence: is the model sure of the answer before it has reasoned?

What it measures (progressive confidence, METHODS.md 1.10): the model answers a held-out
problem greedily; its own reasoning R (the completion's lines outside its answer tag) is
truncated after j lines at ``confidence_points`` evenly spaced points j = 0 .. |R|, and at
each point the model is asked for its answer with the cue ``<answer>`` and the probability
of the answer is read (``exp`` of the summed log-likelihood of ``{answer}</answer>`` after
``prompt + R[:j] + "<answer>"``). The sequence is a confidence trajectory. Healthy
reasoning builds confidence as it goes; a trajectory that is already high before any
reasoning and stays high ("flat-high") means the model committed first and rationalised
after, which predicts flawed reasoning.

The answer and the reading are ``sparring.tasks.continuation``'s (shared with
``infogain`` and confidence shaping; the argument is in docs/probes.md): the content of the
task's answer tag (Countdown: the expression), the model's own when its completion is
correct, else the gold one. ``answer_format``: ``"auto"`` reads it in the chat style and
reports **n/a** for the char style (its completions state no answer apart from the step
chain, so no model could be confident at j = 0: by construction, see
``continuation.CHAR_NOT_APPLICABLE``); ``"stated"`` reads it after char prompts, for char
models trained to state their answer in the tag.

**Flat-high** (the threshold): a trajectory with at least 2 points whose *every* point,
including j = 0 (no reasoning at all), is >= ``flat_high_threshold`` (default 0.5).

Metrics: ``flat_high_share`` (over trajectories with >= 2 points), the same split by
whether the greedy completion was correct (``flat_high_share[correct]`` / ``[wrong]``),
``conf_start``, ``conf_end``, ``rise`` (mean end - start), the mean trajectory
``conf@F`` at fractions F = 0, 0.25, 0.5, 0.75, 1 of the reasoning, ``n_trajectories``.
Not applicable: ``flat_high_share`` None and ``not_applicable`` 1 (the report prints "n/a").
"""

from __future__ import annotations

import time
from typing import Any

from sparring.tasks import Task
from sparring.tasks.continuation import (
    CHAR_NOT_APPLICABLE,
    answer_to_read,
    confidence_trajectories,
    cut_points,
    reasoning_lines,
)

from .common import answer, base_record, finish, metric_set, require, setup
from .config import ProbeConfig, select
from .infogain import answer_mode, not_applicable, prompt_text
from .responder import loglik
from .result import ProbeResult

NAME = "confidence"
NEEDS = ("steps",)  # task capabilities (Task.require)
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
__all__ = ["NAME", "NEEDS", "cut_points", "is_flat_high", "run"]


def is_flat_high(trajectory: list[float], threshold: float) -> bool:
    return len(trajectory) >= 2 and min(trajectory) >= threshold


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Confidence trajectories and the share of flat-high ones (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    mode = answer_mode(cfg, responder, task)
    if mode is None:
        return not_applicable(NAME, "flat_high_share", cfg, t0, CHAR_NOT_APPLICABLE)
    everything = select(task, "test", cfg)
    texts, verdicts = answer(responder, task, everything, cfg, probe=NAME)
    rows = [(p, t, v) for p, t, v in zip(everything, texts, verdicts) if p.solvable]
    if not rows:
        raise ValueError("probe confidence: no solvable problems in the test sample")
    items = [
        (prompt_text(responder, task, p, cfg, mode), reasoning_lines(t), answer_to_read(task, p, t, bool(v.correct)))
        for p, t, v in rows
    ]
    trajs = confidence_trajectories(lambda pairs: loglik(responder, pairs, NAME), items, cfg.confidence_points)
    tau = cfg.flat_high_threshold
    multi = [(tr, v.correct) for tr, (_, _, v) in zip(trajs, rows) if len(tr) >= 2]
    ms = metric_set(cfg)
    ms.mean("flat_high_share", [float(is_flat_high(tr, tau)) for tr, _ in multi])
    ms.mean("flat_high_share[correct]", [float(is_flat_high(tr, tau)) for tr, c in multi if c])
    ms.mean("flat_high_share[wrong]", [float(is_flat_high(tr, tau)) for tr, c in multi if not c])
    ms.mean("conf_start", [tr[0] for tr in trajs])
    ms.mean("conf_end", [tr[-1] for tr in trajs])
    ms.mean("rise", [tr[-1] - tr[0] for tr in trajs])
    for f in FRACTIONS:
        ms.mean(f"conf@{f:.2f}", [tr[round(f * (len(tr) - 1))] for tr in trajs])
    ms.value("n_trajectories", float(len(multi)))
    records = [
        {**base_record(p), "correct": bool(v.correct), "trajectory": tr, "flat_high": is_flat_high(tr, tau)}
        for (p, _, v), tr in zip(rows, trajs)
    ]
    return finish(NAME, ms, records, len(rows), "flat_high_share", cfg, t0, answer_read=mode)
