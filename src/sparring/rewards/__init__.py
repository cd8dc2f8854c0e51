"""Reward functions built on the task verifiers, in the plain TRL signature.

Every function here has the signature TRL's ``GRPOTrainer`` calls reward functions with::

    fn(completions, **columns) -> list[float]

``completions`` is a list of strings (or of chat message lists, whose last message's
``content`` is used); ``columns`` carries the dataset's columns, one value per completion.
The verifier-based rewards need the ``problem`` column: the JSON text (or dict) of a
:class:`sparring.tasks.Problem`, exactly what every ``sparring.corpus`` recipe writes. So
this works in vanilla TRL::

    from trl import GRPOTrainer
    from sparring.rewards import correct_reward, format_reward
    GRPOTrainer(model=..., reward_funcs=[correct_reward, format_reward], train_dataset=ds, ...)

Model output is untrusted: a malformed completion scores 0 and never raises. A malformed
*problem* (a bug in the data, not in the model) raises ``ValueError`` naming the column.

Rewards:

- ``correct``: 1 if the right answer is reached by valid steps (``Verdict.correct``).
- ``answer``: 1 if the final claim is right, however it was reached.
- ``format``: 1 if every line parses as a step (or a well-formed trace / abstention).
- ``step_validity``: the fraction of steps that verify (0 with no steps).
- ``step_similarity``: ``difflib.SequenceMatcher`` ratio between the first line of the
  completion and the expert's next step (column ``next_step``): the SRL reward (METHODS 1.8).
- ``self_prediction``: how well a completion's self-evaluation block predicts the verifier's
  verdict on its answer (``self_eval.py``, METHODS 1.11).

``confidence.py`` holds confidence shaping's reward (METHODS 1.10), a callable bound to the
policy model once a trainer exists (it is not in the name registry).

``compute_score`` is the same ``correct`` reward with verl's signature.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from typing import Any, Callable

from sparring.tasks import Problem, Verdict, get_task, load_problem
from sparring.tasks.base import MAX_COMPLETION_CHARS

RewardFn = Callable[..., list[float]]
MAX_STEP_CHARS = 256  # SRL compares single steps; longer lines are cut before difflib


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the last message of a chat completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        return content if isinstance(content, str) else ""
    if isinstance(completion, dict):
        content = completion.get("content", "")
        return content if isinstance(content, str) else ""
    return ""


@lru_cache(maxsize=65536)
def _problem_from_json(text: str) -> Problem:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"column 'problem': not valid JSON ({err})") from None
    return load_problem(raw)


def as_problem(value: Any) -> Problem:
    """A Problem from a ``problem`` column value (JSON text, dict or Problem)."""
    if isinstance(value, Problem):
        return value
    if isinstance(value, str):
        return _problem_from_json(value)
    if isinstance(value, dict):
        return _problem_from_json(json.dumps(value, sort_keys=True))
    raise ValueError(f"column 'problem': expected JSON text or a dict, got {type(value).__name__}")


@lru_cache(maxsize=64)
def _task(name: str):
    return get_task(name)


def verdicts(completions: list, problem: list | None) -> list[Verdict]:
    """Verify each completion against its problem (the ``problem`` column)."""
    if problem is None:
        raise ValueError(
            "reward needs the dataset column 'problem' (JSON of a sparring Problem); "
            "build the dataset with sparring.corpus or add the column"
        )
    if len(problem) != len(completions):
        raise ValueError(f"column 'problem' has {len(problem)} values for {len(completions)} completions")
    out = []
    for c, p in zip(completions, problem):
        prob = as_problem(p)
        out.append(_task(prob.task).verify(prob, completion_text(c)))
    return out


def correct_reward(completions: list, problem: list | None = None, **_: Any) -> list[float]:
    """1.0 when the right answer is reached through valid steps, else 0.0."""
    return [1.0 if v.correct else 0.0 for v in verdicts(completions, problem)]


def answer_reward(completions: list, problem: list | None = None, **_: Any) -> list[float]:
    """1.0 when the final answer is right (even through invalid steps), else 0.0."""
    return [1.0 if v.answer_correct else 0.0 for v in verdicts(completions, problem)]


def format_reward(completions: list, problem: list | None = None, **_: Any) -> list[float]:
    """1.0 when the completion is well formed (every line a step, a trace or an abstention)."""
    return [1.0 if v.well_formed and (v.steps or v.abstained) else 0.0 for v in verdicts(completions, problem)]


def step_validity_reward(completions: list, problem: list | None = None, **_: Any) -> list[float]:
    """The fraction of steps that verify (0.0 without steps; 1.0 for a right abstention)."""
    out = []
    for v in verdicts(completions, problem):
        if v.steps:
            out.append(sum(s.ok for s in v.steps) / len(v.steps))
        else:
            out.append(1.0 if v.correct else 0.0)
    return out


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (stripped, bounded)."""
    for line in text[:MAX_COMPLETION_CHARS].split("\n"):
        if line.strip():
            return line.strip()[:MAX_STEP_CHARS]
    return ""


