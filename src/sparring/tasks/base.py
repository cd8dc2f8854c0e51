"""The contract every task implements (the records it hands out are in ``records.py``).

A *task* is a family of procedurally generated problems. It knows nothing about models.
Every task provides:

- a seeded generator with hash-partitioned splits: a problem's partition (train,
  validation, test) is a pure function of its content id (``Task.partition``), and OOD
  levels are held out whole, so no training recipe can leak an evaluation problem whatever
  seed it uses;
- prompts: ``prompt(problem, template, style)`` for each of its ``styles`` (>= 2 templates
  each, template 0 canonical) and ``question`` (the problem in plain words);
- an exact solver (``solve`` gives the gold completion, ``solutions`` enumerates);
- a safe verifier ``verify(problem, completion) -> Verdict``: bounded parsing of untrusted
  text (never ``eval``), never raising; per-step checks and the first error only where the
  task has steps;
- its levels, each with a description (``levels``: name -> description, "id" first).

Beyond that a task *declares* optional capabilities (``CAPABILITIES``) and implements the
methods that go with each. Recipes, methods and probes ask for what they need with
``task.require(capability, by=...)``; a missing capability is one ``ValueError`` naming
both. Step-chain tasks build on ``tasks.steps`` and ``tasks.flaws``; a task without steps
needs neither (see ``tasks/linear`` and docs/tasks.md).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from .records import (  # re-exported: the contract's records and helpers live in records.py
    ABSTAIN_TEXT,
    MAX_COMPLETION_CHARS,
    MAX_DIGITS,
    MAX_LINES,
    Flaw,
    Problem,
    StepCheck,
    Verdict,
    abstention_verdict,
    content_id,
    data_of,
    fail,
    hash_bucket,
    is_abstention,
    precheck,
    read_completion,
    seeded_rng,
    steps_of,
)

# What a task may declare beyond the contract, and the methods each capability promises.
CAPABILITIES: dict[str, str] = {
    "steps": "solutions are step chains: verify() judges every step and names the first error",
    "flaws": "flaw(problem, seed, kind) plants a known flaw in the gold solution",
    "search": "search_trace(problem, ...) writes Stream-of-Search traces; verify() reads them",
    "unsolvable": "unsolvable_fraction > 0 makes items whose right answer is to abstain",
    "wrong_answers": "plausible_wrong_answer(problem, seed) gives a near-miss wrong answer",
}
SPLITS = ("train", "validation", "test")


@dataclass
class TaskConfig:
    """The fields every task config has, and the validation helpers of the task config
    dataclasses (subclasses): every error names ``task.field`` and the value it got."""

    task_name = "task"  # the error prefix (a class attribute, not a field)
    unsolvable_fraction: float = 0.0  # share of drawn items whose right answer is to abstain
    test_permille: int = 100  # the lowest buckets of the content hash: test
    validation_permille: int = 50  # the next ones: validation (the rest is train)

    def need(self, ok: bool, name: str, msg: str) -> None:
        if not ok:
            raise ValueError(f"{self.task_name}.{name}: {msg} (got {getattr(self, name)!r})")

    def need_ints(self, *names: str) -> None:
        for name in names:
            v = getattr(self, name)
            self.need(isinstance(v, int) and not isinstance(v, bool), name, "must be an integer")

    def need_split_fields(self) -> None:
        """The fields every task has: the unsolvable share and the partition sizes."""
        self.need(
            isinstance(self.unsolvable_fraction, (int, float)) and 0.0 <= self.unsolvable_fraction <= 1.0,
            "unsolvable_fraction",
            "must be in [0, 1]",
        )
        self.need_ints("test_permille", "validation_permille")
        self.need(0 <= self.test_permille <= 500, "test_permille", "must be in 0..500")
        self.need(
            0 <= self.validation_permille <= 500 - self.test_permille,
            "validation_permille",
            f"must be in 0..{500 - self.test_permille} (test + validation <= 500)",
        )


# Config fields left out of ``Task.config_key`` (the seed of every problem stream): they
# decide which partition a drawn problem lands in, not what is drawn, and were added after
# the first streams were published, so leaving them out keeps those streams reproducible.
PARTITION_ONLY_FIELDS = ("validation_permille",)


def missing_capability(task: str, capability: str, by: str, has: Any = ()) -> ValueError:
    """The one error for a recipe, method or probe asking a task for what it lacks."""
    have = ", ".join(sorted(has)) or "none"
    return ValueError(
        f"{by} needs the {capability!r} capability, which task {task!r} does not declare (it has: {have})"
    )


class Task(ABC):
    """Base class. Subclasses set ``name``, ``config_cls``, ``templates``, ``levels`` and
    ``capabilities``, and implement the abstract methods below plus one method per
    declared capability (see ``CAPABILITIES``)."""

    name: str = ""
    config_cls: type = object
    templates: tuple[str, ...] = ()  # the "char" style's templates (0 = canonical)
    chat_templates: tuple[str, ...] = ()  # the "chat" style's (a user message; the answer tagged)
    styles: tuple[str, ...] = ("char",)
    levels: dict[str, str] = {"id": "in distribution"}  # name -> description, "id" first
    capabilities: frozenset[str] = frozenset()
    # True where verify() may hand the answer to the bounded grading worker (tasks/grader.py):
    # then a verification is bounded by the config's grade_timeout_s, not by a parser of ours
    external_grader: bool = False

    def __init__(self, **config: Any):
        allowed = set(self.config_cls.__dataclass_fields__)
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise ValueError(f"{self.name}: unknown config field(s) {unknown}; allowed: {sorted(allowed)}")
        self.config = self.config_cls(**config)
        self.config.validate()

    # ---- identity -------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def config_key(self) -> str:
        key = {k: v for k, v in self.config_dict().items() if k not in PARTITION_ONLY_FIELDS}
        return content_id(self.name, key)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config_dict().items())
        return f"{type(self).__name__}({args})"

    # ---- capabilities -----------------------------------------------------------------
    def has(self, capability: str) -> bool:
        """Whether the task declares ``capability`` (a name from ``CAPABILITIES``)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"capability: {capability!r} is not one of {list(CAPABILITIES)}")
        return capability in self.capabilities

    def require(self, capability: str, by: str) -> None:
        """Raise the one-line error naming ``by`` and the task unless it has ``capability``."""
        if not self.has(capability):
            raise missing_capability(self.name, capability, by, self.capabilities)

    # ---- splits ---------------------------------------------------------------------
    def partition(self, problem: Problem) -> str:
        """ "train", "validation", "test" or "ood" (an OOD level or OOD content)."""
        if problem.level != "id" or not problem.id or self._ood_content(problem):
            return "ood"
        b, c = hash_bucket(problem.id), self.config
        if b < c.test_permille:
            return "test"
        return "validation" if b < c.test_permille + c.validation_permille else "train"

    def heldout(self, problem: Problem) -> bool:
        """True for any problem a training recipe must never emit (validation, test, OOD)."""
        return self.partition(problem) != "train"

    def _ood_content(self, problem: Problem) -> bool:
        """Content-based OOD exclusion beyond the level label (e.g. held-out targets)."""
        return False

    def split_names(self) -> tuple[str, ...]:
        return (*SPLITS, *[lv for lv in self.levels if lv != "id"])

    def _level_of(self, split: str) -> str:
        """The level a split draws from ("id" for the three partitions); ValueError if unknown."""
        if split not in self.split_names():
            raise ValueError(f"split: {split!r} is not one of {list(self.split_names())}")
        return "id" if split in SPLITS else split

    def problems(self, split: str = "train", n: int = 100, seed: int = 0) -> list[Problem]:
        """``n`` distinct problems of ``split`` (a partition or an OOD level), deterministic.

        "train", "validation" and "test" are the hash-bucket partitions of the
        in-distribution level; OOD levels are held out entirely.
        """
        level = self._level_of(split)
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n: must be a positive integer, got {n!r}")
        rng = seeded_rng(self.name, self.config_key(), split, seed)
        out: dict[str, Problem] = {}
        misses = 0  # draws since the last new problem: the split is exhausted when it grows large
        while len(out) < n:
            if misses > 20_000:
                raise ValueError(
                    f"could only find {len(out)} distinct {split!r} problems of {n} asked for "
                    f"with config {self.config_dict()}; ask for fewer or widen the ranges"
                )
            misses += 1
            p = self._draw(rng, level)
            if p is None or p.id in out:
                continue
            if level == "id" and self.partition(p) != split:
                continue
            out[p.id] = p
            misses = 0
        return list(out.values())

    def iter_problems(self, split: str, seed: int) -> Iterator[Problem]:
        """An endless deterministic stream of problems of a split (duplicates possible)."""
        level = self._level_of(split)
        rng = seeded_rng(self.name, self.config_key(), split, "stream", seed)
        while True:
            p = self._draw(rng, level)
            if p is None:
                continue
            if level == "id" and self.partition(p) != split:
                continue
            yield p

    # ---- what subclasses implement ----------------------------------------------------
    @abstractmethod
    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        """Draw one problem of ``level`` (None to reject and retry)."""

    @abstractmethod
    def solve(self, problem: Problem) -> str:
        """The gold completion, or ``ABSTAIN_TEXT`` (in the task's format) if unsolvable."""

    @abstractmethod
    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Judge an untrusted completion. Never raises on any string."""

    @abstractmethod
    def question(self, problem: Problem) -> str:
        """The problem statement in plain words (used by critique / chat formats)."""

    @abstractmethod
    def _template_fields(self, problem: Problem) -> dict[str, Any]: ...

    @abstractmethod
    def _gold_answer(self, problem: Problem) -> str: ...

    def prompt(self, problem: Problem, template: int = 0, style: str = "char") -> str:
        """The prompt text for ``template`` of ``style`` (0 = canonical). "char": the text
        the completion follows; "chat": the user message (natural language, asking for the
        final answer in ``<answer>...</answer>``), rendered by the model's chat template."""
        if style not in self.styles:
            raise ValueError(f"style: {style!r} is not one of {list(self.styles)} for {self.name}")
        templates = self.chat_templates if style == "chat" else self.templates
        if not 0 <= template < len(templates):
            raise ValueError(f"template: must be in 0..{len(templates) - 1}, got {template}")
        return templates[template].format(**self._template_fields(problem))

    def gold_completion(self, problem: Problem, style: str = "char") -> str:
        """The gold completion in ``style``: ``solve`` for "char"; for "chat", reasoning and
        the tagged final answer (``ABSTAIN_TEXT`` tagged on an unsolvable problem)."""
        if style not in self.styles:
            raise ValueError(f"style: {style!r} is not one of {list(self.styles)} for {self.name}")
        return self._chat_gold(problem) if style == "chat" else self.solve(problem)

    def _chat_gold(self, problem: Problem) -> str:
        raise ValueError(f"style: {self.name} has no chat style")

    def chat_of(self, problem: Problem, text: str) -> str:
        """A char-style completion ``text`` of ``problem`` (a gold or flawed solution, an
        abstention, a search trace) rewritten in the chat style: the same work as reasoning,
        then the answer it reaches in ``<answer>...</answer>`` (the chat style of the
        ``pretrain`` recipe). Tasks that cannot: one ValueError."""
        raise ValueError(f"style: {self.name} cannot rewrite its char completions in the chat style (countdown can)")

    def solutions(self, problem: Problem, limit: int | None = None) -> list[str]:
        """All distinct gold solutions (default: just ``solve``)."""
        return [self.solve(problem)]

    def gold_answer(self, problem: Problem) -> str:
        """The final answer only (what a correct completion ends with)."""
        return ABSTAIN_TEXT if not problem.solvable else self._gold_answer(problem)

    def score(self, problem: Problem, completion: str) -> float:
        return self.verify(problem, completion).score

    @classmethod
    def check_problem(cls, problem: Problem) -> Problem:
        """Validate a problem that came from outside (JSON); return it with its id filled."""
        return problem

    # ---- optional capabilities (a task that declares one overrides its methods) -------
    def flaw(self, problem: Problem, seed: int = 0, kind: str | None = None) -> Flaw:
        """A flawed gold solution with its kind and true first-error step ("flaws")."""
        raise missing_capability(self.name, "flaws", "flaw()", self.capabilities)

    def flaw_kinds(self) -> tuple[str, ...]:
        return ()

    def plausible_wrong_answer(self, problem: Problem, seed: int = 0) -> str:
        """A wrong answer that looks plausible, e.g. for the gaslighting probe ("wrong_answers")."""
        raise missing_capability(self.name, "wrong_answers", "plausible_wrong_answer()", self.capabilities)

    def search_trace(
        self, problem: Problem, strategy: str = "dfs", heuristic: str = "sum", beam: int = 3
    ) -> tuple[str, bool]:
        """A Stream-of-Search trace and whether it reached the goal ("search")."""
        raise missing_capability(self.name, "search", "search_trace()", self.capabilities)


__all__ = [
    "ABSTAIN_TEXT",
    "CAPABILITIES",
    "MAX_COMPLETION_CHARS",
    "MAX_DIGITS",
    "MAX_LINES",
    "PARTITION_ONLY_FIELDS",
    "SPLITS",
    "Flaw",
    "Problem",
    "StepCheck",
    "Task",
    "TaskConfig",
    "Verdict",
    "abstention_verdict",
    "content_id",
    "data_of",
    "fail",
    "hash_bucket",
    "is_abstention",
    "missing_capability",
    "precheck",
    "read_completion",
    "seeded_rng",
    "steps_of",
]
