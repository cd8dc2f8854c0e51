"""The answer continuation: what "the answer" of a problem is, where a model states it, and
the contexts in which its probability is read (premature confidence, information gain, and
later confidence shaping's reward: METHODS.md 1.10 and section 2). Defined once, here,
below corpus, train and probes; the argument is written out in docs/probes.md.

**The answer** of a problem is the content of the answer tag of the task's chat style,
``<answer>...</answer>`` (``task.gold_completion(problem, "chat")``): Countdown's is the
*expression* (``16-3-1``), Arith's and Linear's the value. It is predictable in principle
before any reasoning: it is a function of the problem alone, not of the steps' wording or
positions, it is not written in the prompt (Countdown's target is, so the target is *not*
the answer), and the tag may follow any prefix of the reasoning, including none. So
``P(answer | prompt + R[:j] + "<answer>")`` is defined at every truncation point j, and a
model that knows its answer before it reasons *can* be confident at j = 0.

**Where it is stated** (the style): a chat-style completion states its answer in the tag,
after its reasoning. A char-style completion (``7*3=21\\n21+9=30``) states no answer apart
from its step chain: the answer *is* the chain, and its last line cannot be read before the
reasoning because its operands are the earlier steps' results (``21`` is not in the pool at
j = 0), so the old "final line" continuation was near zero at j = 0 for every model by
construction. Hence the probes that read the answer do not apply to the char style
(:data:`CHAR_NOT_APPLICABLE`), and report "n/a", unless the char style itself states the
answer (Linear's ends with the tag: :func:`char_states_answer`) or the model is known to
state it in the tag even with char prompts (``answer_format="stated"``, e.g. the controls
of ``corpus.controls.stated``).

Reading: the scored continuation is ``{answer}</answer>`` after the context ``prompt +
reasoning lines[:j] + "<answer>"``: the cue is context, so only the answer itself (and the
closing tag) is scored. The answer read for a model's own completion is its own tagged
answer when the completion verifies as correct (several expressions can be right), else
the gold one. The reading itself is :func:`confidence_trajectories` (and
:func:`read_answers` under it): given any scorer of ``(context, continuation)`` pairs (the
one generator's ``HFResponder.loglik``), the probes and confidence shaping's reward call the
same code, so the reward optimises exactly what the ``confidence`` probe measures.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from .base import Problem, Task
from .freetext import last_answer, outside_answers

Pair = tuple[str, str]
Loglik = Callable[[list[Pair]], Sequence[tuple[float, int]]]

OPEN, CLOSE = "<answer>", "</answer>"
MAX_ANSWER_CHARS = 200
MAX_REASONING_LINES = 256
CHAR_NOT_APPLICABLE = (
    "the char style states no answer apart from its step chain: its last line cannot be read "
    "before the steps that make its operands, so a confidence or information-gain reading "
    "would be near zero at the start for every model (docs/probes.md, 'The answer')"
)


def stated_answer(task: Task, problem: Problem) -> str:
    """The gold answer as the task states it: the chat-style gold's last tag content.

    ``ValueError`` (naming the task) when the task has no chat style or its gold has no tag.
    """
    if "chat" not in task.styles:
        raise ValueError(f"task {task.name}: has no chat style, so no stated answer (<answer> tag)")
    found = last_answer(task.gold_completion(problem, "chat"), MAX_ANSWER_CHARS)
    if found is None:
        raise ValueError(f"task {task.name}: its chat-style gold has no {OPEN}...{CLOSE} tag")
    return found.strip()


def own_answer(text: str) -> str | None:
    """The answer a completion states (its last tag's content), or None."""
    found = last_answer(text if isinstance(text, str) else "", MAX_ANSWER_CHARS)
    return found.strip() if found is not None else None


def answer_to_read(task: Task, problem: Problem, completion: str | None, correct: bool) -> str:
    """The model's own stated answer when its completion is correct, else the gold one."""
    own = own_answer(completion) if correct and completion else None
    return own if own else stated_answer(task, problem)


def reasoning_lines(text: str) -> list[str]:
    """The non-blank lines of a completion outside its answer tags (its reasoning), capped."""
    body = outside_answers(text if isinstance(text, str) else "", MAX_ANSWER_CHARS)
    return [ln.strip() for ln in body.split("\n") if ln.strip()][:MAX_REASONING_LINES]


def stated_completion(task: Task, problem: Problem, answer_first: bool = False) -> str:
    """The char-style gold steps with the answer stated in the tag: after the steps
    ("derive"), or first and again at the end (``answer_first``: commit, then justify)."""
    tag = f"{OPEN}{stated_answer(task, problem)}{CLOSE}"
    steps = task.solve(problem)
    if own_answer(steps) is None:  # a bare step chain (Countdown, Arith): state the answer after it
        steps = f"{steps}\n{tag}"
    return f"{tag}\n{steps}" if answer_first and problem.solvable else steps


def char_states_answer(task: Task) -> bool:
    """Whether the task's char style itself states the answer in the tag (Linear's does;
    Countdown's and Arith's bare step chains do not)."""
    if "chat" not in task.styles:
        return False
    problem = next((p for p in task.problems("test", n=8, seed=0) if p.solvable), None)
    return problem is not None and own_answer(task.solve(problem)) is not None


def cut_points(n_lines: int, points: int) -> list[int]:
    """``points`` evenly spaced line counts in 0..n_lines (distinct, sorted)."""
    if points == 1:
        return [n_lines]
    return sorted({round(i * n_lines / (points - 1)) for i in range(points)})


def read_pair(prompt: str, lines: list[str], answer: str) -> tuple[str, str]:
    """(context, continuation) for the answer after ``lines`` of reasoning."""
    return prompt + "".join(line + "\n" for line in lines) + OPEN, answer + CLOSE


def trajectory_pairs(prompt: str, lines: list[str], answer: str, points: int) -> list[tuple[str, str]]:
    """The confidence trajectory's reads: the answer after ``lines[:j]`` at ``points``
    evenly spaced truncation points j (j = 0: no reasoning at all)."""
    return [read_pair(prompt, lines[:j], answer) for j in cut_points(len(lines), points)]


def growing_pairs(prompt: str, lines: list[str], answer: str) -> list[tuple[str, str]]:
    """The information-gain reads: the answer after c_0 = prompt, c_i = c_{i-1} + line_i."""
    return [read_pair(prompt, lines[:i], answer) for i in range(len(lines) + 1)]


def read_answers(loglik: Loglik, groups: Sequence[Sequence[Pair]]) -> list[list[tuple[float, int]]]:
    """The scores of every group of ``(context, continuation)`` reads, in one batched call of
    ``loglik`` (a scorer such as ``HFResponder.loglik``: summed log-probability and token
    count per pair), split back per group. A scorer that returns a wrong count is one error."""
    pairs = [pair for group in groups for pair in group]
    scores = list(loglik(pairs)) if pairs else []
    if len(scores) != len(pairs):
        raise ValueError(f"answer reading: the scorer returned {len(scores)} scores for {len(pairs)} reads")
    out, at = [], 0
    for group in groups:
        out.append(scores[at : at + len(group)])
        at += len(group)
    return out


def answer_probability(logprob: float) -> float:
    """P(answer) from its summed log-probability (clamped at 1)."""
    return math.exp(min(float(logprob), 0.0))


def confidence_trajectories(
    loglik: Loglik, items: Sequence[tuple[str, list[str], str]], points: int
) -> list[list[float]]:
    """The one reading of confidence in an answer (the ``confidence`` probe and confidence
    shaping's reward both call this): for each ``(prompt text, reasoning lines, answer)``,
    P(answer) after the reasoning truncated at ``points`` evenly spaced points
    (:func:`trajectory_pairs`), all reads scored in one batched ``loglik`` call."""
    groups = [trajectory_pairs(prompt, lines, answer, points) for prompt, lines, answer in items]
    return [[answer_probability(lp) for lp, _ in scores] for scores in read_answers(loglik, groups)]


__all__ = [
    "CHAR_NOT_APPLICABLE",
    "CLOSE",
    "OPEN",
    "answer_to_read",
    "answer_probability",
    "char_states_answer",
    "confidence_trajectories",
    "cut_points",
    "growing_pairs",
    "own_answer",
    "read_answers",
    "read_pair",
    "reasoning_lines",
    "stated_answer",
    "stated_completion",
    "trajectory_pairs",
]
