"""What every recipe shares: option checking, problem selection, row building, the leak guard.

Rows are collected in plain Python lists and turned into one ``datasets.Dataset`` at the
end (``Dataset.from_dict``): per-row appends to a Dataset are orders of magnitude slower.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any, Iterable

from datasets import Dataset, Features, Value

from ..tasks import load_problem
from ..tasks.base import ABSTAIN_TEXT, Problem, Task, content_id, seeded_rng

COLUMNS = ("prompt", "completion", "problem_id", "task", "level", "label", "problem")
FEATURES = Features({c: Value("string") for c in COLUMNS})
# chat style: prompt and completion are conversations, TRL's conversational format
_MESSAGES = [{"role": Value("string"), "content": Value("string")}]
CHAT_FEATURES = Features({c: (_MESSAGES if c in ("prompt", "completion") else Value("string")) for c in COLUMNS})
STYLES = ("char", "chat")


# ---- options -------------------------------------------------------------------------
def need(ok: bool, where: str, name: str, msg: str, value: Any) -> None:
    """Raise ``ValueError`` naming the field when ``ok`` is false (never ``assert``)."""
    if not ok:
        raise ValueError(f"{where}.{name}: {msg} (got {value!r})")


def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_rate(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def int_tuple(value: Any, where: str, name: str, lo: int, hi: int | None = None) -> tuple[int, ...]:
    """A non-empty list/tuple of integers in ``lo..hi`` as a tuple (``ValueError`` otherwise)."""
    ok = (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(is_int(v) and v >= lo and (hi is None or v <= hi) for v in value)
    )
    rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
    need(ok, where, name, f"must be a non-empty list of integers in {rng}", value)
    return tuple(value)


def str_tuple(value: Any, where: str, name: str) -> tuple[str, ...]:
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, str) and v for v in value)
    need(ok, where, name, "must be a non-empty list of strings", value)
    return tuple(value)


@dataclass
class Options:
    """Base of every recipe's options; subclasses add fields and extend ``validate``.

    ``style``: "char" (raw prompt text and completion, sparring's char format) or "chat"
    (TRL's conversational format: the prompt a user message in the task's chat style, the
    completion an assistant message), for recipes whose class sets ``chat = True``."""

    recipe = "recipe"  # class attributes, not fields
    chat = False  # whether the recipe can write the chat style
    style: str = "char"

    def validate(self) -> None:
        pass

    def needs(self) -> tuple[str, ...]:
        """The task capabilities these options need (``Task.require``); none by default."""
        return ()

    def require(self, task: Task) -> None:
        """One clear error, before any row is built, if ``task`` lacks a needed capability."""
        for capability in self.needs():
            task.require(capability, by=f"recipe {self.recipe!r}")

    @classmethod
    def make(cls, options: dict[str, Any]) -> "Options":
        allowed = sorted(f.name for f in fields(cls))
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(f"{cls.recipe}: unknown option(s) {unknown}; allowed: {allowed}")
        opts = cls(**options)
        need(opts.style in STYLES, cls.recipe, "style", f"must be one of {list(STYLES)}", opts.style)
        if opts.style == "chat" and not cls.chat:
            raise ValueError(
                f"{cls.recipe}.style: recipe {cls.recipe!r} writes char-format text only and has no "
                f"chat style (recipes with one: {', '.join(chat_recipes())})"
            )
        opts.validate()
        return opts


def chat_recipes() -> list[str]:
    """The recipes that can write the chat style."""
    return sorted(c.recipe for c in _subclasses(Options) if c.chat)


def _subclasses(cls: type) -> list[type]:
    return [s for c in cls.__subclasses__() for s in (c, *_subclasses(c))]


def check_args(recipe: str, task: Any, n: Any, seed: Any) -> None:
    if not isinstance(task, Task):
        raise ValueError(f"{recipe}.task: must be a sparring Task (get_task(...)), got {type(task).__name__}")
    need(is_int(n) and n > 0, recipe, "n", "must be a positive integer", n)
    need(is_int(seed), recipe, "seed", "must be an integer", seed)


def check_templates(task: Task, recipe: str, templates: tuple[int, ...] | None, style: str = "char") -> tuple[int, ...]:
    """The template ids of ``style`` to sample from (None = all of them), range-checked."""
    have = len(task.chat_templates if style == "chat" else task.templates)
    if templates is None:
        return tuple(range(have))
    bad = [t for t in templates if t >= have]
    need(not bad, recipe, "templates", f"{task.name} has {style} templates 0..{have - 1}", list(templates))
    return templates


def recipe_rng(recipe: str, task: Task, seed: int) -> random.Random:
    """The recipe's own deterministic stream (same task config + seed -> same rows)."""
    return seeded_rng("corpus", recipe, task.name, task.config_key(), seed)


# ---- problems ------------------------------------------------------------------------
def _capacity(task: Task, n: int, seed: int) -> float:
    """Rough number of distinct train problems, from duplicates in a short stream sample.

    Solves ``distinct = D * (1 - exp(-m / D))`` for D (uniform-draw occupancy); skewed
    generators make this an underestimate, which only errs towards the stream below.
    """
    m = min(max(4 * n, 256), 4096)
    ids = [p.id for p in islice(task.iter_problems("train", seed), m)]
    u = len(set(ids))
    if u >= m:
        return math.inf
    lo, hi = float(u), float(u) * 1e6
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if mid * (1.0 - math.exp(-m / mid)) < u:
            lo = mid
        else:
            hi = mid
    return hi


def select_problems(task: Task, n: int, seed: int) -> list[Problem]:
    """``n`` train problems, one per row.

    ``task.problems("train", n, seed)`` (n *distinct* problems) when the train pool clearly
    holds at least 2n; otherwise the first n of ``task.iter_problems("train", seed)``, which
    repeats problems (a 20,000-row corpus of 3-number Countdown has only ~13,000 distinct
    train problems, and ``problems`` would spend minutes before giving up).
    """
    if 2 * n <= _capacity(task, n, seed):
        try:
            return task.problems("train", n, seed)
        except ValueError:
            pass
    return list(islice(task.iter_problems("train", seed), n))


def more_problems(task: Task, seed: int) -> Iterable[Problem]:
    """An endless stream of further train problems, for recipes that skip some."""
    return task.iter_problems("train", seed + 7_919_000)


# ---- candidates ----------------------------------------------------------------------
def gold_label(problem: Problem) -> str:
    return "gold" if problem.solvable else "abstain"


def candidate(
    task: Task, problem: Problem, rng: random.Random, error_rate: float, kinds: tuple[str, ...] | None = None
) -> tuple[str, str]:
    """A mixed-quality solution: a planted flaw with probability ``error_rate``, else gold.

    Unsolvable problems (and solutions too short to flaw) always get the gold text
    (``No solution`` for the unsolvable): there is nothing to flaw. ``kinds``: the flaw
    kinds to draw from (uniformly; None = the task's own choice, with no extra rng draw).
    Returns ``(text, label)`` with label ``gold``, ``abstain`` or ``flawed:<kind>``.
    """
    if rng.random() < error_rate and problem.solvable:
        try:
            seed = rng.randrange(2**31)
            f = task.flaw(problem, seed=seed, kind=rng.choice(kinds) if kinds else None)
            return f.text, f"flawed:{f.kind}"
        except ValueError:
            pass
    return task.solve(problem), gold_label(problem)


# ---- rows ----------------------------------------------------------------------------
class Rows:
    """Column lists for one corpus; ``dataset()`` checks for leaks and builds the Dataset.
    In chat style each prompt becomes a user message and each completion an assistant
    message (TRL's conversational prompt/completion format)."""

    def __init__(self, task: Task, style: str = "char"):
        if style not in task.styles:
            raise ValueError(f"style: task {task.name} has no {style!r} style (it has {list(task.styles)})")
        self.task, self.style = task, style
        self.cols: dict[str, list[str]] = {c: [] for c in COLUMNS}
        self._json: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.cols["prompt"])

    def add(self, problem: Problem, prompt: str, completion: str, label: str) -> None:
        pj = self._json.get(problem.id)
        if pj is None:
            pj = self._json[problem.id] = json.dumps(problem.to_dict())
        c = self.cols
        if self.style == "chat":
            c["prompt"].append([{"role": "user", "content": prompt}])
            c["completion"].append([{"role": "assistant", "content": completion}])
        else:
            c["prompt"].append(prompt)
            c["completion"].append(completion)
        c["problem_id"].append(problem.id)
        c["task"].append(problem.task)
        c["level"].append(problem.level)
        c["label"].append(label)
        c["problem"].append(pj)

    def dataset(self) -> Dataset:
        check_no_heldout(self.task, self.cols)
        return Dataset.from_dict(self.cols, features=CHAT_FEATURES if self.style == "chat" else FEATURES)


