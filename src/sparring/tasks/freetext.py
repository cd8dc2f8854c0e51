"""Reading free text (the chat style): the tagged final answer and the arithmetic steps.

A chat-style completion is free reasoning that ends with the final answer in a tag,
``<answer>...</answer>`` (the TinyZero / RARO convention). Everything here is bounded
parsing of untrusted text, never ``eval``, and never raises.

The answer: **the last** ``<answer>...</answer>`` counts (tags are case-sensitive, the
content holds no ``<`` or ``>`` and at most ``max_chars`` characters; a longer one is no
tag). Earlier tags are drafts: a completion that hedges with several answers is judged on
its last.

The steps (``free_steps``), read from the text outside the answer tags, left to right;
each is ``a OP b EQ r`` with

- numbers: ASCII digits, at most ``MAX_DIGITS`` of them, not part of a longer number: no
  sign, no decimal point, no thousands separator (``2,100`` and ``3.5`` are not read);
- OP: ``+``, ``-`` (also ``−`` and ``–``), ``*`` (also ``×``, ``x``, ``X``, ``·``), ``/``
  (also ``÷``), or the words ``plus``, ``minus``, ``times``, ``multiplied by``,
  ``divided by`` (any case);
- EQ: ``=``, or the words ``is``, ``equals``, ``gives``, ``makes`` (any case).

So ``7*3=21``, ``7 × 3 = 21``, ``7 times 3 is 21`` and ``21 divided by 7 equals 3`` are
steps; ``7*3+9=30`` (a chain: only a two-operand step is one), ``3.5*2=7``, ``-7*3=-21``
and ``21 = 7*3`` are not. A step right after an operator that follows an operand is part
of a chain and is not read; after a bullet (``- 17 - 11 = 6``) or a label it is. Text between steps is ignored, so prose, bullets and LaTeX-free
markdown around them are fine. At most ``MAX_FREE_STEPS`` steps are read.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .records import MAX_DIGITS, Problem, StepCheck, Verdict, abstention_verdict, fail, is_abstention

MAX_FREE_STEPS = 64
OPS = {
    "+": "+",
    "plus": "+",
    "-": "-",
    "−": "-",
    "–": "-",
    "minus": "-",
    "*": "*",
    "×": "*",
    "x": "*",
    "·": "*",
    "times": "*",
    "multiplied by": "*",
    "/": "/",
    "÷": "/",
    "divided by": "/",
}
_NUM = rf"([0-9]{{1,{MAX_DIGITS}}})(?![0-9]|[.,][0-9])"  # not followed by more digits or decimals
_FIRST = r"(?<![0-9.,\-−–])" + _NUM  # nor preceded by a digit, a separator or a sign
_OP = r"(\+|-|−|–|\*|×|x|·|/|÷|plus|minus|times|multiplied\s+by|divided\s+by)"
_EQ = r"(?:=|\bis\b|\bequals\b|\bgives\b|\bmakes\b)"
STEP_RE = re.compile(rf"{_FIRST}[ \t]*{_OP}[ \t]*{_NUM}[ \t]*{_EQ}[ \t]*{_NUM}", re.IGNORECASE)
# what may not come just before a step (blanks skipped): it would make the step part of a chain
# (an operator after an operand: a bullet "- 17 - 11 = 6" or "**Step 1:** ..." is no chain)
_CHAINED = re.compile(r"(?:[0-9)][ \t]*(?:[-+*/×·÷−–=x])|\b(?:plus|minus|times|by|is|equals))[ \t]*$", re.IGNORECASE)


@lru_cache(maxsize=8)
def _tag_re(max_chars: int) -> re.Pattern:
    return re.compile(r"<answer>([^<>]{0,%d})</answer>" % max_chars)


def answer_tags(text: str, max_chars: int) -> list[str]:
    """The contents of every ``<answer>...</answer>`` in ``text``, in order, stripped."""
    return [t.strip(" \t\r\n\f\v") for t in _tag_re(max_chars).findall(text)]


def last_answer(text: str, max_chars: int) -> str | None:
    """The content of the last ``<answer>...</answer>`` (None if there is none)."""
    found = answer_tags(text, max_chars)
    return found[-1] if found else None


def outside_answers(text: str, max_chars: int) -> str:
    """``text`` with its answer tags blanked out (where the reasoning is)."""
    return _tag_re(max_chars).sub(" ", text)


def free_steps(text: str) -> list[tuple[str, tuple[int, str, int, int]]]:
    """The steps written in ``text``: (the text as written, ``(a, op, b, r)`` with op one
    of ``+ - * /``), left to right, at most ``MAX_FREE_STEPS``."""
    out = []
    for m in STEP_RE.finditer(text):
        if _CHAINED.search(text, max(0, m.start() - 16), m.start()):  # 7*3+9=30 holds no step
            continue
        op = OPS[re.sub(r"\s+", " ", m[2].lower())]
        out.append((" ".join(m[0].split()), (int(m[1]), op, int(m[3]), int(m[4]))))
        if len(out) >= MAX_FREE_STEPS:
            break
    return out


def judge_free_steps(text: str, judge) -> list[StepCheck]:
    """Each step read from ``text`` (``free_steps``), judged by a step-chain task's
    ``StepJudge`` exactly as its char-style lines are (the claimed result carries on)."""
    out = []
    for i, (written, (a, op, b, r)) in enumerate(free_steps(text)):
        why, expected = judge.step(a, op, b, r)
        out.append(StepCheck(i, written[:80], not why, why, expected))
    return out


def read_natural(answer: str) -> int | None:
    """A non-negative integer answer: ASCII digits (at most ``MAX_DIGITS``), a final period
    allowed; else None."""
    text = answer.strip().removesuffix(".").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS else None


def read_chat(problem: Problem, text: str, judge, max_chars: int) -> tuple[list[StepCheck], str | Verdict]:
    """What every chat-style verifier reads first: the steps of the prose (judged by the
    task's ``judge``) and the last answer tag's content, or the final Verdict when there is
    no tag (malformed) or the tag abstains."""
    steps = judge_free_steps(outside_answers(text, max_chars), judge)
    answer = last_answer(text, max_chars)
    if answer is None:
        return steps, fail(
            f"no <answer>...</answer> tag (at most {max_chars} characters inside)", steps, well_formed=False
        )
    if is_abstention(answer):
        return steps, abstention_verdict(problem)
    return steps, answer


def chat_verdict(ok: bool, answer_correct: bool, steps: list[StepCheck], answer: str, why: str) -> Verdict:
    """The verdict of a readable chat answer: ``ok`` decides correctness; the first error is
    the first invalid step (or the number of steps when all are valid), None when right."""
    first = next((s.index for s in steps if not s.ok), None)
    return Verdict(
        ok, answer_correct, steps, None if ok else (len(steps) if first is None else first), answer, reason=why
    )
