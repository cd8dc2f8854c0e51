"""Post-completion self-evaluation (METHODS.md 1.11): the format and its rewards.

A self-evaluating completion is the answer, then (training only) a self-evaluation block::

    {answer}
    <evaluation>{what the model thinks of it}</evaluation><reward>[acc, fmt]</reward>

``acc`` and ``fmt`` are the model's predictions, numbers in [0, 1], of two verifier facts
about its own answer: ``acc`` = the answer is correct (``Verdict.correct``), ``fmt`` = it is
well formed in the task's format (``Verdict.well_formed``). At inference the answer ends at
:data:`STOP` (``<evaluation>``): the checkpoint saves it as a stop string and the one
generator honours it, so no evaluation text ever reaches a verifier or a probe.

The self-prediction reward, per component, is ``1 - |pred - true| / max(pred, true)``
(1 when both are 0), averaged over the two components (:func:`self_prediction_score`).
The task's own rewards see only the answer (:func:`answer_only`).

Everything here parses untrusted text: bounded regular expressions over at most
:data:`MAX_BLOCK_CHARS` characters after the answer, never ``eval``; a missing or malformed
block (no tags, a number outside [0, 1], three numbers, text in the reward) reads as None
and scores 0, never an exception.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from sparring.tasks import Verdict
from sparring.tasks.base import MAX_COMPLETION_CHARS

from . import completion_text, register_reward, verdicts

EVAL_OPEN, EVAL_CLOSE = "<evaluation>", "</evaluation>"
REWARD_OPEN, REWARD_CLOSE = "<reward>", "</reward>"
STOP = EVAL_OPEN  # where the answer ends: the stop string a self-eval checkpoint saves
SEPARATOR = "\n"  # between the answer and the block
MAX_EVALUATION_CHARS = 300
MAX_BLOCK_CHARS = 512
_NUM = r"([0-9]{1,3}(?:\.[0-9]{1,6})?|\.[0-9]{1,6})"
_BLOCK_RE = re.compile(
    rf"\A{EVAL_OPEN}[^<>]{{0,{MAX_EVALUATION_CHARS}}}{EVAL_CLOSE}[ \t\n]{{0,4}}{REWARD_OPEN}"
    rf"[ \t]{{0,4}}\[[ \t]{{0,4}}{_NUM}[ \t]{{0,4}},[ \t]{{0,4}}{_NUM}[ \t]{{0,4}}\][ \t]{{0,4}}{REWARD_CLOSE}"
)


def split_evaluation(text: str) -> tuple[str, str | None]:
    """(the answer, the block from ``<evaluation>`` on, or None when there is none)."""
    text = text[:MAX_COMPLETION_CHARS] if isinstance(text, str) else ""
    i = text.find(STOP)
    return (text, None) if i < 0 else (text[:i], text[i:])


def parse_self_reward(block: str | None) -> tuple[float, float] | None:
    """The predicted ``(acc, fmt)`` of a block that starts with ``<evaluation>``, or None
    when it is missing or malformed (either number outside [0, 1] included)."""
    if not isinstance(block, str):
        return None
    m = _BLOCK_RE.match(block[:MAX_BLOCK_CHARS])
    if m is None:
        return None
    acc, fmt = float(m[1]), float(m[2])
    return (acc, fmt) if 0.0 <= acc <= 1.0 and 0.0 <= fmt <= 1.0 else None


def component_score(pred: float, true: float) -> float:
    """``1 - |pred - true| / max(pred, true)``; 1 when both are 0."""
    top = max(pred, true)
    return 1.0 if top <= 0.0 else 1.0 - abs(pred - true) / top


def self_prediction_score(pred: tuple[float, float] | None, true: tuple[float, float]) -> float:
    """The mean of :func:`component_score` over (acc, fmt); 0 for no (or a malformed) prediction."""
    if pred is None:
        return 0.0
    return sum(component_score(p, t) for p, t in zip(pred, true)) / len(true)


def true_labels(verdict: Verdict) -> tuple[float, float]:
    """(acc, fmt) of an answer, by the verifier: correct, well formed."""
    return float(bool(verdict.correct)), float(bool(verdict.well_formed))


def evaluation_text(verdict: Verdict) -> str:
    """A short verifier-written evaluation (what the warm-start teaches the model to write)."""
    if verdict.correct:
        return "correct"
    if not verdict.well_formed:
        return "malformed"
    if verdict.steps and verdict.first_error is not None and verdict.first_error < len(verdict.steps):
        return f"step {verdict.first_error + 1} wrong"
    return "wrong answer"


def evaluation_block(verdict: Verdict) -> str:
    """The block the verifier would write for an answer (labels 0 or 1)."""
    acc, fmt = (int(x) for x in true_labels(verdict))
    return f"{EVAL_OPEN}{evaluation_text(verdict)}{EVAL_CLOSE}{REWARD_OPEN}[{acc}, {fmt}]{REWARD_CLOSE}"


def _with_text(completion: Any, text: str) -> Any:
    """``completion`` (a string or a chat message list) with its text replaced."""
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return [*completion[:-1], {**completion[-1], "content": text}]
    return text


def answer_only(fn: Callable[..., list[float]]) -> Callable[..., list[float]]:
    """``fn`` (a reward) applied to the answers alone: each completion cut at ``<evaluation>``."""

    def reward(completions: list, **columns: Any) -> list[float]:
        cut = [_with_text(c, split_evaluation(completion_text(c))[0]) for c in completions]
        return fn(cut, **columns)

    reward.__name__ = getattr(fn, "__name__", "reward")
    return reward


def self_readings(completions: list, problem: list | None) -> list[tuple[tuple[float, float] | None, Verdict]]:
    """Per completion: (its predicted (acc, fmt) or None, the verifier's verdict on its answer)."""
    parts = [split_evaluation(completion_text(c)) for c in completions]
    found = verdicts([answer for answer, _ in parts], problem)
    return [(parse_self_reward(block), v) for (_, block), v in zip(parts, found)]


@register_reward("self_prediction", ("problem",))
def self_prediction_reward(completions: list, problem: list | None = None, **_: Any) -> list[float]:
    """How well the block's ``[acc, fmt]`` predicts the verifier's verdict on the answer."""
    return [self_prediction_score(pred, true_labels(v)) for pred, v in self_readings(completions, problem)]


__all__ = [
    "EVAL_CLOSE",
    "EVAL_OPEN",
    "SEPARATOR",
    "STOP",
    "answer_only",
    "component_score",
    "evaluation_block",
    "evaluation_text",
    "parse_self_reward",
    "self_prediction_reward",
    "self_prediction_score",
    "self_readings",
    "split_evaluation",
    "true_labels",
]
