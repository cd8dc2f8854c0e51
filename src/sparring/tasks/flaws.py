"""The flaw engine for step-chain tasks: planted flaws with a known first-error step.

A family describes its chains once: ``FlawRules`` (the family's named semantic options,
fixed per family) and, per problem, a ``Chain`` (the gold steps, which earlier step
produced each operand, the family's reference ``label`` simulator, and the values a step
could wrongly use). The first-error index is fixed *by construction* or by ``label``,
never by calling the text verifier, so the registry test that the verifier finds the same
step is a real check.

Kinds (``FLAW_KINDS``):

- arithmetic_slip: a non-final step's result is off; later steps carry the wrong value.
- bad_operand: a step uses a value that is not available to it (reused, invented, or
  taken from another part of the problem); later steps carry its result.
- dropped_step: a step is deleted; a later step then uses a value that never appeared
  (or the chain stops before the end).
- false_final: the last step claims the answer through wrong arithmetic.
- swapped_steps: a step is moved before the step that produces its operand.

Where the two families differ, the difference is a named option (``FlawRules``):

============== ============================== ===========================================
option         Countdown                      Arith
============== ============================== ===========================================
apply_op       ``positive`` (a-b needs a>b)   ``non_negative`` (a-b needs a>=b)
ops            ``+ * - /`` (choice order)     ``+ - * /``
larger_first   yes: + and * written larger    no: operands stay in the tree's order
               operand first
carry          ``keep``: a value that cannot  ``give_up``: the maker tries another step
               be carried on exactly leaves   or delta (and then allows a loose
               the later steps as they were   quotient downstream)
slip           ``one_step``: one random non-  ``search``: every step and delta in random
               final step, one delta          order until one carries
false_final    ``operator``: the last step's  ``value``: the last step's result is
               operator changes, result kept  changed, operator kept
shuffle_pairs  no: (v, b) is tried first      yes: (v, b) and (a, v) in random order
============== ============================== ===========================================
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from .records import MAX_DIGITS, Flaw
from .steps import OP_RULES, Step, fmt_steps

FLAW_KINDS = ("arithmetic_slip", "bad_operand", "dropped_step", "false_final", "swapped_steps")
CARRY = ("keep", "give_up")


@dataclass(frozen=True)
class FlawRules:
    """A family's fixed semantic options (see the table in the module doc)."""

    apply_op: str
    ops: tuple[str, ...]
    larger_first: bool
    carry: str
    slip: str
    false_final: str
    shuffle_pairs: bool

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("apply_op", self.apply_op, OP_RULES),
            ("carry", self.carry, CARRY),
            ("slip", self.slip, SLIPS),
            ("false_final", self.false_final, FALSE_FINALS),
        ):
            if value not in allowed:
                raise ValueError(f"FlawRules.{name}: {value!r} is not one of {list(allowed)}")

    def op(self, a: int, op: str, b: int) -> int | None:
        return OP_RULES[self.apply_op](a, op, b)

    def order(self, a: int, op: str, b: int) -> tuple[int, int]:
        """The operands as the family writes them."""
        return (b, a) if self.larger_first and a < b and op in "+*" else (a, b)


@dataclass(frozen=True)
class Chain:
    """One gold solution as the engine sees it."""

    steps: list[Step]
    provenance: list[tuple[int | None, int | None]]  # per step: which step made each operand
    label: Callable[[list[Step]], int | None]  # first invalid step; len(steps) if only the end
    operand_candidates: Callable[[int], list[int]]  # values step k could wrongly use


def _fits(v: int) -> bool:
    return len(str(v)) <= MAX_DIGITS


def propagate(chain: Chain, rules: FlawRules, k: int, new_step: Step, loose: bool = False) -> list[Step] | None:
    """Replace step k and recompute every later step that consumes its result.

    When a changed value cannot be carried on exactly: ``carry="keep"`` keeps the later
    steps as they were; ``carry="give_up"`` returns None, except that ``loose`` writes an
    inexact division downstream with its quotient (a second error, after step k)."""
    out = list(chain.steps)
    out[k] = new_step
    changed = {k: new_step[3]}
    for j in range(k + 1, len(out)):
        a, op, b, _ = out[j]
        sa, sb = chain.provenance[j]
        if sa not in changed and sb not in changed:
            continue
        a = changed.get(sa, a) if sa is not None else a
        b = changed.get(sb, b) if sb is not None else b
        a, b = rules.order(a, op, b)
        r = rules.op(a, op, b)
        if r is None and loose and op == "/" and b > 0:
            r = a // b
        if r is None or not _fits(r):
            if rules.carry == "give_up":
                return None
            out = list(chain.steps)
            out[k] = new_step
            return out
        out[j] = (a, op, b, r)
        changed[j] = r
    return out


