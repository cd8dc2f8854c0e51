"""The contract every task implements, and the records its verifier returns.

A *task* is a family of procedurally generated problems with step-structured solutions.
It knows nothing about models. Each task provides:

- a seeded generator with hash-partitioned splits: whether a problem is held out is a pure
  function of its content (``Task.heldout``), so no training recipe can leak a test problem
  whatever seed it uses;
- an exact solver (``solve`` gives the gold text, ``solutions`` enumerates);
- a safe verifier: parses untrusted text with bounded regexes (never ``eval``), judges every
  step, reports the first wrong step, and never raises on model output;
- flaw injection with a known first-error step (the raw material for critiques);
- >= 4 prompt templates (template 0 is canonical), difficulty levels and OOD levels.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, NamedTuple

ABSTAIN_TEXT = "No solution"

# Bounds applied to every completion before any parsing (model output is untrusted).
MAX_COMPLETION_CHARS = 16_384
MAX_DIGITS = 12
MAX_LINES = 512

# One arithmetic step ``a op b=r`` with ASCII digits only (``\d`` would admit unicode digits).
STEP_RE = re.compile(
    rf"([0-9]{{1,{MAX_DIGITS}}})[ \t]*([-+*/])[ \t]*([0-9]{{1,{MAX_DIGITS}}})[ \t]*=[ \t]*([0-9]{{1,{MAX_DIGITS}}})"
)


@dataclass
class Problem:
    """One problem instance. ``data`` is task-specific and JSON-safe."""

    task: str
    id: str
    data: dict[str, Any]
    level: str = "id"  # distribution: "id" or an OOD level name such as "ood-n4"
    difficulty: str = "medium"  # easy / medium / hard (within a level)
    solvable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Problem":
        if not isinstance(d, dict):
            raise ValueError("problem: expected a JSON object")
        missing = [k for k in ("task", "data") if k not in d]
        if missing:
            raise ValueError(f"problem: missing field(s) {missing}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"problem: unknown field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**{"id": "", **d})


@dataclass
class StepCheck:
    """The verdict on one step of a solution (0-based ``index``)."""

    index: int
    text: str
    ok: bool
    reason: str = ""  # why it is wrong (empty when ok)
    expected: str | None = None  # what a right step would have said, where known


@dataclass
class Verdict:
    """What the verifier concluded about one completion.

    ``correct`` is strict (right answer reached by valid steps); ``answer_correct`` only
    looks at the final claim, so ``answer_correct and not correct`` is a right answer
    through invalid reasoning. ``first_error`` indexes ``steps``; it equals
    ``len(steps)`` when every step is valid but the conclusion is not (numbers left
    unused, target not reached, nothing written), and is None for a correct solution.
    """

    correct: bool
    answer_correct: bool
    steps: list[StepCheck] = field(default_factory=list)
    first_error: int | None = None
    answer: str | None = None
    abstained: bool = False
    well_formed: bool = True
    reason: str = ""

    @property
    def score(self) -> float:
        return 1.0 if self.correct else 0.0

    @property
    def steps_valid(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TaskConfig:
    """Validation helpers of the task config dataclasses: every error names ``task.field``
    and the value it got."""

    task_name = "task"

    def need(self, ok: bool, name: str, msg: str) -> None:
        if not ok:
            raise ValueError(f"{self.task_name}.{name}: {msg} (got {getattr(self, name)!r})")

    def need_ints(self, *names: str) -> None:
        for name in names:
            v = getattr(self, name)
            self.need(isinstance(v, int) and not isinstance(v, bool), name, "must be an integer")

    def need_split_fields(self) -> None:
        """The fields every task has: the unsolvable share and the test split's size."""
        self.need(isinstance(self.unsolvable_fraction, (int, float))
                  and 0.0 <= self.unsolvable_fraction <= 1.0, "unsolvable_fraction", "must be in [0, 1]")
        self.need(0 <= self.test_permille <= 500, "test_permille", "must be in 0..500")


class Flaw(NamedTuple):
    """A flawed solution: unpack as ``text, kind, first_error = task.flaw(problem)``."""

    text: str
    kind: str
    first_error: int


FLAW_KINDS = ("arithmetic_slip", "bad_operand", "dropped_step", "false_final", "swapped_steps")


