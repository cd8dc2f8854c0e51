"""Countdown arithmetic shared by the task, its solver, its flaws and its search traces.

A step is a tuple ``(a, op, b, r)`` written ``a{op}b=r``. Valid steps use two numbers
currently in the pool and produce a *positive integer* (exact division, no zero or
negative intermediates). A solution uses every number exactly once and leaves only the
target in the pool.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Iterator

from ..flaws import Chain, FlawRules
from ..steps import Step, StepJudge, fmt_step, fmt_steps
from ..steps import apply_positive as apply_op

OPS = ("+", "*", "-", "/")  # the order moves() tries, and the flaw engine's choice order
__all__ = [
    "FLAW_RULES",
    "OPS",
    "PoolJudge",
    "Step",
    "apply_op",
    "flaw_chain",
    "fmt_step",
    "fmt_steps",
    "label",
    "moves",
    "provenance",
    "reach",
    "search",
]


def moves(nums: tuple[int, ...]) -> Iterator[tuple[Step, tuple[int, ...]]]:
    """Every valid step from a pool (larger operand first), with the resulting sorted pool.

    Pairs are taken over distinct positions of the pool sorted descending, so duplicates
    yield duplicate moves only once.
    """
    desc = sorted(nums, reverse=True)
    seen: set[Step] = set()
    for i in range(len(desc)):
        for j in range(i + 1, len(desc)):
            a, b = desc[i], desc[j]
            rest = desc[:i] + desc[i + 1 : j] + desc[j + 1 :]
            for op in OPS:
                r = apply_op(a, op, b)
                if r is None:
                    continue
                step = (a, op, b, r)
                if step in seen:
                    continue
                seen.add(step)
                yield step, tuple(sorted(rest + [r]))


@lru_cache(maxsize=200_000)
def reach(nums: tuple[int, ...]) -> frozenset[int]:
    """All values reachable from the sorted pool ``nums`` using every number exactly once."""
    if len(nums) == 1:
        return frozenset(nums)
    out: set[int] = set()
    for _, nxt in moves(nums):
        out |= reach(nxt)
    return frozenset(out)


def search(nums: tuple[int, ...], target: int) -> Iterator[list[Step]]:
    """Depth-first enumeration of every solution (step sequence), pruned by ``reach``."""
    nums = tuple(sorted(nums))
    if len(nums) == 1:
        if nums[0] == target:
            yield []
        return
    if target not in reach(nums):
        return
    for step, nxt in moves(nums):
        if target in reach(nxt):
            for tail in search(nxt, target):
                yield [step, *tail]


def provenance(numbers: list[int], steps: list[Step]) -> list[tuple[int | None, int | None]]:
    """For each step, which earlier step produced each operand (None = a given number)."""
    pool: list[tuple[int, int | None]] = [(x, None) for x in numbers]
    out = []
    for k, (a, _, b, r) in enumerate(steps):
        srcs = []
        for v in (a, b):
            # prefer the most recent intermediate with that value, then a given number
            idx = max(
                (i for i, (pv, _) in enumerate(pool) if pv == v),
                key=lambda i: (pool[i][1] is not None, pool[i][1] or 0),
                default=None,
            )
            if idx is None:
                srcs.append(None)
                continue
            srcs.append(pool[idx][1])
            pool.pop(idx)
        pool.append((r, k))
        out.append((srcs[0], srcs[1]))
    return out


def label(numbers: list[int], target: int, steps: list[Step]) -> int | None:
    """First invalid step index over structured steps; len(steps) if only the end is wrong."""
    pool = Counter(numbers)
    for k, (a, op, b, r) in enumerate(steps):
        need = Counter([a, b])
        if any(pool[v] < c for v, c in need.items()) or apply_op(a, op, b) != r:
            return k
        pool -= need
        pool[r] += 1
    return None if pool == Counter([target]) else len(steps)


# ---- the flaw engine's view of a Countdown solution (tasks.flaws) ----------------------
FLAW_RULES = FlawRules(
    apply_op="positive",
    ops=OPS,
    larger_first=True,
    carry="keep",
    slip="one_step",
    false_final="operator",
    shuffle_pairs=False,
)


def flaw_chain(numbers: list[int], target: int, steps: list[Step]) -> Chain:
    """The gold ``steps`` with Countdown's provenance, reference ``label`` and bad operands:
    a given number already consumed (reuse) or a number near the left operand that is not
    in the pool (invented)."""
    numbers = list(numbers)

    def candidates(k: int) -> list[int]:
        a = steps[k][0]
        pool = Counter(numbers)
        for x, _, y, r in steps[:k]:
            pool -= Counter([x, y])
            pool[r] += 1
        used = [v for v in numbers if pool[v] == 0]
        invented = [v for v in range(max(1, a - 5), a + 6) if pool[v] == 0]
        return list(dict.fromkeys(used + invented))

    return Chain(list(steps), provenance(numbers, steps), lambda out: label(numbers, target, out), candidates)


class PoolJudge(StepJudge):
    """Countdown semantics: a step takes two numbers from the pool and puts its result back."""

    def __init__(self, numbers: list[int], target: int):
        self.pool, self.target = Counter(numbers), target

    def step(self, a: int, op: str, b: int, r: int) -> tuple[str, str | None]:
        reasons, expected = [], None
        need = Counter([a, b])
        missing = [v for v, c in need.items() if self.pool[v] < c]
        if missing:
            have = sorted(self.pool.elements())
            reasons.append(f"{', '.join(map(str, missing))} not available (have {have})")
        true = apply_op(a, op, b)
        if true is None:
            reasons.append(f"{a}{op}{b} is not a positive integer")
        elif true != r:
            reasons.append(f"{a}{op}{b} is {true}, not {r}")
            expected = f"{a}{op}{b}={true}"
        self.pool -= need
        self.pool[r] += 1
        return "; ".join(reasons), expected

    def end(self) -> str:
        if self.pool == Counter([self.target]):
            return ""
        left = sorted(self.pool.elements())
        return (
            f"ends with {left}, not just the target {self.target}"
            if len(left) > 1
            else f"ends at {left[0]}, not the target {self.target}"
        )

    def answer_ok(self, last_r: int) -> bool:
        return last_r == self.target
