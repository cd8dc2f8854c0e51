"""Arith: evaluate a multi-step integer expression, one reduction per line.

Prompt (canonical template): ``(3+4)*5-6=\\n``; gold completion ``3+4=7\\n7*5=35\\n35-6=29``.
Expressions are random binary trees over non-negative integers, rendered with the fewest
parentheses that keep the tree (``*`` ``/`` bind tighter than ``+`` ``-``; equal precedence
groups to the left, so a right operand of equal precedence keeps its parentheses).
Every intermediate is a non-negative integer <= ``max_intermediate`` and every division is
exact. A step ``a op b=r`` is valid iff the current tree has a node whose two children are
literals ``a`` and ``b`` (in that order) joined by ``op``, and ``r`` is right; any valid
reduction order is accepted, the gold one is post-order (left to right). Unsolvable
instances (``unsolvable_fraction``) divide by zero or inexactly somewhere; their correct
answer is the abstention line ``No solution``.

Difficulty: one point per *look-ahead* reduction (an operation that is the right operand of
another: reading left to right gets it wrong, precedence or parentheses decide), plus one
point if any intermediate has three or more digits; 0 easy, 1 medium, 2+ hard.

Splits: a problem's id hashes its expression; ids in the lowest ``test_permille`` of the
hash range form the test partition, the next ``validation_permille`` the validation
partition, the rest train. OOD levels: ``ood-long`` (``ood_extra_ops`` more
operations) and ``ood-big`` (leaves up to ``max_value * ood_value_scale``, intermediates up
to ``max_intermediate * ood_value_scale``, at least one leaf above ``max_value``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..base import (
    ABSTAIN_TEXT,
    MAX_DIGITS,
    Flaw,
    Problem,
    Task,
    TaskConfig,
    Verdict,
    content_id,
    fail,
    read_completion,
    seeded_rng,
)
from ..flaws import FLAW_KINDS, make_flaw
from ..freetext import chat_verdict, read_chat, read_natural
from ..registry import register
from ..steps import StepJudge, fmt_steps, judge_steps
from .expr import (
    MAX_EXPR_CHARS,
    MAX_SOLUTIONS,
    Flat,
    difficulty,
    flat,
    generate,
    loose_value,
    make_unsolvable,
    parse,
    render,
    tree_of,
    why_invalid,
)
from .tree import FLAW_RULES, MAX_STATES, Tree, apply_op, flaw_chain, gold, leaves, n_ops


@dataclass
class ArithConfig(TaskConfig):
    task_name = "arith"  # error prefix (a class attribute, not a field)
    n_ops: int = 3
    min_value: int = 1
    max_value: int = 20
    ops: str = "+-*/"
    max_intermediate: int = 999
    ood_extra_ops: int = 2
    ood_value_scale: int = 10

    def validate(self) -> None:
        self.need_ints(
            "n_ops", "min_value", "max_value", "max_intermediate", "test_permille", "ood_extra_ops", "ood_value_scale"
        )
        self.need(1 <= self.n_ops <= 8, "n_ops", "must be in 1..8")
        self.need(1 <= self.max_value <= 10_000, "max_value", "must be in 1..10000")
        self.need(0 <= self.min_value <= self.max_value, "min_value", "must be in 0..max_value")
        self.need(
            isinstance(self.ops, str)
            and len(self.ops) > 0
            and set(self.ops) <= set("+-*/")
            and len(set(self.ops)) == len(self.ops),
            "ops",
            "must be a non-empty string of distinct operators from '+-*/'",
        )
        self.need(
            self.max_value <= self.max_intermediate <= 1_000_000, "max_intermediate", "must be in max_value..1000000"
        )
        self.need_split_fields()
        self.need(
            self.unsolvable_fraction == 0 or "/" in self.ops,
            "unsolvable_fraction",
            "needs '/' in ops (unsolvable instances divide by zero or inexactly)",
        )
        self.need(0 <= self.ood_extra_ops <= 4, "ood_extra_ops", "must be in 0..4")
        self.need(
            1 <= self.ood_value_scale <= 100 and self.max_intermediate * self.ood_value_scale <= 10**9,
            "ood_value_scale",
            "must be in 1..100 with max_intermediate * ood_value_scale <= 1000000000",
        )


def _next_step(fl: Flat, st: tuple) -> str | None:
    """The next gold-order reduction from a state (what a right step could say)."""
    for j in fl.internal:
        a, b = st[fl.left[j]], st[fl.right[j]]
        if st[j] is None and a is not None and b is not None:
            r = apply_op(a, fl.ops[j], b)
            return f"{a}{fl.ops[j]}{b}={r}" if r is not None else None
    return None


class _TreeJudge(StepJudge):
    """Arith semantics: a step reduces a node whose children are both literals. Several
    identical nodes can match, so the judge keeps every tree the steps could have produced
    (at most ``MAX_STATES``); past the first error only the reasons matter, so one is kept."""

    def __init__(self, fl: Flat):
        self.fl, self.states, self.erred = fl, [fl.init], False
        self.unsolvable_reason = f"{fl.bad or 'the expression has no value'}: the answer is to abstain"

    def step(self, a: int, op: str, b: int, r: int) -> tuple[str, str | None]:
        fl = self.fl
        nxt: dict[tuple, None] = {}
        for st in self.states:
            for j in fl.internal:
                if st[j] is None and fl.ops[j] == op and st[fl.left[j]] == a and st[fl.right[j]] == b:
                    nxt[st[:j] + (r,) + st[j + 1 :]] = None
                    if len(nxt) >= MAX_STATES:
                        break
            if len(nxt) >= MAX_STATES:
                break
        true = apply_op(a, op, b)
        reason, expected = "", None
        if not nxt:
            reason, expected = f"no sub-expression {a}{op}{b} to reduce", _next_step(fl, self.states[0])
        elif true is None:
            reason = why_invalid(a, op, b)
        elif true != r:
            reason, expected = f"{a}{op}{b} is {true}, not {r}", f"{a}{op}{b}={true}"
        if nxt:
            self.states = list(nxt)
        self.erred = self.erred or bool(reason)
        if self.erred:
            self.states = self.states[:1]
        return reason, expected

    def end(self) -> str:
        if any(st[self.fl.root] == self.fl.value for st in self.states):
            return ""
        return f"stops before the end: {_next_step(self.fl, self.states[0])} is still to do"

    def answer_ok(self, last_r: int) -> bool:
        return last_r == self.fl.value


CHAT_ANSWER_CHARS = 32  # the chat style's answer tag holds one number


@register
class Arith(Task):
    name = "arith"
    config_cls = ArithConfig
    templates = (
        "{expr}=\n",
        "Evaluate: {expr}\n",
        "Compute {expr} step by step.\n",
        "What is {expr}?\n",
    )
    styles = ("char", "chat")
    chat_templates = (
        "Evaluate {expr}. Multiplication and division come before addition and subtraction, "
        "otherwise left to right; every division must be exact and no result may be negative. "
        "Work it out step by step, then give the value in <answer></answer> tags, or "
        "<answer>No solution</answer> if some operation is impossible.",
        "What is {expr}? Show each operation (like 6 * 7 = 42), then put the final number "
        "inside <answer>...</answer> (or <answer>No solution</answer> if it has no value).",
        "Compute {expr} by hand, one operation at a time, and end with <answer>value</answer>; "
        "write <answer>No solution</answer> if a division is inexact or a result negative.",
    )
    levels = {
        "id": "in distribution",
        "ood-long": "OOD: longer",  # ood_extra_ops more operations
        "ood-big": "OOD: bigger numbers",  # leaves and intermediates x ood_value_scale
    }
    capabilities = frozenset({"steps", "flaws", "unsolvable", "wrong_answers"})

    # ---- generation -------------------------------------------------------------------
    def _make(self, tree: Tree, level: str) -> Problem:
        expr = render(tree)
        return Problem(
            task=self.name,
            id=content_id(self.name, expr),
            data={"expr": expr},
            level=level,
            difficulty=difficulty(tree),
            solvable=flat(expr).value is not None,
        )

    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        c = self.config
        n = c.n_ops + (c.ood_extra_ops if level == "ood-long" else 0)
        scale = c.ood_value_scale if level == "ood-big" else 1
        unsolvable = rng.random() < c.unsolvable_fraction
        got = generate(rng, n, c.ops, c.min_value, c.max_value * scale, c.max_intermediate * scale)
        if got is None:
            return None
        tree = got[0]
        if level == "ood-big" and max(leaves(tree)) <= c.max_value:
            return None
        if unsolvable and (tree := make_unsolvable(rng, tree)) is None:
            return None
        if len(render(tree)) > MAX_EXPR_CHARS:
            return None
        return self._make(tree, level)

    @classmethod
    def check_problem(cls, problem: Problem) -> Problem:
        d = problem.data
        expr = d.get("expr") if isinstance(d, dict) else None
        if not isinstance(expr, str):
            raise ValueError("problem.data.expr: must be a string such as '(3+4)*5-6'")
        tree = parse(expr)
        if isinstance(tree, int):
            raise ValueError("problem.data.expr: needs at least one operation")
        expr = render(tree)
        g = gold(tree)
        if g is not None and any(len(str(r)) > MAX_DIGITS for *_, r in g[0]):
            raise ValueError(f"problem.data.expr: intermediate values must have at most {MAX_DIGITS} digits")
        return Problem(
            cls.name, content_id(cls.name, expr), {"expr": expr}, problem.level, difficulty(tree), g is not None
        )

    def _ood_content(self, problem: Problem) -> bool:
        tree = tree_of(problem.data["expr"])
        lv = leaves(tree)
        return n_ops(tree) != self.config.n_ops or max(lv) > self.config.max_value or min(lv) < self.config.min_value

    # ---- solving ----------------------------------------------------------------------
    def solve(self, problem: Problem) -> str:
        if not problem.solvable:
            return ABSTAIN_TEXT
        g = gold(tree_of(problem.data["expr"]))
        if g is None:
            raise ValueError(f"arith problem {problem.id} has no value")
        return fmt_steps(g[0])

    def solutions(self, problem: Problem, limit: int | None = None) -> list[str]:
        """Distinct valid reduction orders, gold (post-order) first; at most ``limit``
        (``MAX_SOLUTIONS`` when None), fewer if a search budget runs out first (long
        expressions with repeated sub-expressions)."""
        if not problem.solvable:
            return [ABSTAIN_TEXT]
        fl = flat(problem.data["expr"])
        cap = MAX_SOLUTIONS if limit is None else min(limit, MAX_SOLUTIONS)
        out: dict[str, None] = {}
        budget = [4 * cap + 1000]  # node visits: repeated sub-expressions repeat orders

        def dfs(st: list, lines: list) -> None:
            budget[0] -= 1
            if len(out) >= cap or budget[0] < 0:
                return
            if st[fl.root] is not None:
                out.setdefault("\n".join(lines), None)
                return
            for j in fl.internal:
                a, b = st[fl.left[j]], st[fl.right[j]]
                if st[j] is None and a is not None and b is not None:
                    r = apply_op(a, fl.ops[j], b)
                    st[j] = r
                    dfs(st, lines + [f"{a}{fl.ops[j]}{b}={r}"])
                    st[j] = None

        dfs(list(fl.init), [])
        return list(out)[:cap]

    def _gold_answer(self, problem: Problem) -> str:
        return str(flat(problem.data["expr"]).value)

    # ---- text -------------------------------------------------------------------------
    def _template_fields(self, problem: Problem) -> dict:
        return {"expr": problem.data["expr"]}

    def question(self, problem: Problem) -> str:
        return (
            f"Evaluate {problem.data['expr']} (* and / before + and -, otherwise left to "
            f"right; / must divide exactly and no result may be negative). Write one "
            f"operation per line as a+b=c, or '{ABSTAIN_TEXT}' if some operation is "
            f"impossible."
        )

    # ---- verification -----------------------------------------------------------------
    def verify(self, problem: Problem, completion: str) -> Verdict:
        text = read_completion(problem, completion)
        if isinstance(text, Verdict):
            return text
        if "<answer>" in text:
            return self._verify_chat(problem, text)
        return judge_steps(problem, text, _TreeJudge(flat(problem.data["expr"])))

    def _verify_chat(self, problem: Problem, text: str) -> Verdict:
        """The chat style (docs/tasks.md): the last answer tag holds the value and decides
        ``correct``; the steps read from the prose decide validity and the first error."""
        judge = _TreeJudge(flat(problem.data["expr"]))
        steps, answer = read_chat(problem, text, judge, CHAT_ANSWER_CHARS)
        if isinstance(answer, Verdict):
            return answer
        value = read_natural(answer)
        if value is None:
            return fail(f"unreadable answer {answer[:20]!r}: not a non-negative integer", steps, well_formed=False)
        ok = problem.solvable and str(value) == self._gold_answer(problem)
        why = "" if ok else (judge.unsolvable_reason if not problem.solvable else f"{value} is not the value")
        return chat_verdict(ok, ok, steps, str(value), why)

    def _chat_gold(self, problem: Problem) -> str:
        if not problem.solvable:
            bad = flat(problem.data["expr"]).bad or "an operation is impossible"
            return f"{bad}, so {problem.data['expr']} has no value.\n<answer>{ABSTAIN_TEXT}</answer>"
        steps = gold(tree_of(problem.data["expr"]))[0]
        lines = [f"{a} {op} {b} = {r}" for a, op, b, r in steps]
        return "\n".join([*lines, f"<answer>{self._gold_answer(problem)}</answer>"])

    # ---- flaws, distractors -----------------------------------------------------------
    def flaw(self, problem: Problem, seed: int = 0, kind: str | None = None) -> Flaw:
        if not problem.solvable:
            raise ValueError(f"problem {problem.id} is unsolvable: there are no steps to flaw")
        if kind is not None and kind not in FLAW_KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {list(FLAW_KINDS)}")
        chain = flaw_chain(tree_of(problem.data["expr"]))
        return make_flaw(chain, FLAW_RULES, seeded_rng("flaw", problem.id, seed), kind)

    def flaw_kinds(self) -> tuple[str, ...]:
        return FLAW_KINDS

    def plausible_wrong_answer(self, problem: Problem, seed: int = 0) -> str:
        """A near miss: strict left-to-right reading (a precedence slip), or off by a little.
        For an unsolvable problem: the value with remainders dropped (x/0 read as 0)."""
        tree = tree_of(problem.data["expr"])
        if not problem.solvable:
            return str(loose_value(tree))
        true = flat(problem.data["expr"]).value
        nums = [int(x) for x in re.findall(r"[0-9]+", problem.data["expr"])]
        ops = re.findall(r"[-+*/]", problem.data["expr"])
        ltr = nums[0]
        for o, x in zip(ops, nums[1:]):
            ltr = apply_op(ltr, o, x) if ltr is not None else None
        options = [
            v
            for v in (ltr, true + 1, true - 1, true + 2, true - 2, true + 10, true - 10)
            if v is not None and v >= 0 and v != true
        ]
        rng = seeded_rng("wrong", problem.id, seed)
        if ltr in options and rng.random() < 0.5:
            return str(ltr)
        return str(rng.choice(list(dict.fromkeys(options))))
