"""Linear: solve a linear equation for an integer x (a task without steps).

Prompt (canonical template): ``Solve for x: 3*x - 7 = 14\\n``; the gold completion is short
free-text reasoning that ends with the answer tag::

    3*x - 7 = 14
    3*x = 14 + 7 = 21
    x = 21 / 3 = 7
    <answer>7</answer>

Grammar: ``a*x + b = c*x + d`` with integers, written plainly (``3*x - 7 = 14``,
``-x + 5 = 2*x - 1``: coefficient 1 is ``x``, a zero constant is left out, a zero x term on
the right leaves just the constant). ``Problem.data`` is ``{"a", "b", "c", "d"}``; ``c == 0``
is the one-sided form ``a*x + b = d``; ``a != 0`` always. ``x = d`` itself (a = 1, b = 0)
states its answer and is never drawn (``check_problem`` accepts it).

Levels: ``id`` is one-sided with 1 <= |a| <= ``max_coef``, |b| <= ``max_value`` and
|x| <= ``max_value`` (for an unsolvable item: |(d - b) / a| < ``max_value`` + 1); with
``negative`` false every number, x included, is >= 0. ``ood-both`` has x on both sides
(``c != 0``, ``a != c``, the same ranges); ``ood-big`` is one-sided with coefficient and
values up to ``ood_value_scale`` times the id ranges, at least one of them beyond. Any
content outside the id ranges is OOD whatever its level label (``_ood_content``), so an
id-level draw can never put OOD-looking content into train.

Difficulty: one point if a negative number appears (in the equation or as the solution),
one if the solution (for an unsolvable item: the quotient) has magnitude >= 10;
0 easy, 1 medium, 2 hard.

Unsolvable items (``unsolvable_fraction``): ``d - b`` is not a multiple of ``a - c`` (the
remainder keeps the quotient within the level's range), and on ``ood-both`` half of them
have ``a == c, b != d`` (no solution at all). Their gold derivation stops where it fails,
says why, and ends with ``<answer>No solution</answer>``; abstaining is right exactly on
them. ``a == c, b == d`` (every x) is never drawn and is refused by ``check_problem``.

Verification reads only the last ``<answer>...</answer>`` (content at most 32 characters):
an integer (``7``, ``-7``, ``x = 7``) or ``No solution``; the reasoning lines are not
judged (``steps`` is always empty, ``first_error`` is 0 for any wrong completion).

Flaw kinds (``mistakes``): ``sign_error``, ``division_slip``, ``arithmetic_slip``,
``false_final``; each ends with a wrong integer. A kind that has no variation on a problem
(rare, see ``mistakes``) raises ValueError when asked for; ``kind=None`` picks among the
feasible kinds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..base import (
    ABSTAIN_TEXT,
    Flaw,
    Problem,
    Task,
    TaskConfig,
    Verdict,
    abstention_verdict,
    content_id,
    data_of,
    fail,
    is_abstention,
    read_completion,
    seeded_rng,
)
from ..registry import register
from .equation import (
    MAX_ABS,
    MAX_ANSWER_CHARS,
    chain,
    difficulty,
    last_answer,
    parse_int,
    render,
    solution,
    trunc_div,
    unsolvable_chain,
)
from .mistakes import FLAW_KINDS, near_miss, plant

FIELDS = ("a", "b", "c", "d")


@dataclass
class LinearConfig(TaskConfig):
    task_name = "linear"  # error prefix (a class attribute, not a field)
    max_coef: int = 9
    max_value: int = 20
    negative: bool = True
    ood_value_scale: int = 5

    def validate(self) -> None:
        self.need_ints("max_coef", "max_value", "ood_value_scale")
        self.need(1 <= self.max_coef <= 99, "max_coef", "must be in 1..99")
        self.need(1 <= self.max_value <= 999, "max_value", "must be in 1..999")
        self.need(isinstance(self.negative, bool), "negative", "must be true or false")
        self.need_split_fields()
        self.need(
            self.unsolvable_fraction == 0 or self.max_coef >= 2,
            "unsolvable_fraction",
            "needs max_coef >= 2 (with |a| = 1 every equation has an integer solution)",
        )
        self.need(
            self.max_coef >= 2 or self.negative,
            "max_coef",
            "must be >= 2 when negative is false (ood-both needs two distinct x coefficients)",
        )
        self.need(2 <= self.ood_value_scale <= 20, "ood_value_scale", "must be in 2..20")


def _abcd(problem: Problem) -> tuple[int, int, int, int]:
    d = problem.data
    return d["a"], d["b"], d.get("c", 0), d["d"]


@register
class Linear(Task):
    name = "linear"
    config_cls = LinearConfig
    templates = (
        "Solve for x: {eq}\n",
        "{eq}\nx=?\n",
        "Find the integer x such that {eq}.\n",
        "Equation: {eq}. What is x?\n",
    )
    styles = ("char", "chat")
    # the chat style: the same free text, asked for in a user message (the answer rules are the same)
    chat_templates = (
        "Solve for x: {eq}. Show your work, then give x (an integer) in <answer></answer> tags, "
        "or <answer>No solution</answer> if no integer x satisfies the equation.",
        "Find the integer x such that {eq}. Reason step by step and end with <answer>x</answer> "
        "holding its value (or <answer>No solution</answer>).",
        "Equation: {eq}. What is x? Put the final integer inside <answer>...</answer>; write "
        "<answer>No solution</answer> if there is none.",
    )
    levels = {
        "id": "in distribution",  # a*x + b = d, |a| <= max_coef, |b|, |x| <= max_value
        "ood-both": "OOD: x on both sides",  # a*x + b = c*x + d (a != c)
        "ood-big": "OOD: bigger numbers",  # up to ood_value_scale times the id ranges
    }
    capabilities = frozenset({"flaws", "unsolvable", "wrong_answers"})

    # ---- generation -------------------------------------------------------------------
    def _make(self, a: int, b: int, c: int, d: int, level: str) -> Problem:
        return Problem(
            task=self.name,
            id=content_id(self.name, [a, b, c, d]),
            data={"a": a, "b": b, "c": c, "d": d},
            level=level,
            difficulty=difficulty(a, b, c, d),
            solvable=solution(a, b, c, d) is not None,
        )

    def _int(self, rng: random.Random, hi: int) -> int:
        return rng.randint(-hi if self.config.negative else 0, hi)

    def _coef(self, rng: random.Random, hi: int, lo: int = 1) -> int:
        k = rng.randint(lo, hi)
        return -k if self.config.negative and rng.random() < 0.5 else k

    def _rest(self, rng: random.Random, m: int) -> int:
        """A remainder 0 < |r| < |m| that makes ``d - b`` no multiple of ``m``."""
        return self._coef(rng, abs(m) - 1)

    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        cfg = self.config
        unsolvable = rng.random() < cfg.unsolvable_fraction
        scale = cfg.ood_value_scale if level == "ood-big" else 1
        hi_a, hi_v = cfg.max_coef * scale, cfg.max_value * scale
        if level == "ood-both":
            a = self._coef(rng, hi_a)
            if unsolvable and rng.random() < 0.5:  # a == c, b != d: no x at all
                c, b, d = a, self._int(rng, hi_v), self._int(rng, hi_v)
                if b == d:
                    return None
            else:
                c = self._coef(rng, hi_a)
                m = a - c
                if m == 0 or (unsolvable and abs(m) < 2):
                    return None
                x, b = self._int(rng, hi_v), self._int(rng, hi_v)
                d = b + m * x + (self._rest(rng, m) if unsolvable else 0)
        else:
            a = self._coef(rng, hi_a, 2 if unsolvable else 1)
            c, x, b = 0, self._int(rng, hi_v), self._int(rng, hi_v)
            d = b + a * x + (self._rest(rng, a) if unsolvable else 0)
            if a == 1 and b == 0:  # "x = d" states its answer: nothing to solve
                return None
        if not cfg.negative and d < 0:
            return None
        p = self._make(a, b, c, d, level)
        if level == "ood-big" and not self._ood_content(p):
            return None
        return p

    @classmethod
    def check_problem(cls, problem: Problem) -> Problem:
        d = data_of(problem, FIELDS, "such as {'a': 3, 'b': -7, 'c': 0, 'd': 14}")
        vals = []
        for k in FIELDS:
            v = d.get(k, 0 if k == "c" else None)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"problem.data.{k}: must be an integer (got {v!r})")
            if abs(v) > MAX_ABS:
                raise ValueError(f"problem.data.{k}: must be in -{MAX_ABS}..{MAX_ABS} (got {v!r})")
            vals.append(v)
        a, b, c, dd = vals
        if a == 0:
            raise ValueError("problem.data.a: the x coefficient on the left must not be 0 (got 0)")
        if a == c and b == dd:
            raise ValueError(f"problem.data: {render(a, b, c, dd)} holds for every x (c == a and d == b)")
        if problem.level not in cls.levels:
            raise ValueError(f"problem.level: {problem.level!r} is not one of {list(cls.levels)}")
        return Problem(
            cls.name,
            content_id(cls.name, vals),
            dict(zip(FIELDS, vals)),
            problem.level,
            difficulty(*vals),
            solution(*vals) is not None,
        )

    def _ood_content(self, problem: Problem) -> bool:
        a, b, c, d = _abcd(problem)
        cfg = self.config
        n = d - b
        if c != 0 or not 1 <= abs(a) <= cfg.max_coef or abs(b) > cfg.max_value:
            return True
        if not cfg.negative and min(a, b, d, n) < 0:
            return True
        return abs(n) >= (cfg.max_value + 1) * abs(a)  # |x| (or the quotient) beyond max_value

    # ---- solving ----------------------------------------------------------------------
    def solve(self, problem: Problem) -> str:
        if not problem.solvable:
            return unsolvable_chain(*_abcd(problem))
        return chain(*_abcd(problem))

    def _gold_answer(self, problem: Problem) -> str:
        return str(solution(*_abcd(problem)))

    # ---- text -------------------------------------------------------------------------
    def _template_fields(self, problem: Problem) -> dict:
        return {"eq": render(*_abcd(problem))}

    def _chat_gold(self, problem: Problem) -> str:
        return self.solve(problem)  # already free text that ends with the tag

    def question(self, problem: Problem) -> str:
        return (
            f"Solve {render(*_abcd(problem))} for the integer x. Reason in short lines, then "
            f"give the value of x (just the integer) in the tag <answer>...</answer>, or "
            f"<answer>{ABSTAIN_TEXT}</answer> if no integer x satisfies the equation."
        )

    # ---- verification -----------------------------------------------------------------
    def verify(self, problem: Problem, completion: str) -> Verdict:
        text = read_completion(problem, completion)
        if isinstance(text, Verdict):
            return text
        content = last_answer(text)
        if content is None:
            return fail(
                f"no <answer>...</answer> tag (at most {MAX_ANSWER_CHARS} characters inside)",
                well_formed=False,
                first_error=0,
            )
        if is_abstention(content):
            return abstention_verdict(problem)
        v = parse_int(content)
        if v is None:
            return fail(
                f"the answer {content!r} is neither an integer nor {ABSTAIN_TEXT!r}", well_formed=False, first_error=0
            )
        if not problem.solvable:
            return fail("the equation has no integer solution: the answer is to abstain", answer=str(v), first_error=0)
        a, b, c, d = _abcd(problem)
        if v != solution(a, b, c, d):
            return fail(
                f"x = {v} does not satisfy {render(a, b, c, d)} ({a * v + b} on the left, {c * v + d} on the right)",
                answer=str(v),
                first_error=0,
            )
        return Verdict(correct=True, answer_correct=True, steps=[], first_error=None, answer=str(v))

    # ---- flaws, distractors -----------------------------------------------------------
    def flaw(self, problem: Problem, seed: int = 0, kind: str | None = None) -> Flaw:
        if kind is not None and kind not in FLAW_KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {list(FLAW_KINDS)}")
        if not problem.solvable:
            raise ValueError(f"problem {problem.id} is unsolvable: there is no derivation to flaw")
        text, got = plant(*_abcd(problem), seeded_rng("flaw", problem.id, seed), kind)
        return Flaw(text, got, 0)

    def flaw_kinds(self) -> tuple[str, ...]:
        return FLAW_KINDS

    def plausible_wrong_answer(self, problem: Problem, seed: int = 0) -> str:
        """A near miss: a sign error, the negated or undivided value, or off by one. For an
        unsolvable problem: the quotient rounded toward zero (``d - b`` read as x when the
        x terms cancel)."""
        a, b, c, d = _abcd(problem)
        if not problem.solvable:
            return str(trunc_div(d - b, a - c) if a != c else d - b)
        return str(near_miss(a, b, c, d, seeded_rng("wrong", problem.id, seed)))
