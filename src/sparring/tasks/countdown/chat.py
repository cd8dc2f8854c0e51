"""Countdown in the chat style: natural-language prompts, free reasoning, and the final
expression in ``<answer>...</answer>`` (the TinyZero / RARO convention).

The answer is an expression over the given numbers, ``<answer>(7*3)+9</answer>`` (``×``,
``÷`` and ``−`` are read as ``*``, ``/`` and ``-``; a trailing ``= 30`` is allowed and must
be the expression's value; a final period is ignored), or ``<answer>No solution</answer>``. It is right when it uses
every given number exactly once and evaluates, by Countdown's rule (every intermediate
result a positive integer, exact division), to the target. It is parsed by the tasks' one
bounded parser (``tasks.expression``), never evaluated as code.

The reasoning's steps (``tasks.freetext.free_steps``: ``7*3=21``, ``7 × 3 = 21``, ``7
times 3 is 21``, ...) are judged against the pool of numbers as the char style's lines
are, so validity, the first error and the critique probe work on free text. The
expression decides ``correct``; the steps decide ``steps_valid``: a right answer whose
steps cannot be read (or are wrong) is right but not valid.
"""

from __future__ import annotations

import re
from collections import Counter

from ..expression import Tree, parse, render
from ..freetext import chat_verdict, read_chat
from ..records import ABSTAIN_TEXT, Problem, Verdict, fail
from . import core

MAX_ANSWER_CHARS = 120
TEMPLATES = (
    "Using the numbers {listed}, create an equation that equals {target}. You can use + - * / "
    "and each number exactly once; every intermediate result must be a positive whole number. "
    "Show your reasoning, then give the equation in <answer> </answer> tags, for example "
    "<answer>(1 + 2) * 3</answer>. If it cannot be done, answer <answer>No solution</answer>.",
    "Reach {target} by combining {words} with addition, subtraction, multiplication and exact "
    "division, using every number once. Think step by step, writing each operation like "
    "7 * 3 = 21, and end with the final expression inside <answer></answer> (or "
    "<answer>No solution</answer> if it is impossible).",
    "Numbers: {spaced}. Target: {target}. Combine all of the numbers with + - * / to hit the "
    "target, each exactly once, with positive whole intermediate results. Put the final "
    "expression in <answer>...</answer>; write <answer>No solution</answer> if there is none.",
)
_SYMBOLS = str.maketrans({"×": "*", "÷": "/", "−": "-", "–": "-", "·": "*"})


def is_chat(text: str) -> bool:
    """Whether a completion is in the chat style (it has an answer tag)."""
    return "<answer>" in text


def gold(numbers: list[int], target: int, steps: list[core.Step] | None) -> str:
    """The chat-style gold completion: the steps in words and symbols, then the expression
    (``steps`` None: the problem is unsolvable)."""
    if steps is None:
        listed = ", ".join(map(str, numbers))
        return f"No combination of {listed} reaches {target}.\n<answer>{ABSTAIN_TEXT}</answer>"
    lines = [f"{a} {op} {b} = {r}" for a, op, b, r in steps]
    return "\n".join([*lines, f"<answer>{render(expression_of(numbers, steps))}</answer>"])


_CHAR_STEP = re.compile(r"(\d{1,12})([-+*/])(\d{1,12})=(\d{1,12})")
TRACE_LEAD = "Let me search for it, one state at a time."


def from_char(numbers: list[int], target: int, text: str, solution: list[core.Step] | None = None) -> str:
    """A char-style completion in the chat style, the same work and the answer it reaches:
    ``No solution`` becomes the gold abstention; step lines (``16-3=13``, a gold or a
    flawed solution) become ``16 - 3 = 13`` lines and the expression they build, however
    wrong (:func:`claimed_expression`), in the answer tag, followed by ``= R`` (the last
    step's result) where the steps' arithmetic makes it claim a value it does not have (so
    a flawed row stays wrong, as in the char style: ``2/2=3, 8+3=11`` for 9 gives
    ``<answer>8+2/2 = 11</answer>``); a search trace (``solution``:
    the path it found, None if it found none) is kept as it is after a lead line, then its
    path's expression (or ``No solution``). ``from_char(gold steps)`` is :func:`gold`."""
    if text.strip() == ABSTAIN_TEXT:
        return gold(numbers, target, None)
    if text.startswith("Current State:"):
        answer = ABSTAIN_TEXT if not solution else render(expression_of(numbers, solution))
        return f"{TRACE_LEAD}\n{text}\n<answer>{answer}</answer>"
    lines, steps = [], []
    for line in text.splitlines():
        m = _CHAR_STEP.fullmatch(line.strip())
        if m is None:
            lines.append(line)
            continue
        a, op, b, r = int(m[1]), m[2], int(m[3]), int(m[4])
        steps.append((a, op, b, r))
        lines.append(f"{a} {op} {b} = {r}")
    tree = claimed_expression(numbers, steps)
    answer = ABSTAIN_TEXT if tree is None else render(tree)
    if tree is not None and _value(tree, [])[0] != steps[-1][3]:  # wrong arithmetic: claim its result
        answer += f" = {steps[-1][3]}"
    return "\n".join([*lines, f"<answer>{answer}</answer>"])


