"""Answer equivalence for ``math``: exact rationals in-process, math-verify in the worker.

``plain_number`` reads the answers most datasets have (``72``, ``-3``, ``2.5``, ``7/2``)
with a bounded regular expression into an exact ``Fraction``; when the gold answer and the
reply both read that way, ``same_number`` decides exactly, in the caller's process (so
``0.333333`` is not ``1/3``, and nothing is parsed by sympy).

Anything else goes to math-verify, **gold first** (``verify(gold, answer)``: it is not
symmetric), inside the bounded grading worker (``tasks.grader``): ``equal`` below runs
there, with math-verify's signal-based timeouts switched off (``parsing_timeout=None``,
``timeout_seconds=None``, as its docs say for code that handles timeouts itself); the
worker's caller enforces the hard timeout from outside. A string with no ``$`` and no
``\\boxed`` is read as LaTeX math first (``$...$``), then as it stands.
"""

from __future__ import annotations

import re
from fractions import Fraction

_PLAIN = re.compile(r"([+-]?)([0-9]{1,30})(?:\.([0-9]{1,30}))?(?:/([0-9]{1,30}))?")


def plain_number(text: str) -> Fraction | None:
    """``72``, ``-3``, ``2.50``, ``7/2``, ``-7/2`` (a final period allowed) as an exact
    Fraction; None for anything else (a zero denominator included)."""
    s = text.strip().removesuffix(".").strip()
    m = _PLAIN.fullmatch(s)
    if not m:
        return None
    sign, whole, frac, den = m.groups()
    if frac is not None and den is not None:
        return None
    value = Fraction(int(whole + (frac or "")), 10 ** len(frac or ""))
    if den is not None:
        if int(den) == 0:
            return None
        value /= int(den)
    return -value if sign == "-" else value


def same_number(gold: str, answer: str) -> bool | None:
    """Exact comparison when both are plain numbers; None when math-verify must decide."""
    g, a = plain_number(gold), plain_number(answer)
    return None if g is None or a is None else g == a


def _parsed(text: str) -> list:
    from math_verify import parse

    if "$" not in text and "\\boxed" not in text:
        found = parse(f"${text}$", parsing_timeout=None)
        if found:
            return found
    return parse(text, parsing_timeout=None)


def equal(gold: str, answer: str) -> bool:
    """math-verify's verdict, the gold first (runs inside the grading worker)."""
    from math_verify import verify

    g, a = _parsed(gold), _parsed(answer)
    if not g or not a:
        return False
    return bool(verify(g, a, timeout_seconds=None))


def warm() -> None:
    """Import math-verify and its LaTeX parser (the worker calls this before any item)."""
    equal("\\frac{1}{2}", "0.5")
