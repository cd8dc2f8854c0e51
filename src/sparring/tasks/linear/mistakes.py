"""Planted flaws and near-miss answers for linear equations (a task without steps).

Every flaw is a derivation in the gold format (``equation.chain``) that ends with a wrong
integer in the ``<answer>`` tag. A kind has several *variations*; the feasible ones on a
problem (wrong value an integer, different from the gold, at most ``MAX_DIGITS`` digits)
are listed in a fixed order and one is picked with the flaw's seeded rng.

- sign_error: the constant moved across keeps its sign (``3*x = 14 - 7``), or the x term
  moved across does (``5*x + 2*x``), or the sign of the collected constant or of the
  quotient is dropped (``x = 14 + 7 = -21``, ``21 / -3 = 7``); when none of these gives a
  new integer, the kept sign followed by a rounded inexact division (``x = 10 / 3 = 3``).
- division_slip: multiplies by the coefficient instead of dividing (``x = 21 * 3 = 63``),
  stops at ``3*x = 21`` and answers 21 (the coefficient dropped), subtracts the
  coefficient (``x = 21 - 3 = 18``), or divides the wrong way (``x = 3 / 21 = 0``); for
  ``x + b = d`` (no division) it divides by the constant instead of subtracting it
  (``x = 12 / 5 = 2``, rounded toward zero).
- arithmetic_slip: the collected constant is off by a multiple of the coefficient (and is
  carried on: ``3*x = 14 + 7 = 24``, ``x = 24 / 3 = 8``), the collected coefficient is off
  by one (``4*x = 12``), or the quotient is off (``x = 21 / 3 = 8``).
- false_final: a right derivation whose answer line has another number.

A kind with no variation on a problem (rare: e.g. ``division_slip`` on ``x + b = c*x + d``
with coefficient 1 after collecting, ``sign_error`` on ``k*x = 0``, anything but
``false_final`` on ``x = d``) makes ``flaw`` raise ValueError for that kind.
"""

from __future__ import annotations

import random

from ..base import MAX_DIGITS
from .equation import chain, render, trunc_div

FLAW_KINDS = ("sign_error", "division_slip", "arithmetic_slip", "false_final")
_DELTAS = (1, -1, 2, -2)


def _ok(v: int | None, gold: int) -> bool:
    return v is not None and v != gold and len(str(abs(v))) <= MAX_DIGITS


def _exact(n: int, m: int) -> int | None:
    return n // m if m != 0 and n % m == 0 else None


def variations(a: int, b: int, c: int, d: int) -> dict[str, list[tuple[str, int]]]:
    """Every feasible (text, wrong answer) of every kind, in a fixed order."""
    m, n = a - c, d - b
    gold = n // m
    out: dict[str, list[tuple[str, int]]] = {k: [] for k in FLAW_KINDS}

    def add(kind: str, v: int | None, **kw) -> None:
        if _ok(v, gold):
            out[kind].append((chain(a, b, c, d, **kw), v))

    # sign_error
    if b != 0:
        add("sign_error", _exact(d + b, m), bm=b, n=d + b)
    if c != 0:
        add("sign_error", _exact(n, a + c), cm=c, m=a + c)
    if b != 0 or c != 0:
        add("sign_error", -gold, n=-n)
    if m != 1:
        add("sign_error", -gold, q=-gold)
    if not out["sign_error"] and b != 0 and m != 1:
        add("sign_error", trunc_div(d + b, m), bm=b, n=d + b, q=trunc_div(d + b, m))
    # division_slip
    if m != 1:
        add("division_slip", n * m, op="*", q=n * m)
        add("division_slip", n, divide=False)
        add("division_slip", n - m, op="-", q=n - m)
        if n != 0:
            add("division_slip", trunc_div(m, n), div=(m, n), q=trunc_div(m, n))
    elif c == 0 and b != 0:  # x + b = d: divides by b instead of subtracting it
        v = trunc_div(d, b)
        if _ok(v, gold):
            out["division_slip"].append((f"{render(a, b, c, d)}\nx = {d} / {b} = {v}\n<answer>{v}</answer>", v))
    # arithmetic_slip
    for k in _DELTAS if b != 0 or c != 0 else ():
        add("arithmetic_slip", gold + k, n=n + m * k)
    for j in (1, -1) if c != 0 else ():
        add("arithmetic_slip", _exact(n, m + j), m=m + j)
    for k in _DELTAS if m != 1 else ():
        add("arithmetic_slip", gold + k, q=gold + k)
    # false_final
    for k in (*_DELTAS, 10, -10):
        add("false_final", gold + k, final=gold + k)
    add("false_final", -gold, final=-gold)
    return out


def plant(a: int, b: int, c: int, d: int, rng: random.Random, kind: str | None) -> tuple[str, str]:
    """(text, kind) of one flaw; ``kind=None`` picks a random feasible kind. ValueError
    when the requested kind has no feasible variation on this problem."""
    var = variations(a, b, c, d)
    if kind is None:
        kind = rng.choice([k for k in FLAW_KINDS if var[k]])  # false_final is always feasible
    if not var[kind]:
        raise ValueError(
            f"kind: {kind!r} cannot be planted in the solution of this equation "
            f"(feasible here: {[k for k in FLAW_KINDS if var[k]]})"
        )
    return rng.choice(var[kind])[0], kind


def near_miss(a: int, b: int, c: int, d: int, rng: random.Random) -> int:
    """A plausible wrong x for a solvable equation: a sign error, the negated answer, the
    coefficient dropped, or off by one."""
    m, n = a - c, d - b
    gold = n // m
    options = [_exact(d + b, m), -gold, n, gold + 1, gold - 1]
    return rng.choice(list(dict.fromkeys(v for v in options if _ok(v, gold))))
