"""Arith expressions: safe parser, renderer, flattened form, difficulty, generator.

Nothing here evaluates text: ``parse`` is a bounded recursive-descent parser over our own
grammar (integers, + - * /, parentheses) that raises ValueError on anything else.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import NamedTuple

from ..expression import MAX_EXPR_CHARS, MAX_PAREN_DEPTH, PREC, render  # noqa: F401  (part of this module's API)
from ..expression import parse as _parse
from .tree import Tree, apply_op

MAX_SOLUTIONS = 10_000  # cap on ``solutions(limit=None)``: orders grow factorially


def parse(expr: str) -> Tree:
    """Parse an Arith problem's expression (``tasks.expression.parse``); ValueError naming
    ``problem.data.expr`` if malformed."""
    return _parse(expr, "problem.data.expr")


class Flat(NamedTuple):
    """The tree as arrays (post-order node ids) for the verifier; values None = unreduced."""

    ops: tuple
    left: tuple
    right: tuple
    init: tuple
    internal: tuple
    root: int
    value: int | None  # None: some reduction is invalid (unsolvable)
    bad: str  # why the first invalid reduction fails, for messages


@lru_cache(maxsize=1 << 17)
def tree_of(expr: str) -> Tree:
    return parse(expr)


@lru_cache(maxsize=1 << 17)
def flat(expr: str) -> Flat:
    ops, left, right, init = [], [], [], []
    vals: list[int | None] = []
    bad = []

    def add(op: str | None, li: int, ri: int, literal: int | None, v: int | None) -> int:
        for seq, x in ((ops, op), (left, li), (right, ri), (init, literal), (vals, v)):
            seq.append(x)
        return len(ops) - 1

    def go(t: Tree) -> int:
        if isinstance(t, int):
            return add(None, -1, -1, t, t)
        li, ri = go(t[1]), go(t[2])
        a, b = vals[li], vals[ri]
        v = None if a is None or b is None else apply_op(a, t[0], b)
        if v is None and a is not None and b is not None and not bad:
            bad.append(why_invalid(a, t[0], b))
        return add(t[0], li, ri, None, v)

    root = go(tree_of(expr))
    internal = tuple(j for j, o in enumerate(ops) if o is not None)
    return Flat(tuple(ops), tuple(left), tuple(right), tuple(init), internal, root, vals[root], bad[0] if bad else "")


def why_invalid(a: int, op: str, b: int) -> str:
    if op == "/":
        return f"{a}/{b} divides by zero" if b == 0 else f"{a}/{b} is not an exact division"
    return f"{a}{op}{b} is negative"


def difficulty(tree: Tree) -> str:
    lookahead, big = 0, False

    def go(t: Tree, is_right: bool) -> int | None:
        nonlocal lookahead, big
        if isinstance(t, int):
            return t
        lookahead += is_right
        a, b = go(t[1], False), go(t[2], True)
        v = None if a is None or b is None else apply_op(a, t[0], b)
        big = big or (v is not None and v >= 100)
        return v

    go(tree, False)
    score = lookahead + big
    return "easy" if score == 0 else "medium" if score == 1 else "hard"


def _leaf_choice(rng: random.Random, op: str, other: int, lo: int, hi: int, cap: int, leaf_is_left: bool) -> int | None:
    """A leaf making ``leaf op other`` (or ``other op leaf``) valid and <= cap, or None."""
    if op == "+":
        lo2, hi2 = lo, min(hi, cap - other)
    elif op == "*":
        lo2, hi2 = lo, hi if other == 0 else min(hi, cap // other)
    elif op == "-":
        lo2, hi2 = (max(lo, other), hi) if leaf_is_left else (lo, min(hi, other))
    elif leaf_is_left:  # leaf / other: a multiple of other
        if other == 0 or hi < lo:
            return None
        m_lo, m_hi = -(-lo // other), min(hi, cap) // other
        if m_lo < 2 <= m_hi and rng.random() < 0.8:
            m_lo = 2  # mostly avoid the trivial x/x
        return rng.randint(m_lo, m_hi) * other if m_lo <= m_hi else None
    else:  # other / leaf: a divisor of other
        if other == 0:
            return rng.randint(max(lo, 1), hi) if hi >= 1 else None
        ds = set()
        for d in range(1, int(other**0.5) + 1):
            if other % d == 0:
                ds.update((d, other // d))
        pool = sorted(d for d in ds if max(lo, 1) <= d <= hi)
        useful = [d for d in pool if d not in (1, other)]
        if useful and rng.random() < 0.8:
            pool = useful  # mostly avoid the trivial x/1 and x/x
        return rng.choice(pool) if pool else None
    return rng.randint(lo2, hi2) if lo2 <= hi2 else None


def generate(rng: random.Random, k: int, ops: str, lo: int, hi: int, cap: int):
    """A random valid tree with ``k`` operations and its value, or None (local retries)."""
    if k == 0:
        v = rng.randint(lo, hi)
        return v, v
    for _ in range(12):
        op = rng.choice(ops)
        kl = rng.randint(0, k - 1)
        kr = k - 1 - kl
        if kr == 0:  # the right operand is a leaf chosen to fit the left value
            left = generate(rng, kl, ops, lo, hi, cap)
            leaf = None if left is None else _leaf_choice(rng, op, left[1], lo, hi, cap, False)
            right = None if leaf is None else (leaf, leaf)
        elif kl == 0:  # the left operand is a leaf chosen to fit the right value
            right = generate(rng, kr, ops, lo, hi, cap)
            leaf = None if right is None else _leaf_choice(rng, op, right[1], lo, hi, cap, True)
            left = None if leaf is None else (leaf, leaf)
        else:
            left, right = generate(rng, kl, ops, lo, hi, cap), generate(rng, kr, ops, lo, hi, cap)
        if left is None or right is None:
            continue
        if op == "/" and (right[1] == 1 or left[1] == right[1]) and rng.random() < 0.7:
            continue  # mostly avoid the trivial x/1 and x/x
        v = apply_op(left[1], op, right[1])
        if v is not None and v <= cap:
            return (op, left[0], right[0]), v
    return None


def make_unsolvable(rng: random.Random, tree: Tree) -> Tree | None:
    """Turn one operation into a division by zero or an inexact division (unsolvable)."""
    spots = []

    def go(t: Tree, path: tuple) -> int:
        if isinstance(t, int):
            return t
        a, b = go(t[1], path + (1,)), go(t[2], path + (2,))
        if b == 0 or a % b:
            spots.append(path)
        return apply_op(a, t[0], b)

    go(tree, ())
    if not spots:
        return None

    def put(t: Tree, path: tuple) -> Tree:
        if not path:
            return ("/", t[1], t[2])
        return tuple(put(x, path[1:]) if i == path[0] else x for i, x in enumerate(t))

    return put(tree, rng.choice(spots))


def loose_value(t: Tree) -> int:
    if isinstance(t, int):
        return t
    a, b = loose_value(t[1]), loose_value(t[2])
    op = t[0]
    if op == "/":
        return a // b if b else 0
    return max(0, a - b) if op == "-" else apply_op(a, op, b)
