"""Helpers shared by the probe modules: prompting, greedy answering, records."""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

from sparring.evaluation import answers, read_outputs
from sparring.models import as_responder
from sparring.tasks import Problem, Task, Verdict

from .config import ProbeConfig, answer_cap, as_config
from .responder import Prompt, Responder, token_counter, user
from .result import MetricSet, ProbeResult

RECORD_TEXT_CHARS = 400  # completions stored in records are cut to this length


def require(task: Task, probe: str, capabilities: Sequence[str]) -> None:
    """The one-line error naming ``probe`` and the task unless it has every capability."""
    for capability in capabilities:
        task.require(capability, by=f"probe {probe!r}")


def setup(model: Any, tokenizer: Any, config: ProbeConfig | dict | None) -> tuple[Responder, ProbeConfig]:
    """Resolve the model argument and the config of a probe call."""
    import torch

    cfg = as_config(config)
    if isinstance(model, (torch.nn.Module, str, os.PathLike)):
        return as_responder(model, tokenizer, batch_size=cfg.batch_size, chat=cfg.chat), cfg
    return as_responder(model, tokenizer), cfg


def prompt_for(task: Task, problem: Problem, cfg: ProbeConfig, template: int = 0) -> Prompt:
    """The raw prompt text, or a one-message conversation when ``cfg.chat``."""
    text = task.prompt(problem, template)
    return [user(text.rstrip("\n"))] if cfg.chat else text


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
