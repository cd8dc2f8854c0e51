"""Arithmetic-chain trees, the reference step simulator, and planted flaws for ``arith``.

A tree is an ``int`` (a literal) or a tuple ``(op, left, right)``. A step is a tuple
``(a, op, b, r)`` written ``a{op}b=r``: it is valid iff the current tree has a *reducible*
node (both children literals) whose left value is ``a``, operator ``op`` and right value
``b``, and ``r`` is the true non-negative integer result (exact division). The node is then
replaced by the claimed ``r``. Identical reducible nodes are ambiguous, so ``label`` keeps
every tree the steps so far could have produced (insertion ordered, at most ``MAX_STATES``).

``label`` is the reference semantics, written over nested tuples independently of the fast
verifier in ``arith.py`` (flat arrays): the flaw makers below fix the first-error index by
construction or with ``label``, never by calling the text verifier, so the registry test
that the verifier finds the same step is a real check.

Kinds:
- arithmetic_slip: a non-final step's result is off; later steps carry the wrong value.
- bad_operand: a step uses an operand that is in no reducible node (misread, reused,
  taken from another part of the expression, or invented).
- dropped_step: a step is deleted; a later step then reduces a node that is not ready yet
  (or the chain stops before the end).
- false_final: the last step claims a wrong final value.
- swapped_steps: a step is moved before the step that produces its operand.
"""
from __future__ import annotations

import random
from typing import Union

from .base import FLAW_KINDS, MAX_DIGITS, Flaw

Tree = Union[int, tuple]
Step = tuple[int, str, int, int]
OPS = ("+", "-", "*", "/")
MAX_STATES = 16  # candidate trees kept when identical reducible nodes make a step ambiguous


