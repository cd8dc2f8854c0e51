"""Abstention: does the model say "No solution" when there is none, without over-refusing?

What it measures: held-out problems are drawn from the same task with
``unsolvable_fraction = abstain_fraction`` (default 0.5), so solvable and unsolvable
instances are mixed; the model answers greedily and a completion counts as an abstention
when the verifier reads it as the task's abstention line (``No solution``). Abstaining is
the positive class:

- ``recall``: share of unsolvable problems it abstains on;
- ``false_abstention``: share of solvable problems it abstains on (over-refusal);
- ``precision``: share of abstentions that were on unsolvable problems;
- ``f1``: 2PR / (P + R), computed from pooled counts on each bootstrap resample;
- ``accuracy``: verifier-correct on the mixed set (solved, or rightly abstained).

Outcome-trained models tend to under-abstain (always produce *some* equation); a model that
abstains everywhere has recall 1 and false_abstention 1, so read the two together.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from sparring.tasks import Task

from .common import answer, base_record, finish, metric_set, require, setup, verdict_record
from .config import ProbeConfig, abstain_task, select
from .result import ProbeResult, bootstrap_ci

NAME = "abstain"
NEEDS = ("unsolvable",)  # task capabilities (Task.require)


def _f1(tp: np.ndarray, a: np.ndarray, u: np.ndarray) -> np.ndarray:
    tp_, a_, u_ = tp.sum(axis=-1), a.sum(axis=-1), u.sum(axis=-1)
    return 2 * tp_ / (a_ + u_)


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Abstention recall, false-abstention rate and F1 on a mixed set (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    mixed = abstain_task(task, cfg)
    problems = select(mixed, "test", cfg)
    _, verdicts = answer(responder, mixed, problems, cfg, probe=NAME)
    a = [float(v.abstained) for v in verdicts]
    u = [float(not p.solvable) for p in problems]
    tp = [x * y for x, y in zip(a, u)]
    ms = metric_set(cfg)
    ms.ratio("recall", tp, u)
    ms.ratio("false_abstention", [x * (1 - y) for x, y in zip(a, u)], [1 - y for y in u])
    ms.ratio("precision", tp, a)
    denom = sum(a) + sum(u)
    f1 = 2 * sum(tp) / denom if denom > 0 else None
    ci = (
        bootstrap_ci((tp, a, u), _f1, n_resamples=cfg.n_resamples, seed=cfg.seed, name="f1") if f1 is not None else None
    )
    ms.value("f1", f1, ci)
    ms.mean("accuracy", [v.correct for v in verdicts])
    ms.value("unsolvable_share", float(np.mean(u)))
    records = [{**base_record(p), **verdict_record(v)} for p, v in zip(problems, verdicts)]
    return finish(NAME, ms, records, len(problems), "f1", cfg, t0, unsolvable_fraction=cfg.abstain_fraction)
