"""Prompt sensitivity: ProSA's PSS over the task's prompt templates.

What it measures: whether solving depends on the wording of the question. Every problem
is asked in each template (Countdown has 4: ``3,7,9:30``, ``Numbers: 3 7 9. Target: 30.``,
...), greedy, and judged by the verifier: Y_t = 1 if correct under template t. Per item

    S = sum over template pairs i < j of |Y_i - Y_j| / C(T, 2)

and PSS = mean S over items (ProSA). 0 means the answer's correctness never depends on
the wording; 0.5 is the most a 2-template split can give. A model trained only on the
canonical template usually shows high PSS: it learned the format, not the problem.

Metrics: ``pss``, ``accuracy[tK]`` per template K, ``accuracy_spread`` (best minus worst
template accuracy), ``consistent`` (share of items with S = 0).
"""

from __future__ import annotations

import time
from itertools import combinations
from math import comb
from typing import Any, Sequence

from sparring.tasks import Task

from .common import answer, base_record, finish, metric_set, setup
from .config import ProbeConfig, select
from .result import ProbeResult

NAME = "sensitivity"


def prosa_s(ys: Sequence[float]) -> float:
    """ProSA per-item sensitivity: sum over pairs |Y_i - Y_j| / C(T, 2)."""
    ys = [float(y) for y in ys]
    if len(ys) < 2:
        raise ValueError(f"prosa_s: needs >= 2 templates, got {len(ys)}")
    return sum(abs(a - b) for a, b in combinations(ys, 2)) / comb(len(ys), 2)


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """PSS over templates (see module doc)."""
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    have = cfg.templates_of(task)  # the templates of the probe's style
    templates = list(cfg.templates) if cfg.templates is not None else list(range(have))
    bad = [t for t in templates if not 0 <= t < have]
    if bad or len(templates) < 2:
        raise ValueError(
            f"probe sensitivity: templates {templates} must be >= 2 indices in 0..{have - 1} ({cfg.style} style)"
        )
    problems = select(task, "test", cfg)
    ys = []
    for t in templates:
        _, verdicts = answer(responder, task, problems, cfg, template=t, probe=NAME)
        ys.append([float(v.correct) for v in verdicts])
    per_item = list(zip(*ys))
    s = [prosa_s(y) for y in per_item]
    ms = metric_set(cfg)
    ms.mean("pss", s)
    accs = [ms.mean(f"accuracy[t{t}]", col) for t, col in zip(templates, ys)]
    ms.value("accuracy_spread", max(accs) - min(accs))
    ms.mean("consistent", [float(v == 0) for v in s])
    records = [
        {**base_record(p), "correct_by_template": dict(zip(map(str, templates), y)), "s": v}
        for p, y, v in zip(problems, per_item, s)
    ]
    return finish(NAME, ms, records, len(problems), "pss", cfg, t0, templates_used=templates)
