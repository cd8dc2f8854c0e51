"""Helpers shared by the probe modules: prompting, greedy answering, records."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Sequence

from sparring.evaluation import answers, read_outputs, task_prompt
from sparring.models import as_responder
from sparring.models.style import resolve_style
from sparring.tasks import Problem, Task, Verdict

from .config import ProbeConfig, answer_cap, as_config
from .responder import Prompt, Responder, token_counter
from .result import MetricSet, ProbeResult

RECORD_TEXT_CHARS = 400  # completions stored in records are cut to this length


def require(task: Task, probe: str, capabilities: Sequence[str]) -> None:
    """The one-line error naming ``probe`` and the task unless it has every capability."""
    for capability in capabilities:
        task.require(capability, by=f"probe {probe!r}")


def setup(
    model: Any, tokenizer: Any, config: ProbeConfig | dict | None, task: Task | None = None
) -> tuple[Responder, ProbeConfig]:
    """Resolve the model argument and the config of a probe call; the config's style comes
    back resolved (``auto``: by the model's tokenizer; a responder without one, such as a
    test oracle, is char when it says ``plain_text``, else chat)."""
    import torch

    cfg = as_config(config)
    if isinstance(model, (torch.nn.Module, str, os.PathLike)):
        kw = {"batch_size": cfg.batch_size, "chat_format": cfg.chat_format()}
        responder = as_responder(model, tokenizer, **kw)
    else:
        responder = as_responder(model, tokenizer)
    return responder, resolved(cfg, responder, task)


def resolved(cfg: ProbeConfig, responder: Responder, task: Task | None = None) -> ProbeConfig:
    """``cfg`` with ``style`` decided for ``responder`` (and checked against ``task``)."""
    tok = getattr(responder, "tokenizer", None)
    if tok is not None:
        style = resolve_style(cfg.style, tok, "probe config style")
    else:
        style = cfg.style if cfg.style != "auto" else ("char" if getattr(responder, "plain_text", False) else "chat")
    if task is not None and style not in task.styles:
        raise ValueError(f"probe config style: task {task.name} has no {style} style (it has {list(task.styles)})")
    return cfg if style == cfg.style else replace(cfg, style=style)


def prompt_for(task: Task, problem: Problem, cfg: ProbeConfig, template: int = 0) -> Prompt:
    """The prompt in ``cfg``'s (resolved) style: raw char text, or a conversation."""
    return task_prompt(task, problem, cfg.style, cfg.chat_format(), template)


def first_text(outputs: Any, expected: int, probe: str) -> list[str]:
    """First sample of each output list; anything that is not text becomes ``""``."""
    return [row[0] for row in read_outputs(outputs, expected, f"probe {probe}", 1)]


def answer(
    responder: Responder, task: Task, problems: Sequence[Problem], cfg: ProbeConfig, template: int = 0, probe: str = ""
) -> tuple[list[str], list[Verdict]]:
    """Greedy completions of ``problems`` under ``template`` and their verdicts.

    The length cap is :func:`answer_cap` of these problems, so the same problem set gives
    the same request and probes share the responder's cache.
    """
    cap = answer_cap(token_counter(responder), task, list(problems), cfg)
    prompts = [prompt_for(task, p, cfg, template) for p in problems]
    texts = [
        row[0]
        for row in answers(
            responder, task, problems, prompts=prompts, max_new_tokens=cap, seed=cfg.seed, label=f"probe {probe}"
        )
    ]
    return texts, [task.verify(p, t) for p, t in zip(problems, texts)]


def clip(text: str) -> str:
    return text if len(text) <= RECORD_TEXT_CHARS else text[:RECORD_TEXT_CHARS] + "..."


def base_record(problem: Problem) -> dict[str, Any]:
    return {"id": problem.id, "level": problem.level, "difficulty": problem.difficulty, "solvable": problem.solvable}


def verdict_record(v: Verdict) -> dict[str, Any]:
    return {
        "correct": bool(v.correct),
        "answer_correct": bool(v.answer_correct),
        "abstained": bool(v.abstained),
        "well_formed": bool(v.well_formed),
        "first_error": v.first_error,
    }


def metric_set(cfg: ProbeConfig) -> MetricSet:
    return MetricSet(cfg.seed, cfg.n_resamples)


def finish(
    name: str,
    ms: MetricSet,
    records: list[dict],
    n: int,
    primary: str,
    cfg: ProbeConfig,
    t0: float,
    **extra_config: Any,
) -> ProbeResult:
    return ProbeResult(
        probe=name,
        metrics=ms.metrics,
        ci=ms.ci,
        n=n,
        records=records,
        primary=primary,
        config={**cfg.to_dict(), **extra_config},
        seconds=time.perf_counter() - t0,
    )
