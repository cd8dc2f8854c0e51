"""Evaluation: the one way a model's answers and critiques are generated and judged.

Below train (run.json's numbers) and probes (the battery's), above the generator
(``sparring.models.HFResponder``, or any :class:`~sparring.models.Responder`) and the task
verifiers. Both users call the same functions with the same settings, so the same model
gets the same numbers from ``sparring train`` and ``sparring probe``:

    answers(responder, task, problems, max_new_tokens=96) -> list[list[str]]
    accuracy(responder, task, problems, max_new_tokens=96, samples=1) -> dict
    critique_items(task, problems, seed=0, flawed_fraction=0.5) -> list[CritiqueItem]
    run_critiques(responder, task, items, ...) -> (list[CritiqueOutcome], cap)
    critique_fractions(task, outcomes) -> {metric: (hits, of)}
    critique_metrics(task, outcomes) -> {metric: value}
"""

from .answers import accuracy, answers, read_outputs, task_prompt
from .critique import (
    CRITIQUE_STOP,
    QUESTION_STYLES,
    CritiqueItem,
    CritiqueOutcome,
    critique_fractions,
    critique_items,
    critique_metrics,
    critique_question,
    run_critiques,
)

__all__ = [
    "CRITIQUE_STOP",
    "QUESTION_STYLES",
    "CritiqueItem",
    "CritiqueOutcome",
    "accuracy",
    "answers",
    "read_outputs",
    "task_prompt",
    "critique_fractions",
    "critique_items",
    "critique_metrics",
    "critique_question",
    "run_critiques",
]
