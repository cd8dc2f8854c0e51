"""Countdown: combine ALL given numbers with + - * / to reach a target, one step per line.

Prompt (canonical template): ``3,7,9:30\\n``; gold completion ``7*3=21\\n21+9=30``.
Rules: every number used exactly once; each step combines two numbers of the current pool
into a positive integer (exact division only). Unsolvable instances (``unsolvable_fraction``)
have the abstention line ``No solution`` as their correct answer.

Splits: a problem's id hashes its sorted numbers and target; ids in the lowest
``test_permille`` of the hash range form the test partition, the next
``validation_permille`` the validation partition, the rest train. OOD levels: ``ood-n`` (one
more number, ``ood_extra_numbers``) and ``ood-target`` (targets in ``heldout_targets``,
which never appear in train or test).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..base import (
    ABSTAIN_TEXT,
    Flaw,
    Problem,
    StepCheck,
    Task,
    TaskConfig,
    Verdict,
    content_id,
    read_completion,
    seeded_rng,
)
from ..flaws import FLAW_KINDS, make_flaw
from ..registry import register
from ..steps import judge_steps
from . import chat, core
from .core import PoolJudge
from .search import check_trace, search_trace


@dataclass
class CountdownConfig(TaskConfig):
    task_name = "countdown"  # error prefix (a class attribute, not a field)
    n_numbers: int = 3
    min_number: int = 1
    max_number: int = 20
    min_target: int = 1
    max_target: int = 100
    heldout_targets: tuple[int, ...] = field(default_factory=lambda: tuple(range(7, 101, 10)))
    ood_extra_numbers: int = 1

    def validate(self) -> None:
        self.need_ints(
            "n_numbers", "min_number", "max_number", "min_target", "max_target", "test_permille", "ood_extra_numbers"
        )
        self.need(2 <= self.n_numbers <= 6, "n_numbers", "must be in 2..6")
        self.need(1 <= self.min_number <= self.max_number, "min_number", "must be in 1..max_number")
        self.need(self.max_number <= 1000, "max_number", "must be <= 1000")
        self.need(1 <= self.min_target <= self.max_target, "min_target", "must be in 1..max_target")
        self.need(self.max_target <= 100_000, "max_target", "must be <= 100000")
        self.need_split_fields()
        self.need(
            0 <= self.ood_extra_numbers <= 6 - self.n_numbers,
            "ood_extra_numbers",
            f"must be in 0..{6 - self.n_numbers} (at most 6 numbers in all)",
        )
        self.heldout_targets = tuple(self.heldout_targets)
        self.need(
            all(isinstance(t, int) for t in self.heldout_targets), "heldout_targets", "must be a list of integers"
        )


@register
class Countdown(Task):
    name = "countdown"
    config_cls = CountdownConfig
    styles = ("char", "chat")
    chat_templates = chat.TEMPLATES  # natural language, the answer in <answer>...</answer> (chat.py)
    templates = (
        "{csv}:{target}\n",
        "Numbers: {spaced}. Target: {target}.\n",
        "Use {words} to make {target}.\n",
        "target {target} from [{listed}]\n",
    )
    levels = {
        "id": "in distribution",
        "ood-n": "OOD: more numbers",  # ood_extra_numbers more: a longer chain
        "ood-target": "OOD: held-out targets",  # never in train, validation or test
    }
    capabilities = frozenset({"steps", "flaws", "search", "unsolvable", "wrong_answers"})

    # ---- generation -------------------------------------------------------------------
    def _make(self, numbers: list[int], target: int, level: str, solvable: bool) -> Problem:
        nums = sorted(numbers)
        difficulty = "medium"
        if solvable and len(nums) <= 4:
            count = sum(1 for _ in core.search(tuple(nums), target))
            difficulty = "hard" if count <= 1 else "medium" if count <= 3 else "easy"
        return Problem(
            task=self.name,
            id=content_id(self.name, [nums, target]),
            data={"numbers": nums, "target": target},
            level=level,
            difficulty=difficulty,
            solvable=solvable,
        )

    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        c = self.config
        n = c.n_numbers + (c.ood_extra_numbers if level == "ood-n" else 0)
        nums = tuple(sorted(rng.randint(c.min_number, c.max_number) for _ in range(n)))
        unsolvable = rng.random() < c.unsolvable_fraction
        held = set(c.heldout_targets)
        in_range = range(c.min_target, c.max_target + 1)
        if n <= 4 or unsolvable:
            reachable = core.reach(nums)
            if unsolvable:
                pool = [t for t in in_range if t not in reachable]
            else:
                pool = sorted(t for t in reachable if c.min_target <= t <= c.max_target)
            pool = [t for t in pool if (t in held) == (level == "ood-target")]
            if not pool:
                return None
            return self._make(list(nums), rng.choice(pool), level, not unsolvable)
        # larger pools: construct a random solution forwards (exhaustive reach is too slow)
        cur = nums
        for _ in range(n - 1):
            options = list(core.moves(cur))
            if not options:
                return None
            _, cur = rng.choice(options)
        target = cur[0]
        if target not in in_range or (target in held) != (level == "ood-target"):
            return None
        return self._make(list(nums), target, level, True)

    @classmethod
    def check_problem(cls, problem: Problem) -> Problem:
        d = problem.data
        nums, target = d.get("numbers"), d.get("target") if isinstance(d, dict) else None
        if not (
            isinstance(nums, list)
            and 2 <= len(nums) <= 6
            and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 10**6 for x in nums)
        ):
            raise ValueError("problem.data.numbers: must be a list of 2..6 integers in 1..1000000")
        if not (isinstance(target, int) and not isinstance(target, bool) and 1 <= target <= 10**9):
            raise ValueError("problem.data.target: must be an integer in 1..1000000000")
        nums = sorted(nums)
        solvable = target in core.reach(tuple(nums)) if len(nums) <= 5 else problem.solvable
        return Problem(
            cls.name,
            content_id(cls.name, [nums, target]),
            {"numbers": nums, "target": target},
            problem.level,
            problem.difficulty,
            solvable,
        )

    def _ood_content(self, problem: Problem) -> bool:
        d = problem.data
        return d["target"] in self.config.heldout_targets or len(d["numbers"]) != self.config.n_numbers

    # ---- solving ----------------------------------------------------------------------
    def _steps(self, problem: Problem) -> list[core.Step]:
        d = problem.data
        for sol in core.search(tuple(d["numbers"]), d["target"]):
            return sol
        raise ValueError(f"countdown problem {problem.id} has no solution")

    def solve(self, problem: Problem) -> str:
        if not problem.solvable:
            return ABSTAIN_TEXT
        return core.fmt_steps(self._steps(problem))

    def solutions(self, problem: Problem, limit: int | None = None) -> list[str]:
        if not problem.solvable:
            return [ABSTAIN_TEXT]
        out = []
        for sol in core.search(tuple(problem.data["numbers"]), problem.data["target"]):
            out.append(core.fmt_steps(sol))
            if limit is not None and len(out) >= limit:
                break
        return out

    def _chat_gold(self, problem: Problem) -> str:
        d = problem.data
        return chat.gold(d["numbers"], d["target"], self._steps(problem) if problem.solvable else None)

    def _gold_answer(self, problem: Problem) -> str:
        return str(problem.data["target"])

    def chat_of(self, problem: Problem, text: str) -> str:
        d = problem.data
        solution = None
        if text.startswith("Current State:"):
            tc = check_trace(d["numbers"], d["target"], text)
            solution = tc.solution if tc.goal_reached and tc.well_formed else None
        return chat.from_char(d["numbers"], d["target"], text, solution)

    # ---- text -------------------------------------------------------------------------
    def _template_fields(self, problem: Problem) -> dict:
        nums = [str(x) for x in problem.data["numbers"]]
        words = ", ".join(nums[:-1]) + " and " + nums[-1]
        return {
            "csv": ",".join(nums),
            "spaced": " ".join(nums),
            "words": words,
            "listed": ", ".join(nums),
            "target": problem.data["target"],
        }

    def question(self, problem: Problem) -> str:
        f = self._template_fields(problem)
        return (
            f"Using each of the numbers {f['listed']} exactly once with + - * / "
            f"(exact division, positive intermediate results), reach {f['target']}. "
            f"Write one operation per line, or '{ABSTAIN_TEXT}' if it is impossible."
        )

    # ---- verification -----------------------------------------------------------------
    def verify(self, problem: Problem, completion: str) -> Verdict:
        text = read_completion(problem, completion)
        if isinstance(text, Verdict):
            return text
        if text.startswith("Current State:"):
            return self._verify_trace(problem, text)
        if chat.is_chat(text):
            return chat.verify(problem, text)
        return judge_steps(problem, text, PoolJudge(problem.data["numbers"], problem.data["target"]))

    def _verify_trace(self, problem: Problem, text: str) -> Verdict:
        d = problem.data
        tc = check_trace(d["numbers"], d["target"], text)
        steps = [StepCheck(i, s, ok, why) for i, (s, ok, why) in enumerate(tc.operations)]
        first = next((i for i, s in enumerate(steps) if not s.ok), None)
        if not tc.well_formed:
            return Verdict(
                False,
                False,
                steps,
                first if first is not None else len(steps),
                None,
                well_formed=False,
                reason=tc.reason,
            )
        if not tc.goal_reached or not problem.solvable:
            return Verdict(
                False,
                False,
                steps,
                first if first is not None else len(steps),
                None,
                reason=tc.reason or "search did not reach the goal",
            )
        path_ok = core.label(d["numbers"], d["target"], tc.solution) is None
        ok = path_ok and first is None
        return Verdict(
            ok,
            True,
            steps,
            first if first is not None else (None if ok else len(steps)),
            str(d["target"]),
            reason="" if ok else (tc.reason or "invalid search path"),
        )

    # ---- flaws, traces, distractors ---------------------------------------------------
    def flaw(self, problem: Problem, seed: int = 0, kind: str | None = None) -> Flaw:
        if not problem.solvable:
            raise ValueError(f"problem {problem.id} is unsolvable: there are no steps to flaw")
        d = problem.data
        chain = core.flaw_chain(d["numbers"], d["target"], self._steps(problem))
        return make_flaw(chain, core.FLAW_RULES, seeded_rng("flaw", problem.id, seed), kind)

    def flaw_kinds(self) -> tuple[str, ...]:
        return FLAW_KINDS

    def search_trace(
        self, problem: Problem, strategy: str = "dfs", heuristic: str = "sum", beam: int = 3
    ) -> tuple[str, bool]:
        """Stream-of-Search trace (METHODS.md 1.6) and whether it reached the goal."""
        d = problem.data
        return search_trace(d["numbers"], d["target"], strategy, heuristic, beam)

    def check_trace(self, problem: Problem, trace: str):
        """The search-trace checker's full report (grammar, states, every operation)."""
        d = problem.data
        return check_trace(d["numbers"], d["target"], trace)

    def plausible_wrong_answer(self, problem: Problem, seed: int = 0) -> str:
        if not problem.solvable:
            return self.solve(
                self._make(problem.data["numbers"], self._any_reachable(problem), problem.level, True)
            ).replace("\n", ", ")
        return self.flaw(problem, seed=seed, kind="false_final").text.replace("\n", ", ")

    def _any_reachable(self, problem: Problem) -> int:
        return min(core.reach(tuple(sorted(problem.data["numbers"]))))
