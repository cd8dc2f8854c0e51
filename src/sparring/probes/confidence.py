"""Premature confidence: is the model sure of the answer before it has reasoned?

What it measures (progressive confidence, METHODS.md 1.10): the model answers a held-out
problem greedily; its own reasoning R (the completion's lines, minus the final answer line
in final-line mode) is truncated after j lines at ``confidence_points`` evenly spaced
points j = 0 .. |R|, and at each point the model's probability of the answer continuation
is read (``exp`` of its summed log-likelihood after ``prompt + R[:j]``). The sequence is a
confidence trajectory. Healthy reasoning builds confidence as it goes; a trajectory that is
already high before any reasoning and stays high ("flat-high") means the model committed
first and rationalised after, which predicts flawed reasoning.

Answer continuation (``answer_format``, see ``infogain``): in final-line mode (sparring's
char models) it is the model's own final line when its completion verifies as correct,
otherwise the gold solution's final line, i.e. always a *correct* conclusion; otherwise
``Answer: {gold answer}``.

**Flat-high** (the threshold): a trajectory with at least 2 points whose *every* point,
including j = 0 (no reasoning at all), is >= ``flat_high_threshold`` (default 0.5).

Metrics: ``flat_high_share`` (over trajectories with >= 2 points), the same split by
whether the greedy completion was correct (``flat_high_share[correct]`` / ``[wrong]``),
``conf_start``, ``conf_end``, ``rise`` (mean end - start), the mean trajectory
``conf@F`` at fractions F = 0, 0.25, 0.5, 0.75, 1 of the reasoning, ``n_trajectories``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from sparring.tasks import Task
from sparring.tasks.base import steps_of

from .common import answer, base_record, finish, metric_set, require, setup
from .config import ProbeConfig, select
from .infogain import answer_string, resolve_format
from .responder import loglik
from .result import ProbeResult

NAME = "confidence"
NEEDS = ("steps",)  # task capabilities (Task.require)
MAX_REASONING_LINES = 256
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def cut_points(n_lines: int, points: int) -> list[int]:
    """``points`` evenly spaced line counts in 0..n_lines (distinct, sorted)."""
    if points == 1:
        return [n_lines]
    return sorted({round(i * n_lines / (points - 1)) for i in range(points)})


def is_flat_high(trajectory: list[float], threshold: float) -> bool:
    return len(trajectory) >= 2 and min(trajectory) >= threshold


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Confidence trajectories and the share of flat-high ones (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    fmt = resolve_format(cfg, responder)
    final_mode = "{final_line}" in fmt
    everything = select(task, "test", cfg)
    texts, verdicts = answer(responder, task, everything, cfg, probe=NAME)
    rows = [(p, t, v) for p, t, v in zip(everything, texts, verdicts) if p.solvable]
    if not rows:
        raise ValueError("probe confidence: no solvable problems in the test sample")
    pairs, spans = [], []
    for p, t, v in rows:
        own = steps_of(t)[:MAX_REASONING_LINES]
        gold = steps_of(task.solve(p))
        if final_mode:
            reasoning = own[:-1]
            final = own[-1] if v.correct and own else gold[-1]
        else:
            reasoning, final = own, gold[-1]
        target = answer_string(fmt, task, p, final)
        prompt = task.prompt(p, 0)
        start = len(pairs)
        for j in cut_points(len(reasoning), cfg.confidence_points):
            pairs.append((prompt + "".join(line + "\n" for line in reasoning[:j]), target))
        spans.append((start, len(pairs)))
    scores = loglik(responder, pairs, NAME)
    trajs = [[math.exp(min(scores[i][0], 0.0)) for i in range(a, b)] for a, b in spans]
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
    return finish(NAME, ms, records, len(rows), "flat_high_share", cfg, t0, answer_format_used=fmt)
