"""Planted flaws in Countdown solutions, each with its kind and true first-error step.

The first-error index is fixed *by construction* (or, for reorderings, by simulating the
pool over the structured steps), never by calling the text verifier, so the registry test
that the verifier finds the same step is a real check.

Kinds:
- arithmetic_slip: a step's result is off; later steps carry the wrong value forward.
- bad_operand: a step uses a number that is not in the pool (reused or invented).
- dropped_step: a step is deleted; a later step then uses a number that never appeared.
- false_final: the last step claims the target through wrong arithmetic (``20*5=80``).
- swapped_steps: a step is moved before the step that produces its operand.
"""
from __future__ import annotations

import random
from collections import Counter

from . import countdown_core as core
from .base import FLAW_KINDS, Flaw

Step = core.Step


def _propagate(numbers: list[int], steps: list[Step], k: int, new_step: Step) -> list[Step]:
    """Replace step k and recompute every later step that consumes its result."""
    prov = core.provenance(numbers, steps)
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
        if a < b and op in "+*":
            a, b = b, a
        r = core.apply_op(a, op, b)
        if r is None:  # the wrong value cannot be carried on exactly: keep the later steps
            out = list(steps)
            out[k] = new_step
            return out
        out[j] = (a, op, b, r)
        changed[j] = r
    return out


def _pool_before(numbers: list[int], steps: list[Step], k: int) -> Counter:
    pool = Counter(numbers)
    for a, _, b, r in steps[:k]:
        pool -= Counter([a, b])
        pool[r] += 1
    return pool


def _slip(numbers, target, steps, rng) -> Flaw | None:
    k = rng.randrange(len(steps) - 1) if len(steps) > 1 else 0  # a non-final step if any
    a, op, b, r = steps[k]
    d = rng.choice([d for d in (1, -1, 2, -2, 10, -10, 3) if r + d > 0])
    return Flaw(core.fmt_steps(_propagate(numbers, steps, k, (a, op, b, r + d))), "arithmetic_slip", k)


def _bad_operand(numbers, target, steps, rng) -> Flaw | None:
    order = list(range(len(steps)))
    rng.shuffle(order)
    for k in order:
        a, op, b, _ = steps[k]
        pool = _pool_before(numbers, steps, k)
        used = [v for v in numbers if pool[v] == 0]  # given numbers already consumed: reuse
        invented = [v for v in range(max(1, a - 5), a + 6) if pool[v] == 0]
        candidates = list(dict.fromkeys(used + invented))
        rng.shuffle(candidates)
        for v in candidates:
            for na, nb in ((v, b), (a, v)):
                if na < nb and op in "+*":
                    na, nb = nb, na
                need = Counter([na, nb])
                if all(pool[x] >= c for x, c in need.items()):
                    continue  # still available: not a flaw
                r = core.apply_op(na, op, nb)
                if r is not None:
                    out = _propagate(numbers, steps, k, (na, op, nb, r))
                    return Flaw(core.fmt_steps(out), "bad_operand", k)
    return None


def _false_final(numbers, target, steps, rng) -> Flaw | None:
    a, op, b, r = steps[-1]
    others = [o for o in core.OPS if o != op and core.apply_op(a, o, b) != r]
    if not others:
        return None
    out = list(steps)
    out[-1] = (a, rng.choice(others), b, r)
    return Flaw(core.fmt_steps(out), "false_final", len(steps) - 1)


def _dropped(numbers, target, steps, rng) -> Flaw | None:
    if len(steps) < 2:
        return None
    order = list(range(len(steps)))
    rng.shuffle(order)
    for k in order:
        out = steps[:k] + steps[k + 1 :]
        first = core.label(numbers, target, out)
        if first is not None:
            return Flaw(core.fmt_steps(out), "dropped_step", first)
    return None


def _swapped(numbers, target, steps, rng) -> Flaw | None:
    prov = core.provenance(numbers, steps)
    pairs = [(i, j) for j in range(len(steps)) for i in prov[j] if i is not None]
    rng.shuffle(pairs)
    pairs.sort(key=lambda p: p[1] - p[0])  # adjacent swaps first
    for i, j in pairs:
        out = list(steps)
        out[i], out[j] = out[j], out[i]
        first = core.label(numbers, target, out)
        if first is not None:
            return Flaw(core.fmt_steps(out), "swapped_steps", first)
    return None


_MAKERS = {
    "arithmetic_slip": _slip,
    "bad_operand": _bad_operand,
    "dropped_step": _dropped,
    "false_final": _false_final,
    "swapped_steps": _swapped,
}


def make_flaw(numbers: list[int], target: int, steps: list[Step], rng: random.Random,
              kind: str | None = None) -> Flaw:
    """A flawed solution of the requested kind (or a random feasible kind)."""
    if kind is not None and kind not in _MAKERS:
        raise ValueError(f"kind: {kind!r} is not one of {list(FLAW_KINDS)}")
    kinds = [kind] if kind else list(FLAW_KINDS)
    if not kind:
        rng.shuffle(kinds)
    for name in kinds:
        flaw = _MAKERS[name](list(numbers), target, list(steps), rng)
        if flaw is not None:
            return flaw
    raise ValueError(f"no {kind or 'flaw'} can be planted in this {len(steps)}-step solution")