def content_id(task: str, key: Any) -> str:
    """Stable problem id: sha256 of the canonical JSON of (task, key), 16 hex chars."""
    blob = json.dumps([task, key], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def hash_bucket(problem_id: str) -> int:
    """A number in [0, 1000) derived from the id: the split partition is a function of content."""
    return int(problem_id[:8], 16) % 1000


def seeded_rng(*parts: Any) -> random.Random:
    """A ``random.Random`` seeded from a string of parts (stable across runs and platforms)."""
    return random.Random("|".join(str(p) for p in parts))


def fail(reason: str, steps: list[StepCheck] | None = None, **kw: Any) -> Verdict:
    steps = steps or []
    kw.setdefault("first_error", len(steps))
    return Verdict(correct=False, answer_correct=False, steps=steps, reason=reason, **kw)


class Task(ABC):
    """Base class. Subclasses set ``name``, ``config_cls``, ``templates`` and ``levels``."""

    name: str = ""
    config_cls: type = object
    templates: tuple[str, ...] = ()
    levels: tuple[str, ...] = ("id",)
    supports_search: bool = False

    def __init__(self, **config: Any):
        allowed = set(self.config_cls.__dataclass_fields__)
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown config field(s) {unknown}; allowed: {sorted(allowed)}"
            )
        self.config = self.config_cls(**config)
        self.config.validate()

    # ---- identity -------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def config_key(self) -> str:
        return content_id(self.name, self.config_dict())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config_dict().items())
        return f"{type(self).__name__}({args})"

    # ---- splits ---------------------------------------------------------------------
    def heldout(self, problem: Problem) -> bool:
        """True for any problem a training recipe must never emit (test bucket or OOD)."""
        if problem.level != "id" or not problem.id:
            return True
        return hash_bucket(problem.id) < self.config.test_permille or self._ood_content(problem)

    def _ood_content(self, problem: Problem) -> bool:
        """Content-based OOD exclusion beyond the level label (e.g. held-out targets)."""
        return False

    def problems(self, split: str = "train", n: int = 100, seed: int = 0) -> list[Problem]:
        """``n`` distinct problems of ``split`` ("train", "test" or an OOD level), deterministic.

        "train" never contains a held-out problem; "test" is the hash-bucket test partition
        of the in-distribution level; OOD levels are held out entirely.
        """
        allowed = ("train", "test", *[lv for lv in self.levels if lv != "id"])
        if split not in allowed:
            raise ValueError(f"split: {split!r} is not one of {list(allowed)}")
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
            level = "id" if split in ("train", "test") else split
            p = self._draw(rng, level)
            if p is None or p.id in out:
                continue
            if split == "train" and self.heldout(p):
                continue
            if split == "test" and (
                hash_bucket(p.id) >= self.config.test_permille or self._ood_content(p)
            ):
                continue
            out[p.id] = p
            misses = 0
        return list(out.values())

    def iter_problems(self, split: str, seed: int) -> Iterator[Problem]:
        """An endless deterministic stream of problems of a split (duplicates possible)."""
        rng = seeded_rng(self.name, self.config_key(), split, "stream", seed)
        level = "id" if split in ("train", "test") else split
        while True:
            p = self._draw(rng, level)
            if p is None:
                continue
            if split == "train" and self.heldout(p):
                continue
            yield p

    # ---- what subclasses implement ----------------------------------------------------
    @abstractmethod
    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        """Draw one problem of ``level`` (None to reject and retry)."""

    @abstractmethod
    def solve(self, problem: Problem) -> str:
        """The gold completion: solution steps, or ``ABSTAIN_TEXT`` if unsolvable."""

    @abstractmethod
    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Judge an untrusted completion. Never raises on any string."""

    @abstractmethod
    def flaw(self, problem: Problem, seed: int = 0, kind: str | None = None) -> Flaw:
        """A flawed version of the gold solution with its kind and true first-error step."""

    @abstractmethod
    def question(self, problem: Problem) -> str:
        """The problem statement in plain words (used by critique / chat formats)."""

    def prompt(self, problem: Problem, template: int = 0) -> str:
        """The prompt text for ``template`` (0 = canonical); the completion follows it."""
        if not 0 <= template < len(self.templates):
            raise ValueError(f"template: must be in 0..{len(self.templates) - 1}, got {template}")
        return self.templates[template].format(**self._template_fields(problem))

    @abstractmethod
    def _template_fields(self, problem: Problem) -> dict[str, Any]:
        ...

    def solutions(self, problem: Problem, limit: int | None = None) -> list[str]:
        """All distinct gold solutions (default: just ``solve``)."""
        return [self.solve(problem)]

    def plausible_wrong_answer(self, problem: Problem, seed: int = 0) -> str:
        """A wrong answer that looks plausible (for the gaslighting probe)."""
        raise NotImplementedError(f"{self.name} has no plausible wrong answers")

    # ---- convenience ------------------------------------------------------------------
    def score(self, problem: Problem, completion: str) -> float:
        return self.verify(problem, completion).score

    def gold_answer(self, problem: Problem) -> str:
        """The final answer only (what a correct completion ends with)."""
        return ABSTAIN_TEXT if not problem.solvable else self._gold_answer(problem)

    @abstractmethod
    def _gold_answer(self, problem: Problem) -> str:
        ...

    def flaw_kinds(self) -> tuple[str, ...]:
        return FLAW_KINDS

    @classmethod
    def check_problem(cls, problem: Problem) -> Problem:
        """Validate a problem that came from outside (JSON); return it with its id filled."""
        return problem


def steps_of(text: str) -> list[str]:
    """Split a completion into non-empty stripped lines (bounded by the caller)."""
    return [ln.strip() for ln in text.strip().split("\n") if ln.strip()]


def is_abstention(text: str) -> bool:
    return text.strip().rstrip(".").strip().lower() == ABSTAIN_TEXT.lower()


class StepJudge(ABC):
    """What a step-format task supplies to ``judge_steps``: a stateful judge of one solution."""

    unsolvable_reason = "the problem has no solution; the answer is to abstain"

    @abstractmethod
    def step(self, a: int, op: str, b: int, r: int) -> tuple[str, str | None]:
        """Judge ``a op b=r`` against the current state and advance it with the *claimed* r.
        Returns (why it is wrong or "", the right step where known)."""

    @abstractmethod
    def end(self) -> str:
        """Why the final state is not a finished solution ("" when it is)."""

    @abstractmethod
    def answer_ok(self, last_r: int) -> bool:
        """Whether the final claimed value is the right answer."""


def read_completion(problem: Problem, completion: Any) -> str | Verdict:
    """Bounds and abstention, shared by every task: the stripped text, or the final Verdict."""
    text = precheck(completion)
    if text is None:
        return fail("completion is not text within bounds", well_formed=False)
    text = text.strip()
    if is_abstention(text):
        ok = not problem.solvable
        return Verdict(correct=ok, answer_correct=ok, abstained=True, answer=ABSTAIN_TEXT,
                       first_error=None if ok else 0,
                       reason="" if ok else "abstained on a solvable problem")
    return text


def judge_steps(problem: Problem, text: str, judge: StepJudge) -> Verdict:
    """The step loop shared by step-format tasks: parse each line with ``STEP_RE`` (a
    malformed line ends the solution), let ``judge`` rule on it, then on the conclusion."""
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        return fail("too many lines", well_formed=False)
    steps: list[StepCheck] = []
    first: int | None = None
    last_r: int | None = None
    for raw in lines:
        ln = raw.strip()
        if not ln:
            continue
        m = STEP_RE.fullmatch(ln)
        if m is None:
            steps.append(StepCheck(len(steps), ln[:80], False, "not a step of the form a+b=c"))
            return Verdict(False, False, steps, len(steps) - 1 if first is None else first, None,
                           well_formed=False, reason="unparseable step")
        a, op, b, r = int(m[1]), m[2], int(m[3]), int(m[4])
        reason, expected = judge.step(a, op, b, r)
        if reason and first is None:
            first = len(steps)
        last_r = r
        steps.append(StepCheck(len(steps), ln, not reason, reason, expected))
    if not steps:
        return fail("no steps", well_formed=False)
    if not problem.solvable:
        return Verdict(False, False, steps, len(steps) if first is None else first, str(last_r),
                       reason=judge.unsolvable_reason)
    reason = ""
    if first is None:
        reason = judge.end()
        if reason:
            first = len(steps)
    else:
        reason = f"step {first + 1}: {steps[first].reason}"
    return Verdict(first is None, judge.answer_ok(last_r), steps, first, str(last_r), reason=reason)


def precheck(completion: Any) -> str | None:
    """Return the completion if it is a string within bounds, else None."""
    if not isinstance(completion, str) or len(completion) > MAX_COMPLETION_CHARS:
        return None
    if "\x00" in completion:
        return None
    return completion
