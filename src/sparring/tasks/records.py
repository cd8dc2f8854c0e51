"""The records a task hands out (problems, verdicts, flaws) and the helpers every task's
generator and verifier share: content ids, hash buckets, seeded streams, input bounds and
the abstention rule. Nothing here knows about a particular task."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

ABSTAIN_TEXT = "No solution"

# Bounds applied to every completion before any parsing (model output is untrusted).
MAX_COMPLETION_CHARS = 16_384
MAX_DIGITS = 12
MAX_LINES = 512


@dataclass
class Problem:
    """One problem instance. ``data`` is task-specific and JSON-safe."""

    task: str
    id: str
    data: dict[str, Any]
    level: str = "id"  # distribution: "id" or an OOD level name such as "ood-n"
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

    ``correct`` is strict (right answer, and for step tasks reached by valid steps);
    ``answer_correct`` only looks at the final claim, so ``answer_correct and not correct``
    is a right answer through invalid reasoning. ``first_error`` indexes ``steps``; it
    equals ``len(steps)`` when every step is valid but the conclusion is not (for a task
    without steps: 0 for any wrong completion), and is None for a correct one.
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


class Flaw(NamedTuple):
    """A flawed solution: unpack as ``text, kind, first_error = task.flaw(problem)``.
    ``first_error`` is the true first wrong step (0 for a task without steps)."""

    text: str
    kind: str
    first_error: int


def data_of(problem: Problem, fields: tuple[str, ...], shape: str) -> dict:
    """A problem's ``data`` checked to be a mapping holding only ``fields`` (what a task's
    ``check_problem`` starts with); ``shape`` describes it in the error."""
    d = problem.data
    if not isinstance(d, dict):
        raise ValueError(f"problem.data: must be an object {shape}")
    unknown = sorted(str(k) for k in set(d) - set(fields))
    if unknown:
        raise ValueError(f"problem.data: unknown field(s) {unknown}; allowed: {list(fields)}")
    return d


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


def steps_of(text: str) -> list[str]:
    """Split a completion into non-empty stripped lines (bounded by the caller)."""
    return [ln.strip() for ln in text.strip().split("\n") if ln.strip()]


def is_abstention(text: str) -> bool:
    return text.strip().rstrip(".").strip().lower() == ABSTAIN_TEXT.lower()


def precheck(completion: Any) -> str | None:
    """Return the completion if it is a string within bounds, else None."""
    if not isinstance(completion, str) or len(completion) > MAX_COMPLETION_CHARS:
        return None
    if "\x00" in completion:
        return None
    return completion


def read_completion(problem: Problem, completion: Any) -> str | Verdict:
    """Bounds and abstention, shared by every task: the stripped text, or the final Verdict."""
    text = precheck(completion)
    if text is None:
        return fail("completion is not text within bounds", well_formed=False)
    text = text.strip()
    if is_abstention(text):
        return abstention_verdict(problem)
    return text


def abstention_verdict(problem: Problem) -> Verdict:
    """The verdict on an abstention: right exactly when the problem is unsolvable."""
    ok = not problem.solvable
    return Verdict(
        correct=ok,
        answer_correct=ok,
        abstained=True,
        answer=ABSTAIN_TEXT,
        first_error=None if ok else 0,
        reason="" if ok else "abstained on a solvable problem",
    )
