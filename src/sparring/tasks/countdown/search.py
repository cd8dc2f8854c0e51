"""Stream-of-Search traces for Countdown (METHODS.md 1.6): writer and checker.

A trace serialises the whole search, dead ends and backtracking included::

    Current State: 30:[3, 7, 9], Operations: []
    Exploring Operation: 9+7=16, Resulting Numbers: [3, 16]
    Generated Node #0,0: 30:[3, 16] Operation: 9+7=16
    Moving to Node #0,0
    Current State: 30:[3, 16], Operations: [9+7=16]
    Exploring Operation: 16+3=19, Resulting Numbers: [19]
    19,30 unequal: No Solution
    ...
    30,30 equal: Goal Reached

Each node's children are the ``beam`` best moves under a heuristic (``sum``: distance of
the pool's sum from the target; ``mult``: how far the pool's numbers are from being
factors of the target). ``dfs`` expands depth-first, ``bfs`` level by level.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..base import MAX_COMPLETION_CHARS, MAX_LINES
from . import core

STRATEGIES = ("dfs", "bfs")


def _h_sum(target: int, nums: tuple[int, ...]) -> tuple:
    return (abs(target - sum(nums)),)


def _h_mult(target: int, nums: tuple[int, ...]) -> tuple:
    def off(x: int) -> int:
        if x == target:
            return 0
        return target % x if x <= target else x

    return (min(off(x) for x in nums), abs(target - sum(nums)))


HEURISTICS = {"sum": _h_sum, "mult": _h_mult}


def _nums(xs) -> str:
    return "[" + ", ".join(str(x) for x in xs) + "]"


def _ops(steps) -> str:
    return "[" + ", ".join(core.fmt_step(s) for s in steps) + "]"


def search_trace(
    numbers, target: int, strategy: str = "dfs", heuristic: str = "sum", beam: int = 3
) -> tuple[str, bool]:
    """The serialised search and whether it reached the target."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: {strategy!r} is not one of {list(STRATEGIES)}")
    if heuristic not in HEURISTICS:
        raise ValueError(f"heuristic: {heuristic!r} is not one of {list(HEURISTICS)}")
    if not isinstance(beam, int) or not 1 <= beam <= 5:
        raise ValueError(f"beam: must be an integer in 1..5, got {beam!r}")
    h = HEURISTICS[heuristic]
    lines: list[str] = []

    def expand(path: str, nums: tuple, ops: list) -> tuple[bool, list]:
        """Write a node's state and children; return (goal found, generated children)."""
        lines.append(f"Current State: {target}:{_nums(nums)}, Operations: {_ops(ops)}")
        kids = sorted(core.moves(nums), key=lambda m: h(target, m[1]))[:beam]
        generated = []
        for i, (step, nxt) in enumerate(kids):
            lines.append(f"Exploring Operation: {core.fmt_step(step)}, Resulting Numbers: {_nums(nxt)}")
            if len(nxt) == 1:
                if nxt[0] == target:
                    lines.append(f"{nxt[0]},{target} equal: Goal Reached")
                    return True, []
                lines.append(f"{nxt[0]},{target} unequal: No Solution")
            else:
                child = f"{path},{i}"
                lines.append(f"Generated Node #{child}: {target}:{_nums(nxt)} Operation: {core.fmt_step(step)}")
                generated.append((child, nxt, ops + [step]))
        return False, generated

    root = ("0", tuple(sorted(numbers)), [])
    if strategy == "dfs":

        def dfs(node) -> bool:
            found, kids = expand(*node)
            if found:
                return True
            for kid in kids:
                lines.append(f"Moving to Node #{kid[0]}")
                if dfs(kid):
                    return True
            return False

        found = dfs(root)
    else:
        found, frontier = expand(*root)
        while frontier and not found:
            nxt_level = []
            for kid in frontier:
                lines.append(f"Moving to Node #{kid[0]}")
                found, kids = expand(*kid)
                if found:
                    break
                nxt_level.extend(kids)
            frontier = nxt_level
    return "\n".join(lines), found


# ---- checking ------------------------------------------------------------------------
_D = r"[0-9]{1,12}"
_LIST = rf"\[((?:{_D}(?:, {_D})*)?)\]"
_STEP = rf"({_D})([-+*/])({_D})=({_D})"
_NC_STEP = _STEP.replace("(", "(?:")
RE_STATE = re.compile(rf"Current State: ({_D}):{_LIST}, Operations: \[((?:{_NC_STEP}(?:, {_NC_STEP})*)?)\]")
RE_EXPLORE = re.compile(rf"Exploring Operation: {_STEP}, Resulting Numbers: {_LIST}")
RE_GEN = re.compile(rf"Generated Node #([0-9]{{1,3}}(?:,[0-9]{{1,3}}){{0,8}}): ({_D}):{_LIST} Operation: {_STEP}")
RE_MOVE = re.compile(r"Moving to Node #([0-9]{1,3}(?:,[0-9]{1,3}){0,8})")
RE_END = re.compile(rf"({_D}),({_D}) (equal: Goal Reached|unequal: No Solution)")
RE_STEP = re.compile(_STEP)


