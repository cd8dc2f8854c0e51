"""Run-card evaluation: the numbers ``train()`` writes into run.json.

Nothing is generated or judged here: answers and critiques come from
:mod:`sparring.evaluation` through the one generator (``sparring.models.HFResponder``),
the same code the probes use, so ``after`` and ``critique_after`` are what ``sparring
probe`` reports for the same problems (greedy decoding equals one-at-a-time decoding, as
measured in FEASIBILITY.md).
"""

from __future__ import annotations

from typing import Any

from sparring.evaluation import accuracy as answer_accuracy
from sparring.evaluation import critique_items, critique_metrics, run_critiques
from sparring.models import Responder, as_responder
from sparring.tasks import Problem, Task

EVAL_BATCH = 256  # prompts per generation batch


def responder(model, tokenizer, batch_size: int = EVAL_BATCH, chat_format=None) -> Responder:
    """The generator over a model that may still be training (no cache between calls);
    ``model`` may also be any :class:`~sparring.models.Responder` (``tokenizer=None``)."""
    return as_responder(model, tokenizer, batch_size=batch_size, cache=False, chat_format=chat_format)


def accuracy(
    model,
    tokenizer,
    task: Task,
    problems: list[Problem],
    *,
    max_new_tokens: int = 96,
    samples: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    style: str = "char",
    chat_format=None,
) -> dict[str, Any]:
    """:func:`sparring.evaluation.accuracy` of ``model`` (greedy, or ``samples`` sampled)
    with the prompts of ``style``."""
    return answer_accuracy(
        responder(model, tokenizer, chat_format=chat_format),
        task,
        problems,
        max_new_tokens=max_new_tokens,
        samples=samples,
        temperature=temperature,
        seed=seed,
        style=style,
        chat_format=chat_format,
    )


def test_accuracy(
    model,
    tokenizer,
    task: Task,
    n: int = 500,
    *,
    max_new_tokens: int = 96,
    seed: int = 0,
    style: str = "char",
    chat_format=None,
) -> dict[str, Any]:
    """Greedy accuracy on ``n`` problems of the task's held-out test split."""
    problems = task.problems("test", n=n, seed=seed)
    return accuracy(
        model, tokenizer, task, problems, max_new_tokens=max_new_tokens, style=style, chat_format=chat_format
    )


def critique_accuracy(
    model, tokenizer, task: Task, n: int = 200, *, seed: int = 0, style: str = "char", chat_format=None
) -> dict[str, Any]:
    """The critique probe's metrics (``sparring probe --probes critique --n N``, default
    settings) on ``n`` held-out problems: see :mod:`sparring.evaluation.critique`."""
    items = critique_items(task, task.problems("test", n=n, seed=seed), seed=seed)
    outcomes, cap = run_critiques(
        responder(model, tokenizer, 64, chat_format), task, items, seed=seed, style=style, chat_format=chat_format
    )
    return {**critique_metrics(task, outcomes), "max_new_tokens": cap}
