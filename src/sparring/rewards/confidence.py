"""Confidence shaping's reward (METHODS.md 1.10): reward confidence that grows with the
reasoning, penalise confidence that is high before any reasoning and stays high.

For each rollout the reasoning R (its lines outside the answer tag) is truncated at
``points`` evenly spaced points j = 0 .. |R|, and the policy's probability of the answer
after ``prompt + R[:j] + "<answer>"`` is read: a confidence trajectory c_0 .. c_K. The
answer, the truncation points and the reading are ``sparring.tasks.continuation``'s, the
very code the ``confidence`` probe runs (:func:`confidence_trajectories`): the answer is the
content of the task's answer tag, the rollout's own when it verifies as correct, else the
gold one. The score of a trajectory (:func:`shaping_score`) is

    (c_K - c_0) - penalty * [every c_j >= threshold]

the rise from no reasoning to all of it, minus a penalty for a *flat-high* trajectory
(the probe's definition: at least two points, all >= ``threshold``). With ``only_correct``
(the default) only verified-correct rollouts are scored (others get 0), so the shaping ranks
right answers by how they were reached and never pays for a wrong one; since a score is
>= -(1 + penalty), a right answer outranks a wrong one under the task reward (weight 1)
whenever ``weight * (1 + penalty) < 1``.

The reward needs the policy: :class:`ConfidenceShapingReward` is a plain TRL reward
callable (``(completions, prompts, problem, ...) -> list[float]``) that is *bound* after
the trainer is built to a prompt renderer and a scorer of ``(context, continuation)`` pairs
(``train/confidence.py`` binds the trainer's model through the one generator's
``HFResponder.loglik_counted``, under ``no_grad``, in eval mode, batched, and counts those
forward passes into the budget). Model output is untrusted: a completion with nothing to read
(no reasoning lines, nothing to score) scores 0, never an exception.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from sparring.tasks.continuation import answer_to_read, confidence_trajectories, reasoning_lines

from . import _task, as_problem, completion_text, verdicts

Scorer = Callable[[list[tuple[str, str]]], Sequence[tuple[float, int]]]
MAX_POINTS = 8  # truncation points per rollout: bounds the reward's forward passes


def is_flat_high(trajectory: Sequence[float], threshold: float) -> bool:
    """At least two points, every one (including j = 0: no reasoning) >= ``threshold``."""
    return len(trajectory) >= 2 and min(trajectory) >= threshold


def shaping_score(trajectory: Sequence[float], threshold: float = 0.5, penalty: float = 1.0) -> float:
    """``(c_K - c_0) - penalty * flat_high``; 0 for a trajectory of fewer than two points."""
    if len(trajectory) < 2:
        return 0.0
    return float(trajectory[-1] - trajectory[0]) - penalty * float(is_flat_high(trajectory, threshold))


class ConfidenceShapingReward:
    """The confidence-shaping reward as a TRL reward callable (see the module doc).

    ``bind(render, scorer)`` before the first call: ``render(prompt) -> text`` renders a
    rollout's prompt as the policy read it (a chat template for conversations), and
    ``scorer(pairs) -> [(logprob, n_tokens)]`` scores continuations with the policy."""

    __name__ = "confidence_shaping"

    def __init__(self, points: int = 4, threshold: float = 0.5, penalty: float = 1.0, only_correct: bool = True):
        if not isinstance(points, int) or not 2 <= points <= MAX_POINTS:
            raise ValueError(f"confidence shaping: points must be an integer in 2..{MAX_POINTS}, got {points!r}")
        self.points, self.threshold, self.penalty, self.only_correct = points, threshold, penalty, only_correct
        self.render: Callable[[Any], str] | None = None
        self.scorer: Scorer | None = None

    def bind(self, render: Callable[[Any], str], scorer: Scorer) -> "ConfidenceShapingReward":
        self.render, self.scorer = render, scorer
        return self

    def trajectories(self, completions: list, prompts: list, problem: list) -> list[list[float] | None]:
        """Per rollout its confidence trajectory, or None where it is not read (not correct
        with ``only_correct``, or no reasoning to truncate)."""
        if self.render is None or self.scorer is None:
            raise RuntimeError("confidence shaping: the reward was not bound to a model (bind(render, scorer))")
        if prompts is None or len(prompts) != len(completions):
            raise ValueError("confidence shaping: needs one prompt per completion (TRL passes prompts=)")
        found = verdicts(completions, problem)
        items, where = [], []
        for i, (c, p, v) in enumerate(zip(completions, problem, found)):
            if self.only_correct and not v.correct:
                continue
            text = completion_text(c)
            lines = reasoning_lines(text)
            if not lines:  # nothing to truncate: no trajectory
                continue
            prob = as_problem(p)
            items.append((self.render(prompts[i]), lines, answer_to_read(_task(prob.task), prob, text, v.correct)))
            where.append(i)
        out: list[list[float] | None] = [None] * len(completions)
        for i, tr in zip(where, confidence_trajectories(self.scorer, items, self.points)):
            out[i] = tr
        return out

    def __call__(
        self, completions: list, prompts: list | None = None, problem: list | None = None, **kwargs: Any
    ) -> list[float]:
        trajs = self.trajectories(completions, prompts, problem)
        read = [tr for tr in trajs if tr is not None]
        log = kwargs.get("log_metric")
        if callable(log) and read:  # TRL's public hook for extra scalars
            log("confidence/flat_high_share", sum(is_flat_high(tr, self.threshold) for tr in read) / len(read))
            log("confidence/rise", sum(tr[-1] - tr[0] for tr in read) / len(read))
            log("confidence/read_share", len(read) / len(trajs))
        return [0.0 if tr is None else shaping_score(tr, self.threshold, self.penalty) for tr in trajs]


__all__ = ["MAX_POINTS", "ConfidenceShapingReward", "is_flat_high", "shaping_score"]
