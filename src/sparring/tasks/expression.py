"""Arithmetic expressions as text: the one bounded parser and renderer of the tasks.

Nothing here evaluates text: ``parse`` is a recursive-descent parser over a small grammar
(non-negative integers, + - * /, parentheses) that raises ValueError on anything else, and
returns a tree: an ``int`` or ``(op, left, right)``. Arith parses its problems with it,
Countdown the expressions in a chat-style answer (``<answer>(7*3)+9</answer>``).
"""

from __future__ import annotations

import re
from typing import Union

from .records import MAX_DIGITS

Tree = Union[int, tuple]
MAX_EXPR_CHARS = 200
MAX_PAREN_DEPTH = 32
PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_TOKEN_RE = re.compile(r"[0-9]+|[-+*/()]")


def parse(expr: str, what: str = "expression") -> Tree:
    """Parse the grammar (ASCII digits, + - * /, parentheses, spaces); ValueError naming
    ``what`` if malformed. Bounded: at most ``MAX_EXPR_CHARS`` characters, numbers of at most
    ``MAX_DIGITS`` digits, parentheses nested at most ``MAX_PAREN_DEPTH`` deep."""
    if not isinstance(expr, str) or not 0 < len(expr) <= MAX_EXPR_CHARS:
        raise ValueError(f"{what}: must be a string of 1..{MAX_EXPR_CHARS} characters")
    s = expr.replace(" ", "")
    tokens, pos = [], 0
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if m is None:
            raise ValueError(f"{what}: unexpected character {s[pos]!r}")
        if m[0].isdigit() and len(m[0]) > MAX_DIGITS:
            raise ValueError(f"{what}: numbers have at most {MAX_DIGITS} digits")
        tokens.append(m[0])
        pos = m.end()
    i = 0

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    def binary(ops: str, sub, depth: int) -> Tree:
        nonlocal i
        t = sub(depth)
        while peek() is not None and peek() in ops:
            op = tokens[i]
            i += 1
            t = (op, t, sub(depth))
        return t

    def factor(depth: int) -> Tree:
        nonlocal i
        tok = peek()
        if tok is None:
            raise ValueError(f"{what}: ends where a number was expected")
        i += 1
        if tok.isdigit():
            return int(tok)
        if tok == "(":
            if depth >= MAX_PAREN_DEPTH:
                raise ValueError(f"{what}: parentheses nest deeper than {MAX_PAREN_DEPTH}")
            t = binary("+-", lambda d: binary("*/", factor, d), depth + 1)
            if peek() != ")":
                raise ValueError(f"{what}: unbalanced parentheses")
            i += 1
            return t
        raise ValueError(f"{what}: unexpected {tok!r} where a number was expected")

    tree = binary("+-", lambda d: binary("*/", factor, d), 0)
    if i != len(tokens):
        raise ValueError(f"{what}: unexpected {tokens[i]!r}")
    return tree


def render(t: Tree) -> str:
    """Minimal parentheses that keep the tree: ``parse(render(t)) == t``."""
    if isinstance(t, int):
        return str(t)
    op, left, right = t
    ls, rs = render(left), render(right)
    if not isinstance(left, int) and PREC[left[0]] < PREC[op]:
        ls = f"({ls})"
    if not isinstance(right, int) and PREC[right[0]] <= PREC[op]:
        rs = f"({rs})"
    return ls + op + rs