def similarity(a: str, b: str) -> float:
    """``difflib.SequenceMatcher`` ratio 2M/(|a|+|b|) (1.0 for two empty strings)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def step_similarity_reward(completions: list, next_step: list | None = None, **_: Any) -> list[float]:
    """SRL reward: similarity of the completion's first line to the expert's next step."""
    if next_step is None:
        raise ValueError("step_similarity reward needs the dataset column 'next_step'")
    if len(next_step) != len(completions):
        raise ValueError(f"column 'next_step' has {len(next_step)} values for {len(completions)} completions")
    return [similarity(first_line(completion_text(c)), first_line(str(s))) for c, s in zip(completions, next_step)]


REWARDS: dict[str, RewardFn] = {
    "correct": correct_reward,
    "answer": answer_reward,
    "format": format_reward,
    "step_validity": step_validity_reward,
    "step_similarity": step_similarity_reward,
}
# Columns each reward reads (so trainers can check a dataset before training).
REWARD_COLUMNS: dict[str, tuple[str, ...]] = {
    "correct": ("problem",),
    "answer": ("problem",),
    "format": ("problem",),
    "step_validity": ("problem",),
    "step_similarity": ("next_step",),
}


def get_reward(name: str) -> RewardFn:
    """The reward function registered as ``name``; ValueError lists the names."""
    if name not in REWARDS:
        raise ValueError(f"reward: unknown reward {name!r}; available: {sorted(REWARDS)}")
    return REWARDS[name]


def register_reward(name: str, columns: tuple[str, ...] = ()) -> Callable[[RewardFn], RewardFn]:
    """Decorator: register a reward function under ``name`` (needing dataset ``columns``)."""

    def deco(fn: RewardFn) -> RewardFn:
        REWARDS[name] = fn
        REWARD_COLUMNS[name] = tuple(columns)
        return fn

    return deco


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None) -> float:
    """verl-style scorer: 1.0 for a correct solution, else 0.0.

    ``ground_truth`` is the problem (JSON text or dict, as in the ``problem`` column; a
    bare ``data`` dict is accepted when ``data_source`` names the task). ``extra_info``
    may carry ``{"reward": NAME}`` to score with another registered reward.
    """
    if isinstance(ground_truth, str):
        try:
            ground_truth = json.loads(ground_truth)
        except json.JSONDecodeError as err:
            raise ValueError(f"ground_truth: not valid JSON ({err})") from None
    if isinstance(ground_truth, dict) and "task" not in ground_truth:
        ground_truth = {"task": data_source, "data": ground_truth}
    name = (extra_info or {}).get("reward", "correct") if isinstance(extra_info, dict) else "correct"
    return float(get_reward(name)([solution_str], problem=[ground_truth])[0])


from . import self_eval as _self_eval  # noqa: E402, F401  (registers self_prediction; needs the names above)

__all__ = [
    "REWARDS",
    "REWARD_COLUMNS",
    "answer_reward",
    "as_problem",
    "completion_text",
    "compute_score",
    "correct_reward",
    "first_line",
    "format_reward",
    "get_reward",
    "register_reward",
    "similarity",
    "step_similarity_reward",
    "step_validity_reward",
    "verdicts",
]
