"""Accuracy: greedy, verifier-judged, in distribution and on every OOD level.

What it measures: the share of held-out problems the model solves with its greedy answer,
where "solves" is the task verifier's strict verdict (right final answer reached by valid
steps). The same is reported on each OOD level of the task (Countdown: ``ood-n`` one more
number, i.e. a longer chain; ``ood-target`` targets never seen in training), so the gap
between ``accuracy`` and ``accuracy[ood-*]`` shows how far the skill transfers.

Metrics: ``accuracy`` (ID test split), ``answer_accuracy`` (final answer right, steps not
checked), ``well_formed`` (the verifier could parse the completion), and for each OOD
level ``L``: ``accuracy[L]``, ``answer_accuracy[L]``. Intervals: bootstrap over problems.
"""

from __future__ import annotations

import time
from typing import Any

from sparring.tasks import Task

from .common import answer, base_record, clip, finish, metric_set, setup, verdict_record
from .config import ProbeConfig, select
from .result import ProbeResult

NAME = "accuracy"


def levels_of(task: Task, cfg: ProbeConfig) -> list[str]:
    ood = [lv for lv in task.levels if lv != "id"]
    if cfg.levels is not None:
        unknown = [lv for lv in cfg.levels if lv not in ood]
        if unknown:
            raise ValueError(f"probe config levels: {unknown} not among {task.name}'s OOD levels {ood}")
        ood = [lv for lv in ood if lv in cfg.levels]
    return ["id", *ood]


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Greedy accuracy on the ID test split and on each OOD level (see module doc)."""
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    ms, records = metric_set(cfg), []
    for level in levels_of(task, cfg):
        problems = select(task, "test" if level == "id" else level, cfg)
        texts, verdicts = answer(responder, task, problems, cfg, probe=NAME)
        suffix = "" if level == "id" else f"[{level}]"
        ms.mean(f"accuracy{suffix}", [v.correct for v in verdicts])
        ms.mean(f"answer_accuracy{suffix}", [v.answer_correct for v in verdicts])
        if level == "id":
            ms.mean("well_formed", [v.well_formed for v in verdicts])
        for p, t, v in zip(problems, texts, verdicts):
            records.append({**base_record(p), **verdict_record(v), "completion": clip(t)})
    return finish(NAME, ms, records, cfg.n, "accuracy", cfg, t0)
