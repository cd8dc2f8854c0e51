"""Information gain: do the gold steps carry the answer, in the model's own likelihood?

What it measures (METHODS.md 2, after the InfoGain analysis): take a held-out problem's
gold reasoning with steps s_1..s_N, build growing contexts

    c_0 = prompt,   c_i = c_{i-1} + s_i + "\\n"

and read the perplexity PPL_i of the answer A after ``c_i + "<answer>"`` (one forward pass
per context, see ``HFResponder.loglik``). Then

    gain = (PPL_0 - PPL_N) / (N + 1)

per problem, averaged. A model whose reasoning *carries* the answer finds A much easier
after the steps (large gain); a model that rationalises answers it would give anyway
finds the steps no help (gain near 0).

The answer A and where it is read are ``sparring.tasks.continuation``'s (one definition
for this probe, ``confidence`` and confidence shaping; the argument is in docs/probes.md):
A is the content of the task's answer tag (Countdown: the expression, not the target,
which the prompt already shows), scored as ``{A}</answer>`` after the cue ``<answer>``.
``answer_format``: ``"auto"`` reads it where the style states answers (chat: the chat
prompt and the chat gold's reasoning lines) and reports **n/a** for a char style whose
completions state no answer apart from the step chain (Countdown, Arith; Linear's char
style ends with the tag, so it is read there) (by construction, see
``continuation.CHAR_NOT_APPLICABLE``); ``"stated"`` reads it after the char prompt and
the char gold steps, for char models trained to state their answer in the tag.

Metrics: ``infogain`` (mean gain), ``ppl_start`` / ``ppl_end`` (mean PPL_0 / PPL_N),
``log_ppl_drop`` (mean log PPL_0 - log PPL_N, robust to huge perplexities),
``gain_positive`` (share of problems with gain > 0), and the curve ``ppl[step=i]`` (mean
PPL_i over problems with at least i steps). Not applicable: ``infogain`` None and
``not_applicable`` 1 (the report prints "n/a"), the reason in ``config``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from sparring.tasks import Problem, Task
from sparring.tasks.continuation import (
    CHAR_NOT_APPLICABLE,
    char_states_answer,
    growing_pairs,
    read_answers,
    reasoning_lines,
    stated_answer,
    stated_completion,
)

from .common import base_record, finish, metric_set, prompt_for, require, setup
from .config import ANSWER_FORMATS, ProbeConfig, select
from .responder import Responder, first_user_text, loglik
from .result import ProbeResult

NAME = "infogain"
NEEDS = ("steps",)  # task capabilities (Task.require)


def answer_mode(cfg: ProbeConfig, responder: Responder, task: Task) -> str | None:
    """Where the answer is read: "chat" (the chat style's prompt and gold), "char" (char
    prompt and steps, answer stated in the tag) or None (not applicable: char style)."""
    fmt = cfg.answer_format
    if fmt not in ANSWER_FORMATS:
        raise ValueError(f"probe config answer_format: must be one of {list(ANSWER_FORMATS)} (got {fmt!r})")
    if fmt == "stated":
        stated_answer(task, task.problems("test", n=1, seed=0)[0])  # one clear error without a tag
        return "char"
    if cfg.style == "chat":  # resolved by setup() for this responder and task
        return "chat"
    return "char" if char_states_answer(task) else None


def prompt_text(responder: Responder, task: Task, problem: Problem, cfg: ProbeConfig, mode: str) -> str:
    """The prompt as the model reads it: the char template, or the chat prompt rendered by
    the responder (its chat template) when it can render one."""
    if mode == "char":
        return task.prompt(problem, 0)
    prompt = prompt_for(task, problem, cfg)
    render = getattr(responder, "format", None)
    if callable(render):
        return render(prompt)[0]
    return prompt if isinstance(prompt, str) else first_user_text(prompt) + "\n"


def gold_lines(task: Task, problem: Problem, mode: str) -> list[str]:
    """The gold reasoning's lines in the mode's style (without the answer tag)."""
    text = stated_completion(task, problem) if mode == "char" else task.gold_completion(problem, "chat")
    return reasoning_lines(text)


def not_applicable(name: str, primary: str, cfg: ProbeConfig, t0: float, reason: str) -> ProbeResult:
    """The result of a probe that does not apply: its primary metric None, ``not_applicable``
    1 (what the report prints as "n/a"), and the reason."""
    ms = metric_set(cfg)
    ms.value(primary, None)
    ms.value("not_applicable", 1.0)
    return finish(name, ms, [], 0, primary, cfg, t0, not_applicable=reason)


def ppl(logprob: float, n_tokens: int) -> float:
    """exp(mean negative log-likelihood); 1.0 for an empty continuation."""
    return math.exp(min(-logprob / n_tokens, 700.0)) if n_tokens > 0 else 1.0


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """Mean information gain and per-step perplexity curve (see module doc)."""
    require(task, NAME, NEEDS)
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    mode = answer_mode(cfg, responder, task)
    if mode is None:
        return not_applicable(NAME, "infogain", cfg, t0, CHAR_NOT_APPLICABLE)
    problems = [p for p in select(task, "test", cfg) if p.solvable]
    if not problems:
        raise ValueError("probe infogain: no solvable problems in the test sample")
    groups = [
        growing_pairs(prompt_text(responder, task, p, cfg, mode), gold_lines(task, p, mode), stated_answer(task, p))
        for p in problems
    ]
    scores = read_answers(lambda pairs: loglik(responder, pairs, NAME), groups)
    curves = [[ppl(*s) for s in group] for group in scores]
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
    return finish(NAME, ms, records, len(problems), "infogain", cfg, t0, answer_read=mode)
