"""Equations ``a*x + b = c*x + d``: rendering, exact solution, the gold derivation, and the
bounded parser of the final ``<answer>...</answer>`` tag.

``c == 0`` is the one-sided form ``a*x + b = d``. Numbers are written plainly: ``3*x - 7 =
14``, ``-x + 5 = 2*x - 1`` (coefficient 1 is ``x``, -1 is ``-x``, a zero constant is left
out). Every derivation line is printable ASCII.
"""

from __future__ import annotations

import re

from ..base import ABSTAIN_TEXT, MAX_DIGITS
from ..freetext import last_answer as _last_answer

MAX_ABS = 10**9  # bound on every number of an (untrusted) problem
MAX_ANSWER_CHARS = 32

_INT = re.compile(r"(?:[xX]\s*=\s*)?([+-]?)\s*([0-9]{1,%d})\s*\.?" % MAX_DIGITS, re.ASCII)


def term(k: int) -> str:
    """The x term with coefficient ``k``: ``x``, ``-x``, ``3*x``, ``-2*x``."""
    return "x" if k == 1 else "-x" if k == -1 else f"{k}*x"


def tail(k: int) -> str:
    """A constant added to a side: `` + 5``, `` - 7``, or nothing for 0."""
    return "" if k == 0 else f" + {k}" if k > 0 else f" - {-k}"


def x_tail(k: int) -> str:
    """An x term added to a side: `` + 2*x``, `` - x``."""
    return f" + {term(k)}" if k > 0 else f" - {term(-k)}"


def side(k: int, b: int) -> str:
    return str(b) if k == 0 else term(k) + tail(b)


def render(a: int, b: int, c: int, d: int) -> str:
    return f"{side(a, b)} = {side(c, d)}"


def solution(a: int, b: int, c: int, d: int) -> int | None:
    """The integer x, or None when there is none (no solution, or not an integer)."""
    m, n = a - c, d - b
    if m == 0 or n % m:
        return None
    return n // m


def trunc_div(n: int, m: int) -> int:
    """``n / m`` rounded toward zero (what a careless solver writes for an inexact one)."""
    q = abs(n) // abs(m)
    return q if (n >= 0) == (m > 0) else -q


def difficulty(a: int, b: int, c: int, d: int) -> str:
    """One point for a negative number (in the equation or the answer), one for a solution
    of magnitude >= 10 (for an unsolvable item: the quotient); 0 easy, 1 medium, 2 hard."""
    m, n = a - c, d - b
    negative = min(a, b, c, d) < 0 or (m != 0 and n != 0 and (n < 0) != (m < 0))
    big = abs(n) >= 10 * max(1, abs(m))
    return ("easy", "medium", "hard")[int(negative) + int(big)]


def _collect(a: int, b: int, c: int, d: int, bm: int, cm: int, n: int, m: int) -> list[str]:
    """The equation, then the x terms moved left and the constants right (as claimed:
    ``bm``/``cm`` moved across, ``n``/``m`` collected)."""
    lines = [render(a, b, c, d)]
    if c == 0:
        if b != 0:
            lines.append(f"{term(a)} = {d}{tail(bm)} = {n}")
    else:
        lines.append(f"{term(a)}{x_tail(cm)} = {d}{tail(bm)}")
        lines.append(f"{term(m)} = {n}")
    return lines


def chain(
    a: int,
    b: int,
    c: int,
    d: int,
    *,
    bm: int | None = None,
    cm: int | None = None,
    n: int | None = None,
    m: int | None = None,
    op: str = "/",
    q: int | None = None,
    divide: bool = True,
    div: tuple[int, int] | None = None,
    final: int | None = None,
) -> str:
    """A derivation in the gold format. The defaults give the gold; the keywords let a flaw
    change one claim (``bm``/``cm``: the constant / x term as moved across, ``n``/``m``: the
    collected constant / coefficient, ``op``, ``div`` (the two operands) and ``q``: the last
    line's operation and quotient, ``divide=False``: no last line, ``final``: the answer)."""
    bm = -b if bm is None else bm
    cm = -c if cm is None else cm
    n = d + bm if n is None else n
    m = a + cm if m is None else m
    lines = _collect(a, b, c, d, bm, cm, n, m)
    if divide and m != 1:
        if q is None:
            q = n // m
        left, right = (n, m) if div is None else div
        rhs = f"{left}{tail(-right)}" if op == "-" else f"{left} {op} {right}"
        lines.append(f"x = {rhs} = {q}")
    else:
        q = n
    lines.append(f"<answer>{q if final is None else final}</answer>")
    return "\n".join(lines)


def unsolvable_chain(a: int, b: int, c: int, d: int) -> str:
    """The derivation up to where it fails, the reason, then the abstention tag."""
    m, n = a - c, d - b
    lines = _collect(a, b, c, d, -b, -c, n, m)  # term(0) is 0*x
    if m == 0:
        lines.append(f"0*x is 0, never {n}, so no x")
    else:
        lines.append(f"{n} is not a multiple of {abs(m)}, so no integer x")
    lines.append(f"<answer>{ABSTAIN_TEXT}</answer>")
    return "\n".join(lines)


def last_answer(text: str) -> str | None:
    """The content of the last ``<answer>...</answer>`` (``tasks.freetext``: the last tag
    wins; its content is bounded, so a hostile completion costs one linear scan), ASCII
    whitespace stripped (None if there is none)."""
    return _last_answer(text, MAX_ANSWER_CHARS)


def parse_int(content: str) -> int | None:
    """``7``, ``-7``, ``+ 7``, ``x = 7``, ``x=-7``, ``7.`` -> the integer; else None.
    ASCII digits only, at most ``MAX_DIGITS`` of them."""
    mt = _INT.fullmatch(content)
    if mt is None:
        return None
    v = int(mt.group(2))
    return -v if mt.group(1) == "-" else v
