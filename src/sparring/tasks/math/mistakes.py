"""Planted flaws for ``math`` (CFT, the critique probe): rule-based numeric perturbations
of the gold solution.

The gold answer's value is perturbed by one rule, and the wrong value is written where the
gold solution states its result (the last two lines, as a whole number token) and in the
answer tag:

- ``arithmetic_slip``: off by a small amount (+-1..9), carried to the end;
- ``magnitude_slip``: a dropped or added zero (times 10; 0 becomes 10), carried;
- ``copy_slip``: the reasoning is right, the tag holds a miscopied value (the last two
  digits swapped when they differ, else off by 4..9).

A plain gold answer (integer, decimal, fraction ``a/b``) is perturbed as an exact number.
Any other (LaTeX, an expression) has its last integer literal perturbed the same way
(``\\frac{3}{4}`` -> ``\\frac{3}{5}``); a gold answer without a digit has no numeric
flaw (ValueError).
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

from .grade import plain_number

FLAW_KINDS = ("arithmetic_slip", "magnitude_slip", "copy_slip")
_INT = re.compile(r"(?<![0-9])[0-9]{1,30}(?![0-9])")


def fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def _perturb(v: Fraction, kind: str, rng: random.Random) -> Fraction:
    if kind == "arithmetic_slip":
        return v + rng.choice((-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9))
    if kind == "magnitude_slip":
        return v * 10 if v else Fraction(10)
    digits = str(abs(v.numerator))
    if v.denominator == 1 and len(digits) >= 2 and digits[-1] != digits[-2]:
        swapped = int(digits[:-2] + digits[-1] + digits[-2])
        return Fraction(-swapped if v < 0 else swapped)
    return v + rng.randint(4, 9)


def wrong_answer(answer: str, kind: str, rng: random.Random) -> str:
    """The gold ``answer`` perturbed by ``kind`` (a different value)."""
    v = plain_number(answer)
    if v is not None:
        return fmt(_perturb(v, kind, rng))
    found = list(_INT.finditer(answer))
    if not found:
        raise ValueError(f"the gold answer {answer[:40]!r} has no number to perturb: no numeric flaw")
    m = found[-1]
    n = Fraction(int(m.group()))
    new = _perturb(n, kind, rng)
    if new <= 0 or new.denominator != 1:  # keep a literal a literal
        new = n + rng.randint(1, 3)
    return answer[: m.start()] + fmt(new) + answer[m.end() :]


def plant(solution: str, answer: str, kind: str, rng: random.Random) -> tuple[str, str]:
    """(the flawed completion, its wrong answer)."""
    wrong = wrong_answer(answer, kind, rng)
    lines = solution.splitlines()
    if kind != "copy_slip" and lines:
        token = re.compile(r"(?<![0-9./])" + re.escape(answer) + r"(?![0-9]|/[0-9]|\.[0-9])")
        for i in range(max(0, len(lines) - 2), len(lines)):
            lines[i] = token.sub(wrong.replace("\\", "\\\\"), lines[i])
    body = "\n".join(lines) if lines else f"The answer is {wrong}."
    return f"{body}\n<answer>{wrong}</answer>", wrong
