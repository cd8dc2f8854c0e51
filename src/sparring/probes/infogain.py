"""Information gain: do the gold steps carry the answer, in the model's own likelihood?

What it measures (METHODS.md 2, after the InfoGain analysis): take a held-out problem's
gold solution with steps s_1..s_N, build growing contexts

    c_0 = prompt,   c_i = c_{i-1} + s_i + "\\n"

and read the perplexity PPL_i of an answer string A after each c_i (one forward pass per
context, see ``HFResponder.loglik``). Then

    gain = (PPL_0 - PPL_N) / (N + 1)

per problem, averaged. A model whose reasoning *carries* the answer finds A much easier
after the steps (large gain); a model that rationalises answers it would give anyway
finds the steps no help (gain near 0).

The answer string (``answer_format``): ``"Answer: {answer}"`` with the task's gold answer
for models that know such a line; sparring's char models never saw one (their data is
bare solution lines), so for them (``"auto"`` with the char tokenizer) A is the **final
line of the gold solution** (Countdown ``21+9=30``: the line that states the answer), and
the steps are the lines before it (N = lines - 1). Single-line solutions give N = 0 and
gain 0.

Metrics: ``infogain`` (mean gain), ``ppl_start`` / ``ppl_end`` (mean PPL_0 / PPL_N),
``log_ppl_drop`` (mean log PPL_0 - log PPL_N, robust to huge perplexities),
``gain_positive`` (share of problems with gain > 0), and the curve ``ppl[step=i]`` (mean
PPL_i over problems with at least i steps).
"""

from __future__ import annotations

import math
import time
from typing import Any

from sparring.tasks import Problem, Task
from sparring.tasks.base import steps_of

from .common import base_record, finish, metric_set, require, setup
from .config import ProbeConfig, select
from .responder import Responder, loglik
from .result import ProbeResult

NAME = "infogain"
NEEDS = ("steps",)  # task capabilities (Task.require)


def resolve_format(cfg: ProbeConfig, responder: Responder) -> str:
    """The answer-string format, with "auto" resolved and the fields checked."""
    fmt = cfg.answer_format
    if fmt == "auto":
        fmt = "{final_line}" if getattr(responder, "plain_text", False) else "Answer: {answer}"
    try:
        fmt.format(final_line="x", answer="y")
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"probe config answer_format: {fmt!r} may only use the fields {{final_line}} and {{answer}} ({err!r})"
        ) from err
    return fmt


def answer_string(fmt: str, task: Task, problem: Problem, final_line: str) -> str:
    return fmt.format(final_line=final_line, answer=task.gold_answer(problem))


def ppl(logprob: float, n_tokens: int) -> float:
    """exp(mean negative log-likelihood); 1.0 for an empty continuation."""
    return math.exp(min(-logprob / n_tokens, 700.0)) if n_tokens > 0 else 1.0


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Mean information gain and per-step perplexity curve (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    fmt = resolve_format(cfg, responder)
    final_mode = "{final_line}" in fmt
    problems = [p for p in select(task, "test", cfg) if p.solvable]
    if not problems:
        raise ValueError("probe infogain: no solvable problems in the test sample")
    pairs, spans = [], []
    for p in problems:
        lines = steps_of(task.solve(p))
        steps = lines[:-1] if final_mode else lines
        target = answer_string(fmt, task, p, lines[-1] if lines else "")
        ctx = task.prompt(p, 0)
        start = len(pairs)
        pairs.append((ctx, target))
        for s in steps:
            ctx = ctx + s + "\n"
            pairs.append((ctx, target))
        spans.append((start, len(pairs)))
    scores = loglik(responder, pairs, NAME)
    curves = [[ppl(*scores[i]) for i in range(a, b)] for a, b in spans]
    gains = [(c[0] - c[-1]) / len(c) for c in curves]
    ms = metric_set(cfg)
    ms.mean("infogain", gains)
    ms.mean("ppl_start", [c[0] for c in curves])
    ms.mean("ppl_end", [c[-1] for c in curves])
    ms.mean("log_ppl_drop", [math.log(c[0]) - math.log(c[-1]) for c in curves])
    ms.mean("gain_positive", [float(g > 0) for g in gains])
    for i in range(max(len(c) for c in curves)):
        ms.mean(f"ppl[step={i}]", [c[i] for c in curves if len(c) > i])
    records = [{**base_record(p), "ppl": c, "gain": g} for p, c, g in zip(problems, curves, gains)]
    return finish(NAME, ms, records, len(problems), "infogain", cfg, t0, answer_format_used=fmt)