# ---- arithmetic_slip ------------------------------------------------------------------
def _slip_one_step(chain: Chain, rules: FlawRules, rng: random.Random) -> Flaw | None:
    steps = chain.steps
    k = rng.randrange(len(steps) - 1) if len(steps) > 1 else 0  # a non-final step if any
    a, op, b, r = steps[k]
    d = rng.choice([d for d in (1, -1, 2, -2, 10, -10, 3) if r + d > 0])
    out = propagate(chain, rules, k, (a, op, b, r + d))
    return None if out is None else Flaw(fmt_steps(out), "arithmetic_slip", k)


def _slip_search(chain: Chain, rules: FlawRules, rng: random.Random) -> Flaw | None:
    steps = chain.steps
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
                out = propagate(chain, rules, k, (a, op, b, r + d), loose)
                if out is not None:
                    return Flaw(fmt_steps(out), "arithmetic_slip", k)
    return None


SLIPS = {"one_step": _slip_one_step, "search": _slip_search}


# ---- false_final ----------------------------------------------------------------------
def _false_operator(chain: Chain, rules: FlawRules, rng: random.Random) -> Flaw | None:
    steps = chain.steps
    a, op, b, r = steps[-1]
    others = [o for o in rules.ops if o != op and rules.op(a, o, b) != r]
    if not others:
        return None
    out = list(steps)
    out[-1] = (a, rng.choice(others), b, r)
    return Flaw(fmt_steps(out), "false_final", len(steps) - 1)


def _false_value(chain: Chain, rules: FlawRules, rng: random.Random) -> Flaw | None:
    steps = chain.steps
    a, op, b, r = steps[-1]
    wrong = [r + d for d in (1, -1, 2, -2, 10, -10) if r + d >= 0]
    wrong += [v for o in rules.ops if o != op and (v := rules.op(a, o, b)) is not None]
    wrong = [v for v in dict.fromkeys(wrong) if v != r]
    out = list(steps)
    out[-1] = (a, op, b, rng.choice(wrong))
    return Flaw(fmt_steps(out), "false_final", len(steps) - 1)


FALSE_FINALS = {"operator": _false_operator, "value": _false_value}


# ---- the kinds both families share as they are ------------------------------------------
def _bad_operand(chain: Chain, rules: FlawRules, rng: random.Random) -> Flaw | None:
    ks = list(range(len(chain.steps)))
    rng.shuffle(ks)
    for k in ks:
        a, op, b, _ = chain.steps[k]
        candidates = chain.operand_candidates(k)
        rng.shuffle(candidates)
        for v in candidates:
            pairs = [(v, b), (a, v)]
            if rules.shuffle_pairs:
                rng.shuffle(pairs)
            for na, nb in pairs:
                na, nb = rules.order(na, op, nb)
                r = rules.op(na, op, nb)
                if (na, nb) == (a, b) or r is None or not _fits(r):
                    continue
                out = propagate(chain, rules, k, (na, op, nb, r))
                if out is not None and chain.label(out) == k:
                    return Flaw(fmt_steps(out), "bad_operand", k)
    return None


def _dropped(chain: Chain, rules: FlawRules, rng: random.Random) -> Flaw | None:
    steps = chain.steps
    if len(steps) < 2:
        return None
    order = list(range(len(steps)))
    rng.shuffle(order)
    for k in order:
        out = steps[:k] + steps[k + 1 :]
        first = chain.label(out)
        if first is not None:
            return Flaw(fmt_steps(out), "dropped_step", first)
    return None


def _swapped(chain: Chain, rules: FlawRules, rng: random.Random) -> Flaw | None:
    steps = chain.steps
    pairs = [(i, j) for j in range(len(steps)) for i in chain.provenance[j] if i is not None]
    rng.shuffle(pairs)
    pairs.sort(key=lambda p: p[1] - p[0])  # adjacent swaps first
    for i, j in pairs:
        out = list(steps)
        out[i], out[j] = out[j], out[i]
        first = chain.label(out)
        if first is not None:
            return Flaw(fmt_steps(out), "swapped_steps", first)
    return None


def make_flaw(chain: Chain, rules: FlawRules, rng: random.Random, kind: str | None = None) -> Flaw:
    """A flawed version of ``chain.steps`` of the requested kind (or a random feasible kind)."""
    makers = {
        "arithmetic_slip": SLIPS[rules.slip],
        "bad_operand": _bad_operand,
        "dropped_step": _dropped,
        "false_final": FALSE_FINALS[rules.false_final],
        "swapped_steps": _swapped,
    }
    if kind is not None and kind not in makers:
        raise ValueError(f"kind: {kind!r} is not one of {list(FLAW_KINDS)}")
    if not chain.steps:
        raise ValueError("this solution has no steps to flaw")
    kinds = [kind] if kind else list(FLAW_KINDS)
    if not kind:
        rng.shuffle(kinds)
    for name in kinds:
        flaw = makers[name](chain, rules, rng)
        if flaw is not None:
            return flaw
    raise ValueError(f"no {kind or 'flaw'} can be planted in this {len(chain.steps)}-step solution")
