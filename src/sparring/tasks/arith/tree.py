"""Arith expression trees, the reference step simulator, and the flaw engine's view.

A tree is an ``int`` (a literal) or a tuple ``(op, left, right)``. A step is a tuple
``(a, op, b, r)`` written ``a{op}b=r``: it is valid iff the current tree has a *reducible*
node (both children literals) whose left value is ``a``, operator ``op`` and right value
``b``, and ``r`` is the true non-negative integer result (exact division). The node is then
replaced by the claimed ``r``. Identical reducible nodes are ambiguous, so ``label`` keeps
every tree the steps so far could have produced (insertion ordered, at most ``MAX_STATES``).

``label`` is the reference semantics, written over nested tuples independently of the fast
verifier in ``task.py`` (flat arrays from ``expr.flat``): the shared flaw engine
(``tasks.flaws``) fixes first-error indices by construction or with ``label``, never by
calling the text verifier, so the registry test that the verifier finds the same step is
a real check. Arith's bad operands are misread, reused, taken from another part of the
expression, or invented (a value near an operand): in no reducible node.
"""

from __future__ import annotations

from typing import Union

from ..flaws import Chain, FlawRules
from ..steps import Step
from ..steps import apply_non_negative as apply_op

Tree = Union[int, tuple]
OPS = ("+", "-", "*", "/")  # the flaw engine's choice order
MAX_STATES = 16  # candidate trees kept when identical reducible nodes make a step ambiguous


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
    return [(o, x, right) for x in _replacements(left, a, op, b, r)] + [
        (o, left, x) for x in _replacements(right, a, op, b, r)
    ]


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


def leaves(t: Tree) -> list[int]:
    return [t] if isinstance(t, int) else leaves(t[1]) + leaves(t[2])


def n_ops(t: Tree) -> int:
    return 0 if isinstance(t, int) else 1 + n_ops(t[1]) + n_ops(t[2])


FLAW_RULES = FlawRules(
    apply_op="non_negative",
    ops=OPS,
    larger_first=False,
    carry="give_up",
    slip="search",
    false_final="value",
    shuffle_pairs=True,
)


def flaw_chain(tree: Tree) -> Chain:
    """The gold (post-order) chain of ``tree`` as the flaw engine sees it; ValueError if the
    expression has no value or no steps."""
    g = gold(tree)
    if g is None or not g[0]:
        raise ValueError("this expression has no steps to flaw")
    steps, prov = g
    others = leaves(tree) + [s[3] for s in steps]

    def candidates(k: int) -> list[int]:
        a, _, b, _ = steps[k]
        near = [v for v in range(max(0, a - 5), a + 6)] + [v for v in range(max(0, b - 5), b + 6)]
        return list(dict.fromkeys(others + near))

    return Chain(list(steps), prov, lambda out: label(tree, out), candidates)