@dataclass
class TraceCheck:
    well_formed: bool
    goal_reached: bool
    solution: list = field(default_factory=list)  # steps on the path to the goal
    operations: list = field(default_factory=list)  # (text, ok, why) per explored operation
    reason: str = ""


def _parse_list(s: str) -> tuple[int, ...]:
    return tuple(sorted(int(x) for x in s.split(", "))) if s else ()


def check_trace(numbers, target: int, text: str) -> TraceCheck:
    """Check a trace line by line: grammar, state consistency, and every operation's arithmetic.

    Never raises on any string; unknown or inconsistent lines make it ill-formed.
    """
    tc = TraceCheck(False, False)
    if not isinstance(text, str) or len(text) > MAX_COMPLETION_CHARS:
        tc.reason = "trace is not text within bounds"
        return tc
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip()]
    if len(lines) > MAX_LINES:
        tc.reason = "trace has too many lines"
        return tc
    nodes = {"0": (tuple(sorted(numbers)), [])}
    visited: set[str] = set()
    pending = "0"
    current: str | None = None
    explored: tuple | None = None  # (step, resulting pool) of the last Exploring line

    def bad(i: int, why: str) -> TraceCheck:
        tc.well_formed, tc.reason = False, f"line {i + 1}: {why}"
        return tc

    for i, ln in enumerate(lines):
        if tc.goal_reached:
            return bad(i, "text after Goal Reached")
        if m := RE_STATE.fullmatch(ln):
            if pending is None or pending in visited:
                return bad(i, "Current State without moving to a new node")
            nums, ops = nodes[pending]
            got_ops = [tuple(int(x) if x.isdigit() else x for x in s) for s in RE_STEP.findall(m[3])]
            if int(m[1]) != target or _parse_list(m[2]) != nums or got_ops != ops:
                return bad(i, "state does not match the node")
            current, pending, explored = pending, None, None
            visited.add(current)
        elif m := RE_EXPLORE.fullmatch(ln):
            if current is None:
                return bad(i, "exploring before any state")
            a, op, b, r = int(m[1]), m[2], int(m[3]), int(m[4])
            pool = Counter(nodes[current][0])
            need = Counter([a, b])
            why = ""
            if any(pool[v] < c for v, c in need.items()):
                why = f"{a} or {b} not in the current numbers"
            elif core.apply_op(a, op, b) != r:
                why = f"{a}{op}{b} is not {r}"
            result = _parse_list(m[5])
            if not why and result != tuple(sorted((pool - need + Counter([r])).elements())):
                why = "wrong resulting numbers"
            tc.operations.append((f"{a}{op}{b}={r}", not why, why))
            explored = ((a, op, b, r), result)
        elif m := RE_GEN.fullmatch(ln):
            path = m[1]
            step = (int(m[4]), m[5], int(m[6]), int(m[7]))
            if explored is None or current is None or path.rsplit(",", 1)[0] != current:
                return bad(i, "generated node is not a child of the current node")
            if path in nodes or step != explored[0] or _parse_list(m[3]) != explored[1] or int(m[2]) != target:
                return bad(i, "generated node does not match the explored operation")
            nodes[path] = (explored[1], nodes[current][1] + [step])
        elif m := RE_MOVE.fullmatch(ln):
            if m[1] not in nodes or m[1] in visited:
                return bad(i, f"moving to unknown or visited node #{m[1]}")
            pending = m[1]
        elif m := RE_END.fullmatch(ln):
            r, t = int(m[1]), int(m[2])
            if explored is None or explored[1] != (r,) or t != target:
                return bad(i, "end line does not match the explored operation")
            if m[3].startswith("equal"):
                if r != target:
                    return bad(i, "claims the goal without reaching the target")
                tc.goal_reached = True
                tc.solution = nodes[current][1] + [explored[0]]
            elif r == target:
                return bad(i, "says unequal for an equal value")
        else:
            return bad(i, "not a line of the search grammar")
    tc.well_formed = True
    if not tc.goal_reached:
        tc.reason = "search did not reach the goal"
    return tc
