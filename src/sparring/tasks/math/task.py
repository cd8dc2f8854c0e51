"""Math: questions with exact answers from a local dataset, graded by math-verify.

    sparring sample math                                    # the shipped sample
    sparring sample math --task-set path=gsm8k.jsonl --task-set question_field=problem

The dataset (``dataset.py``) is a local file or folder with a question and an answer
column (names as options); by default the shipped sample (``sample.py``: 600 generated
word problems). A problem is ``{"question", "answer", "solution"}``, its id the hash of
(question, answer).

Splits: train / validation / test by the content hash (``test_permille``,
``validation_permille``), unless ``split_field`` names a split column, whose values then
decide (a problem not in the dataset is held out). Levels: when the dataset has the
``difficulty_field`` column, its value is each problem's difficulty, and the values listed
in ``ood_difficulty`` (default ``hard``) form the held-out level ``ood``. The leak guard
(``Task.partition``, ``corpus.check_no_heldout``) reads both from the loaded dataset, not
from the problem's JSON, so a forged label cannot move a problem into train.

A finite dataset: ``problems(split, n, seed)`` returns up to ``n`` problems of the split
(all of them when it has fewer), in an order shuffled by ``seed``.

Prompts ask for free reasoning and the final answer in ``<answer>...</answer>``; the gold
completion is the dataset's solution (if any) and the tagged answer. Verification reads
only the last answer tag (at most ``MAX_TAG_CHARS`` characters inside): a reply with the
right answer anywhere else scores 0. Plain numbers are compared exactly; anything else is
judged by math-verify, gold first, in the bounded grading worker (``tasks.grader``):
a timeout, crash or grader error is a wrong answer, never an exception.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..base import Flaw, Problem, Task, TaskConfig, Verdict, content_id, data_of, fail, read_completion, seeded_rng
from ..freetext import last_answer
from ..grader import DEFAULT_TIMEOUT_S, grade
from ..registry import register
from . import dataset, sample
from .grade import same_number
from .mistakes import FLAW_KINDS, plant, wrong_answer

MAX_TAG_CHARS = 300
FIELDS = ("question", "answer", "solution")


@dataclass
class MathConfig(TaskConfig):
    task_name = "math"  # error prefix (a class attribute, not a field)
    path: str = ""  # "" = the shipped sample
    question_field: str = "question"
    answer_field: str = "answer"
    solution_field: str = "solution"  # optional column
    difficulty_field: str = "difficulty"  # optional column
    split_field: str = ""  # a split column (train / validation / test) instead of the hash
    ood_difficulty: str = "hard"  # comma-separated difficulty values held out as level "ood"
    grade_timeout_s: float = DEFAULT_TIMEOUT_S

    def validate(self) -> None:
        for name in ("path", "question_field", "answer_field", "solution_field", "difficulty_field"):
            self.need(isinstance(getattr(self, name), str), name, "must be text")
        for name in ("split_field", "ood_difficulty"):
            self.need(isinstance(getattr(self, name), str), name, "must be text")
        self.need(bool(self.question_field) and bool(self.answer_field), "answer_field", "must be a column name")
        self.need(
            isinstance(self.grade_timeout_s, (int, float)) and 0 < self.grade_timeout_s <= 600,
            "grade_timeout_s",
            "must be in (0, 600] seconds",
        )
        self.need_split_fields()
        self.need(self.unsolvable_fraction == 0, "unsolvable_fraction", "must be 0 (every math problem has an answer)")


@register
class Math(Task):
    name = "math"
    config_cls = MathConfig
    templates = (
        "Question: {question}\nAnswer:",
        "{question}\nShow your work, then give the final answer in <answer></answer>.\n",
        "Problem: {question}\nSolution:",
        "Solve the problem. {question}\n",
    )
    styles = ("char", "chat")
    chat_templates = (
        "{question}\n\nReason step by step, then give the final answer inside <answer></answer> tags.",
        "Solve this problem: {question}\nShow your reasoning and end with <answer>your final answer</answer>.",
        "Here is a math question.\n{question}\nThink it through, and put only the final answer "
        "(a number or expression) in <answer>...</answer>.",
    )
    levels = {
        "id": "in distribution",
        "ood": "held out: the difficulty values in ood_difficulty",
    }
    capabilities = frozenset({"flaws", "wrong_answers"})
    external_grader = True

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        rows = dataset.load_rows(
            c.path or str(sample.PATH),
            c.question_field,
            c.answer_field,
            c.solution_field,
            c.difficulty_field,
            c.split_field,
        )
        ood = {v.strip() for v in c.ood_difficulty.split(",") if v.strip()}
        self._rows: dict[str, Problem] = {}
        self._split_of: dict[str, str] = {}  # with a split column: id -> its split
        rank = {"test": 0, "validation": 1, "train": 2}  # a duplicate keeps its most held-out split
        for r in rows:
            p = self._make(r["question"], r["answer"], r["solution"], r["difficulty"], r["difficulty"] in ood)
            self._rows.setdefault(p.id, p)
            if r["split"] and rank[r["split"]] < rank.get(self._split_of.get(p.id, ""), 3):
                self._split_of[p.id] = r["split"]
        self._by_split: dict[str, list[Problem]] = {}
        for p in self._rows.values():
            self._by_split.setdefault(self.partition(p) if p.level == "id" else p.level, []).append(p)
        self.levels = {k: v for k, v in type(self).levels.items() if k == "id" or k in self._by_split}

    def _make(self, question: str, answer: str, solution: str, difficulty: str, ood: bool) -> Problem:
        return Problem(
            task=self.name,
            id=content_id(self.name, [question, answer]),
            data={"question": question, "answer": answer, "solution": solution},
            level="ood" if ood else "id",
            difficulty=difficulty or "medium",
        )

    # ---- splits: the loaded dataset decides ------------------------------------------
    def partition(self, problem: Problem) -> str:
        if self.config.split_field and problem.level == "id" and not self._ood_content(problem):
            return self._split_of.get(problem.id, "ood")
        return super().partition(problem)

    def _ood_content(self, problem: Problem) -> bool:
        known = self._rows.get(problem.id)
        return known is not None and known.level != "id"

    def _pool(self, split: str) -> list[Problem]:
        self._level_of(split)  # ValueError for an unknown split
        return self._by_split.get(split, [])

    def problems(self, split: str = "train", n: int = 100, seed: int = 0) -> list[Problem]:
        """Up to ``n`` problems of ``split`` (all of them when it has fewer), shuffled by ``seed``."""
        pool = self._pool(split)
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n: must be a positive integer, got {n!r}")
        if not pool:
            raise ValueError(f"split: the dataset has no {split!r} problems")
        order = list(pool)
        seeded_rng(self.name, self.config_key(), split, seed).shuffle(order)
        return order[:n]

    def iter_problems(self, split: str, seed: int):
        pool = self._pool(split)
        if not pool:
            raise ValueError(f"split: the dataset has no {split!r} problems")
        rng = seeded_rng(self.name, self.config_key(), split, "stream", seed)
        while True:
            yield rng.choice(pool)

    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        pool = [p for p in self._rows.values() if p.level == level]
        return rng.choice(pool) if pool else None

    @classmethod
    def check_problem(cls, problem: Problem) -> Problem:
        d = data_of(problem, FIELDS, "with 'question' and 'answer'")
        limits = {"question": dataset.MAX_QUESTION_CHARS, "answer": dataset.MAX_ANSWER_CHARS}
        vals = {}
        for k in FIELDS:
            v = d.get(k, "")
            if not isinstance(v, str) or len(v) > limits.get(k, dataset.MAX_SOLUTION_CHARS):
                raise ValueError(f"problem.data.{k}: must be text of bounded length")
            if k != "solution" and not v.strip():
                raise ValueError(f"problem.data.{k}: must not be empty")
            vals[k] = v
        if problem.level not in cls.levels:
            raise ValueError(f"problem.level: {problem.level!r} is not one of {list(cls.levels)}")
        if not isinstance(problem.difficulty, str) or len(problem.difficulty) > 40:
            raise ValueError("problem.difficulty: must be a short text")
        pid = content_id(cls.name, [vals["question"], vals["answer"]])
        return Problem(cls.name, pid, vals, problem.level, problem.difficulty, True)

    # ---- text ---------------------------------------------------------------------------
    def _template_fields(self, problem: Problem) -> dict:
        return {"question": problem.data["question"]}

    def question(self, problem: Problem) -> str:
        return (
            f"{problem.data['question']}\nReason in short lines, then give the final answer "
            f"in the tag <answer>...</answer>."
        )

    def solve(self, problem: Problem) -> str:
        d = problem.data
        body = d.get("solution") or f"The answer is {d['answer']}."
        return f"{body}\n<answer>{d['answer']}</answer>"

    def _chat_gold(self, problem: Problem) -> str:
        return self.solve(problem)

    def _gold_answer(self, problem: Problem) -> str:
        return problem.data["answer"]

    # ---- verification ---------------------------------------------------------------------
    def verify(self, problem: Problem, completion: str) -> Verdict:
        text = read_completion(problem, completion)
        if isinstance(text, Verdict):
            return text
        answer = last_answer(text, MAX_TAG_CHARS)
        if answer is None:
            return fail(
                f"no <answer>...</answer> tag (at most {MAX_TAG_CHARS} characters inside)",
                well_formed=False,
                first_error=0,
            )
        if not answer:
            return fail("the answer tag is empty", well_formed=False, first_error=0)
        gold = problem.data["answer"]
        ok = same_number(gold, answer)
        why = "" if ok else f"{answer[:40]!r} is not {gold[:40]!r}"
        if ok is None:
            got = grade("math", gold, answer, timeout_s=self.config.grade_timeout_s)
            ok = got.ok and got.value is True
            why = "" if ok else (f"not graded: {got.error}" if not got.ok else f"math-verify: {answer[:40]!r} != gold")
        if not ok:
            return fail(why, answer=answer[:80], first_error=0)
        return Verdict(correct=True, answer_correct=True, steps=[], first_error=None, answer=answer[:80])

    # ---- flaws, distractors -------------------------------------------------------------
    def flaw(self, problem: Problem, seed: int = 0, kind: str | None = None) -> Flaw:
        if kind is not None and kind not in FLAW_KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {list(FLAW_KINDS)}")
        rng = seeded_rng("flaw", problem.id, seed)
        kind = kind or rng.choice(FLAW_KINDS)
        d = problem.data
        text, _ = plant(d.get("solution", ""), d["answer"], kind, rng)
        return Flaw(text, kind, 0)

    def flaw_kinds(self) -> tuple[str, ...]:
        return FLAW_KINDS

    def plausible_wrong_answer(self, problem: Problem, seed: int = 0) -> str:
        """The gold answer off by a small amount (``arithmetic_slip``)."""
        return wrong_answer(problem.data["answer"], "arithmetic_slip", seeded_rng("wrong", problem.id, seed))


__all__ = ["Math", "MathConfig"]