def claimed_expression(numbers: list[int], steps: list[core.Step]) -> Tree | None:
    """The expression a step chain claims, valid or not: each operand is taken from the pool
    of (value, tree) pairs when it is there (first match first, as :func:`expression_of`),
    else written as the bare number the step used; the last step's tree (None: no steps)."""
    pool: list[tuple[int, Tree]] = [(n, n) for n in numbers]
    last: Tree | None = None
    for a, op, b, r in steps:
        operands: list[Tree] = []
        for v in (a, b):
            i = next((i for i, (pv, _) in enumerate(pool) if pv == v), None)
            operands.append(v if i is None else pool.pop(i)[1])
        last = (op, operands[0], operands[1])
        pool.append((r, last))
    return last


def expression_of(numbers: list[int], steps: list[core.Step]) -> Tree:
    """The expression tree a valid step chain builds (each step takes its operands from the
    pool of (value, tree) pairs, first match first)."""
    pool: list[tuple[int, Tree]] = [(n, n) for n in numbers]
    for a, op, b, r in steps:
        ia = next(i for i, (v, _) in enumerate(pool) if v == a)
        ta = pool.pop(ia)[1]
        ib = next(i for i, (v, _) in enumerate(pool) if v == b)
        tb = pool.pop(ib)[1]
        pool.append((r, (op, ta, tb)))
    return pool[-1][1]


def _value(t: Tree, leaves: list[int]) -> tuple[int | None, str]:
    """The tree's value by Countdown's rule, collecting its leaves; (None, why) if some node
    is not a positive integer."""
    if isinstance(t, int):
        leaves.append(t)
        return t, ""
    op, left, right = t
    a, why = _value(left, leaves)
    if a is None:
        return None, why
    b, why = _value(right, leaves)
    if b is None:
        return None, why
    r = core.apply_op(a, op, b)
    return (None, f"{a}{op}{b} is not a positive integer") if r is None else (r, "")


def read_expression(answer: str) -> tuple[Tree | None, int | None, str]:
    """(tree, claimed value after ``=`` or None, why it cannot be read or "")."""
    text = answer.translate(_SYMBOLS).strip().removesuffix(".")
    claimed = None
    if text.count("=") == 1:
        text, rhs = text.split("=")
        rhs = rhs.strip().rstrip(".").strip()
        if not rhs.isascii() or not rhs.isdigit() or len(rhs) > 12:
            return None, None, f"the answer's right-hand side {rhs[:20]!r} is not a number"
        claimed = int(rhs)
    try:
        return parse(text.strip(), "answer"), claimed, ""
    except ValueError as err:
        return None, None, str(err)


def verify(problem: Problem, text: str) -> Verdict:
    """Judge a chat-style completion (see the module doc). Never raises."""
    numbers, target = problem.data["numbers"], problem.data["target"]
    steps, answer = read_chat(problem, text, core.PoolJudge(list(numbers), 0), MAX_ANSWER_CHARS)
    if isinstance(answer, Verdict):
        return answer
    tree, claimed, why = read_expression(answer)
    if tree is None:
        return fail(f"unreadable answer: {why}", steps, well_formed=False, answer=answer[:40])
    leaves: list[int] = []
    value, why = _value(tree, leaves)
    reach = value == target
    if not why and Counter(leaves) != Counter(numbers):
        why = f"uses {sorted(leaves)}, not each of {sorted(numbers)} exactly once"
    if not why and claimed is not None and claimed != value:
        why = f"claims {claimed}, but the expression is {value}"
    if not why and not reach:
        why = f"the expression is {value}, not the target {target}"
    if not why and not problem.solvable:  # cannot happen for a true value; kept for safety
        why = "the problem has no solution; the answer is to abstain"
    return chat_verdict(not why, reach, steps, answer[:40], why)
