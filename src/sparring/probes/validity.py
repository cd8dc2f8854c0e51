"""Trace validity: of the right final answers, how many were reached by valid steps.

What it measures: a model can land on the right answer through invalid arithmetic
(Countdown's classic ``20*5=80`` written so the last line hits the target). Among the
greedy completions on the ID test split whose *final answer* is right, ``validity`` is
the share whose every step verifies. 1.0 means right answers are earned; low values mean
the model learned the surface of a solution (its shape and where it must end).

Metrics: ``validity`` = #(correct) / #(answer_correct) (None when no answer is right),
``surface_rate`` = share of all problems answered right through a wrong step,
``answer_accuracy`` and ``accuracy`` for context, ``n_answer_correct``.
Intervals: bootstrap over problems (the ratio is recomputed on each resample).
"""

from __future__ import annotations

import time
from typing import Any

from sparring.tasks import Task

from .common import answer, base_record, finish, metric_set, require, setup, verdict_record
from .config import ProbeConfig, select
from .result import ProbeResult

NAME = "validity"
NEEDS = ("steps",)  # task capabilities (Task.require)


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Share of right final answers whose every step verifies (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    problems = select(task, "test", cfg)
    texts, verdicts = answer(responder, task, problems, cfg, probe=NAME)
    ms = metric_set(cfg)
    right = [float(v.answer_correct) for v in verdicts]
    valid = [float(v.answer_correct and v.correct) for v in verdicts]
    ms.ratio("validity", valid, right)
    ms.mean("surface_rate", [float(v.answer_correct and not v.correct) for v in verdicts])
    ms.mean("answer_accuracy", right)
    ms.mean("accuracy", [v.correct for v in verdicts])
    ms.value("n_answer_correct", float(sum(right)))
    records = [{**base_record(p), **verdict_record(v)} for p, v in zip(problems, verdicts)]
    return finish(NAME, ms, records, len(problems), "validity", cfg, t0)
