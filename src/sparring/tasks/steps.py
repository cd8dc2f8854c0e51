"""The step-chain engine shared by tasks whose solutions are lines ``a op b=r``.

A step-chain task (Countdown, Arith) writes one arithmetic step per line. This module owns
what every such task shares: the bounded step grammar (``STEP_RE``), the two operator rules
in use, and ``judge_steps``, the loop that parses each line and hands it to the family's
``StepJudge`` (which holds the family's state: Countdown's pool of numbers, Arith's
partially reduced tree). The flaw engine for such chains is ``tasks.flaws``.

Operator rules (``OP_RULES``), the one semantic difference of the arithmetic itself:

- ``positive`` (Countdown): every result is a positive integer, so ``a-b`` needs ``a > b``;
- ``non_negative`` (Arith): results may be 0, so ``a-b`` needs ``a >= b``.

Both divide exactly only (``b > 0`` and ``a % b == 0``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Callable

from .records import MAX_DIGITS, MAX_LINES, Problem, StepCheck, Verdict, fail

Step = tuple[int, str, int, int]  # (a, op, b, r) written a{op}b=r

# One arithmetic step ``a op b=r`` with ASCII digits only (``\d`` would admit unicode digits).
STEP_RE = re.compile(
    rf"([0-9]{{1,{MAX_DIGITS}}})[ \t]*([-+*/])[ \t]*([0-9]{{1,{MAX_DIGITS}}})[ \t]*=[ \t]*([0-9]{{1,{MAX_DIGITS}}})"
)


def _apply(a: int, op: str, b: int, zero_ok: bool) -> int | None:
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        return a - b if a > b or (zero_ok and a == b) else None
    if op == "/":
        return a // b if b > 0 and a % b == 0 else None
    return None


def apply_positive(a: int, op: str, b: int) -> int | None:
    """``a op b`` if it is a positive integer (Countdown's rule), else None."""
    return _apply(a, op, b, zero_ok=False)


def apply_non_negative(a: int, op: str, b: int) -> int | None:
    """``a op b`` if it is a non-negative integer (Arith's rule), else None."""
    return _apply(a, op, b, zero_ok=True)


OP_RULES: dict[str, Callable[[int, str, int], int | None]] = {
    "positive": apply_positive,
    "non_negative": apply_non_negative,
}


def fmt_step(step: Step) -> str:
    a, op, b, r = step
    return f"{a}{op}{b}={r}"


def fmt_steps(steps: list[Step]) -> str:
    return "\n".join(fmt_step(s) for s in steps)


class StepJudge(ABC):
    """What a step-chain task supplies to ``judge_steps``: a stateful judge of one solution."""

    unsolvable_reason = "the problem has no solution; the answer is to abstain"

    @abstractmethod
    def step(self, a: int, op: str, b: int, r: int) -> tuple[str, str | None]:
        """Judge ``a op b=r`` against the current state and advance it with the *claimed* r.
        Returns (why it is wrong or "", the right step where known)."""

    @abstractmethod
    def end(self) -> str:
        """Why the final state is not a finished solution ("" when it is)."""

    @abstractmethod
    def answer_ok(self, last_r: int) -> bool:
        """Whether the final claimed value is the right answer."""


def judge_steps(problem: Problem, text: str, judge: StepJudge) -> Verdict:
    """The step loop shared by step-chain tasks: parse each line with ``STEP_RE`` (a
    malformed line ends the solution), let ``judge`` rule on it, then on the conclusion."""
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        return fail("too many lines", well_formed=False)
    steps: list[StepCheck] = []
    first: int | None = None
    last_r: int | None = None
    for raw in lines:
        ln = raw.strip()
        if not ln:
            continue
        m = STEP_RE.fullmatch(ln)
        if m is None:
            steps.append(StepCheck(len(steps), ln[:80], False, "not a step of the form a+b=c"))
            return Verdict(
                False,
                False,
                steps,
                len(steps) - 1 if first is None else first,
                None,
                well_formed=False,
                reason="unparseable step",
            )
        a, op, b, r = int(m[1]), m[2], int(m[3]), int(m[4])
        reason, expected = judge.step(a, op, b, r)
        if reason and first is None:
            first = len(steps)
        last_r = r
        steps.append(StepCheck(len(steps), ln, not reason, reason, expected))
    if not steps:
        return fail("no steps", well_formed=False)
    if not problem.solvable:
        return Verdict(
            False, False, steps, len(steps) if first is None else first, str(last_r), reason=judge.unsolvable_reason
        )
    reason = ""
    if first is None:
        reason = judge.end()
        if reason:
            first = len(steps)
    else:
        reason = f"step {first + 1}: {steps[first].reason}"
    return Verdict(first is None, judge.answer_ok(last_r), steps, first, str(last_r), reason=reason)