# ---- leak guard ----------------------------------------------------------------------
_HELDOUT_CACHE: dict[tuple[str, str, str], str] = {}


def check_no_heldout(task: Task, dataset: Any) -> None:
    """Raise ``ValueError`` naming the first row whose problem is held out (validation or test
    bucket, or OOD).

    ``dataset`` is a ``datasets.Dataset`` or a dict of columns with ``problem_id`` and
    ``problem``. Each distinct problem JSON is rebuilt with ``load_problem`` (which
    recomputes the id from the content, so a forged ``problem_id`` cannot hide a test
    problem) and judged once with ``task.heldout``; verdicts are cached by
    (task config, id, level), so the check is cheap on repeated ids.
    """
    ids, blobs = dataset["problem_id"], dataset["problem"]
    key = content_id(task.name, task.config_dict())  # the whole config: partition sizes too
    seen: set[str] = set()
    for row, (pid, blob) in enumerate(zip(ids, blobs)):
        if blob in seen:
            continue
        seen.add(blob)
        try:
            p = load_problem(json.loads(blob))
        except (ValueError, TypeError) as e:
            raise ValueError(f"problem (row {row}, problem_id {pid!r}): not a valid problem: {e}") from e
        if p.task != task.name:
            raise ValueError(f"problem (row {row}, problem_id {pid!r}): task {p.task!r}, not {task.name!r}")
        if p.id != pid:
            raise ValueError(f"problem_id (row {row}): {pid!r} does not match its problem ({p.id!r})")
        ck = (key, p.id, p.level)  # an OOD-labelled row is held out whatever its content
        part = _HELDOUT_CACHE.get(ck)
        if part is None:
            part = _HELDOUT_CACHE[ck] = task.partition(p)
        if part != "train":
            raise ValueError(
                f"problem_id {pid!r} (row {row}) is a held-out problem "
                f"({part} partition); a training corpus must not contain it"
            )
    if len(_HELDOUT_CACHE) > 2_000_000:
        _HELDOUT_CACHE.clear()


__all__ = [
    "ABSTAIN_TEXT",
    "CHAT_FEATURES",
    "COLUMNS",
    "FEATURES",
    "STYLES",
    "chat_recipes",
    "Options",
    "Rows",
    "candidate",
    "check_no_heldout",
    "select_problems",
]