def apply_op(a: int, op: str, b: int) -> int | None:
    """The result of ``a op b`` if it is a non-negative integer (exact division), else None."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b if a >= b else None
    if op == "*":
        return a * b
    if op == "/":
        return a // b if b > 0 and a % b == 0 else None
    return None


def fmt_steps(steps: list[Step]) -> str:
    return "\n".join(f"{a}{op}{b}={r}" for a, op, b, r in steps)


def gold(tree: Tree) -> tuple[list[Step], list[tuple[int | None, int | None]]] | None:
    """Post-order steps and, per step, the steps producing its operands (None = a literal).

    None if some node is not a non-negative integer (the expression has no value).
    """
    steps: list[Step] = []
    prov: list[tuple[int | None, int | None]] = []

    def go(t: Tree) -> tuple[int, int | None] | None:
        if isinstance(t, int):
            return t, None
        op, left, right = t
        lhs, rhs = go(left), go(right)
        if lhs is None or rhs is None:
            return None
        v = apply_op(lhs[0], op, rhs[0])
        if v is None:
            return None
        steps.append((lhs[0], op, rhs[0], v))
        prov.append((lhs[1], rhs[1]))
        return v, len(steps) - 1

    return None if go(tree) is None else (steps, prov)


def _replacements(t: Tree, a: int, op: str, b: int, r: int) -> list[Tree]:
    """Every tree made from ``t`` by replacing one reducible node ``a op b`` with ``r``."""
    if isinstance(t, int):
        return []
    o, left, right = t
    if isinstance(left, int) and isinstance(right, int):
        return [r] if (left, o, right) == (a, op, b) else []
    return ([(o, x, right) for x in _replacements(left, a, op, b, r)]
            + [(o, left, x) for x in _replacements(right, a, op, b, r)])


def label(tree: Tree, steps: list[Step]) -> int | None:
    """First invalid step of a structured chain; ``len(steps)`` if only the end is wrong."""
    g = gold(tree)
    true = g[0][-1][3] if g and g[0] else (tree if isinstance(tree, int) else None)
    states: dict[Tree, None] = {tree: None}
    for k, (a, op, b, r) in enumerate(steps):
        if apply_op(a, op, b) != r:
            return k
        nxt: dict[Tree, None] = {}
        for t in states:
            for x in _replacements(t, a, op, b, r):
                if len(nxt) < MAX_STATES:
                    nxt[x] = None
        if not nxt:
            return k
        states = nxt
    done = true is not None and any(isinstance(t, int) and t == true for t in states)
    return None if done else len(steps)


def _fits(v: int) -> bool:
    return len(str(v)) <= MAX_DIGITS


def _propagate(steps: list[Step], prov, k: int, new_step: Step,
               loose: bool = False) -> list[Step] | None:
    """Replace step k and recompute every later step that consumes its result.

    ``loose``: an inexact division downstream is written with its quotient (a second error,
    after step k), instead of giving up."""
    out = list(steps)
    out[k] = new_step
    changed = {k: new_step[3]}
    for j in range(k + 1, len(out)):
        a, op, b, _ = out[j]
        sa, sb = prov[j]
        if sa not in changed and sb not in changed:
            continue
        a = changed.get(sa, a) if sa is not None else a
        b = changed.get(sb, b) if sb is not None else b
        r = apply_op(a, op, b)
        if r is None and loose and op == "/" and b > 0:
            r = a // b
        if r is None or not _fits(r):
            return None
        out[j] = (a, op, b, r)
        changed[j] = r
    return out


def _slip(tree, steps, prov, rng) -> Flaw | None:
    ks = list(range(len(steps) - 1)) or [0]
    rng.shuffle(ks)
    for loose in (False, True):
        for k in ks:
            a, op, b, r = steps[k]
            deltas = [1, -1, 2, -2, 3, -3, 5, -5, 10, -10]
            rng.shuffle(deltas)
            for d in deltas + [r, 2 * r]:  # doubling keeps a later exact division exact
                if d == 0 or r + d < 0:
                    continue
                out = _propagate(steps, prov, k, (a, op, b, r + d), loose)
                if out is not None:
                    return Flaw(fmt_steps(out), "arithmetic_slip", k)
    return None


def _leaves(t: Tree) -> list[int]:
    return [t] if isinstance(t, int) else _leaves(t[1]) + _leaves(t[2])


def _bad_operand(tree, steps, prov, rng) -> Flaw | None:
    ks = list(range(len(steps)))
    rng.shuffle(ks)
    others = _leaves(tree) + [s[3] for s in steps]
    for k in ks:
        a, op, b, _ = steps[k]
        near = [v for v in range(max(0, a - 5), a + 6)] + [v for v in range(max(0, b - 5), b + 6)]
        candidates = list(dict.fromkeys(others + near))
        rng.shuffle(candidates)
        for v in candidates:
            pairs = [(v, b), (a, v)]
            rng.shuffle(pairs)
            for na, nb in pairs:
                r = apply_op(na, op, nb)
                if (na, nb) == (a, b) or r is None or not _fits(r):
                    continue
                out = _propagate(steps, prov, k, (na, op, nb, r))
                if out is not None and label(tree, out) == k:
                    return Flaw(fmt_steps(out), "bad_operand", k)
    return None


def _false_final(tree, steps, prov, rng) -> Flaw | None:
    a, op, b, r = steps[-1]
    wrong = [r + d for d in (1, -1, 2, -2, 10, -10) if r + d >= 0]
    wrong += [v for o in OPS if o != op and (v := apply_op(a, o, b)) is not None]
    wrong = [v for v in dict.fromkeys(wrong) if v != r]
    out = list(steps)
    out[-1] = (a, op, b, rng.choice(wrong))
    return Flaw(fmt_steps(out), "false_final", len(steps) - 1)


def _dropped(tree, steps, prov, rng) -> Flaw | None:
    if len(steps) < 2:
        return None
    order = list(range(len(steps)))
    rng.shuffle(order)
    for k in order:
        out = steps[:k] + steps[k + 1:]
        first = label(tree, out)
        if first is not None:
            return Flaw(fmt_steps(out), "dropped_step", first)
    return None


def _swapped(tree, steps, prov, rng) -> Flaw | None:
    pairs = [(i, j) for j in range(len(steps)) for i in prov[j] if i is not None]
    rng.shuffle(pairs)
    pairs.sort(key=lambda p: p[1] - p[0])  # adjacent swaps first
    for i, j in pairs:
        out = list(steps)
        out[i], out[j] = out[j], out[i]
        first = label(tree, out)
        if first is not None:
            return Flaw(fmt_steps(out), "swapped_steps", first)
    return None


_MAKERS = {
    "arithmetic_slip": _slip,
    "bad_operand": _bad_operand,
    "dropped_step": _dropped,
    "false_final": _false_final,
    "swapped_steps": _swapped,
}


def make_flaw(tree: Tree, rng: random.Random, kind: str | None = None) -> Flaw:
    """A flawed gold solution of the requested kind (or a random feasible kind)."""
    if kind is not None and kind not in _MAKERS:
        raise ValueError(f"kind: {kind!r} is not one of {list(FLAW_KINDS)}")
    g = gold(tree)
    if g is None or not g[0]:
        raise ValueError("this expression has no steps to flaw")
    steps, prov = g
    kinds = [kind] if kind else list(FLAW_KINDS)
    if not kind:
        rng.shuffle(kinds)
    for name in kinds:
        flaw = _MAKERS[name](tree, list(steps), prov, rng)
        if flaw is not None:
            return flaw
    raise ValueError(f"no {kind or 'flaw'} can be planted in this {len(steps)}-step solution")
