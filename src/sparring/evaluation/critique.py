"""The one critique evaluation: planted flaws shown in the CFT critique prompt.

Used by the ``critique`` probe and by CFT's run card (``critique_before`` /
``critique_after``), with the same item draw, prompt, length cap and metrics, so both
report the same numbers for the same model, problems and seed.

Items: each held-out problem is shown with a planted flaw (``task.flaw``: known kind and
first wrong step) with probability ``flawed_fraction`` (drawn per problem from
``seeded_rng("critique", problem.id, seed)``), else with its gold solution, so that
always saying "wrong" does not score. Prompt: ``sparring.corpus.critique_prompt`` with the
canonical prompt stripped (``question="prompt"``, the corpus recipe's default) or the
task's worded question (``"words"``). The greedy critique is read by
``sparring.corpus.parse_critique`` (never raises) into a verdict and a 0-based first
error. Length cap: the longest verifier-exact critique of the shown solutions in any of
the corpus's wordings (``PHRASINGS``) plus 24 tokens, at most ``cap_limit``; generation
stops at ``[END]``.

Metrics (:func:`critique_fractions`, each ``sum(hits) / sum(of)`` over items):
``verdict_accuracy``, ``first_error_accuracy`` (flawed items: verdict wrong *and* the
right step; tasks with steps only), ``flaw_recall``, ``right_recall``, ``parse_rate``
and per flaw kind ``first_error_accuracy[kind]`` (``verdict_accuracy[kind]`` without
steps) and ``flaw_recall[kind]`` (a base pretrained without some kinds, the v2 mix's
held-out ones, is read on those kinds separately).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from sparring.corpus import PHRASINGS, critique_prompt, critique_question, parse_critique, programmatic_critique
from sparring.models import Responder, token_counter
from sparring.models.style import ChatFormat
from sparring.tasks import Problem, Task
from sparring.tasks.base import seeded_rng

from .answers import answers

CRITIQUE_STOP = ("[END]",)
QUESTION_STYLES = ("prompt", "words")
# the defaults of the probe (ProbeConfig) and of CFT's run card: one place, so they agree
FLAWED_FRACTION = 0.5
CAP_LIMIT = 1024


@dataclass(frozen=True)
class CritiqueItem:
    """A problem, the solution shown, its flaw kind (None: gold) and true first error."""

    problem: Problem
    shown: str
    kind: str | None
    first_error: int | None


@dataclass(frozen=True)
class CritiqueOutcome:
    """An item, the model's critique text, and what was read from it."""

    item: CritiqueItem
    text: str
    verdict: str | None
    step: int | None

    @property
    def flawed(self) -> bool:
        return self.item.kind is not None

    @property
    def verdict_right(self) -> bool:
        return self.verdict == ("wrong" if self.flawed else "right")

    @property
    def located(self) -> bool:
        return self.flawed and self.verdict == "wrong" and self.step == self.item.first_error


def critique_items(
    task: Task, problems: Sequence[Problem], *, seed: int = 0, flawed_fraction: float = FLAWED_FRACTION
) -> list[CritiqueItem]:
    """One item per problem (see the module doc); a solution where nothing can be planted
    is shown as its gold."""
    out = []
    for p in problems:
        rng = seeded_rng("critique", p.id, seed)
        if p.solvable and rng.random() < flawed_fraction:
            try:
                text, kind, first = task.flaw(p, seed=seed)
                out.append(CritiqueItem(p, text, kind, first))
                continue
            except ValueError:
                pass
        out.append(CritiqueItem(p, task.solve(p), None, None))
    return out


def critique_cap(task: Task, items: Sequence[CritiqueItem], count: Callable[[str], int], cap_limit: int) -> int:
    longest = max(
        (
            count(programmatic_critique(task, it.problem, it.shown, phrasing=k))
            for it in items
            for k in range(len(PHRASINGS))
        ),
        default=0,
    )
    return min(cap_limit, longest + 24)


def run_critiques(
    responder: Responder,
    task: Task,
    items: Sequence[CritiqueItem],
    *,
    question: str = "prompt",
    max_new_tokens: int | None = None,
    cap_limit: int = CAP_LIMIT,
    seed: int = 0,
    style: str = "char",
    chat_format: ChatFormat | None = None,
) -> tuple[list[CritiqueOutcome], int]:
    """The greedy critique of every item, read; and the length cap used. In chat style the
    critique prompt is the user message (the corpus's chat critique rows are the same)."""
    cap = max_new_tokens or critique_cap(task, items, token_counter(responder), cap_limit)
    texts = [critique_prompt(critique_question(task, it.problem, question, style), it.shown) for it in items]
    fmt = chat_format or ChatFormat()
    prompts = [fmt.messages(t) for t in texts] if style == "chat" else texts
    texts = answers(
        responder,
        task,
        [it.problem for it in items],
        prompts=prompts,
        max_new_tokens=cap,
        seed=seed,
        stop=CRITIQUE_STOP,
    )
    out = []
    for it, row in zip(items, texts):
        verdict, step = parse_critique(row[0])  # never raises on any input
        out.append(CritiqueOutcome(it, row[0], verdict, step))
    return out, cap


def critique_fractions(
    task: Task, outcomes: Sequence[CritiqueOutcome]
) -> dict[str, tuple[list[float], list[float] | None]]:
    """metric -> (per-item hits, per-item denominators; None: every item counts once)."""
    hit = [float(o.verdict_right) for o in outcomes]
    flawed = [float(o.flawed) for o in outcomes]
    located = [float(o.located) for o in outcomes]
    steps = task.has("steps")
    out: dict[str, tuple[list[float], list[float] | None]] = {"verdict_accuracy": (hit, None)}
    if steps:
        out["first_error_accuracy"] = (located, flawed)
    out["flaw_recall"] = ([h * f for h, f in zip(hit, flawed)], flawed)
    out["right_recall"] = ([h * (1 - f) for h, f in zip(hit, flawed)], [1 - f for f in flawed])
    out["parse_rate"] = ([float(o.verdict is not None) for o in outcomes], None)
    per_kind = located if steps else hit
    name = "first_error_accuracy" if steps else "verdict_accuracy"
    for k in sorted({o.item.kind for o in outcomes if o.item.kind}):
        mine = [float(o.item.kind == k) for o in outcomes]
        out[f"{name}[{k}]"] = ([m * s for m, s in zip(mine, per_kind)], mine)
        out[f"flaw_recall[{k}]"] = ([m * h for m, h in zip(mine, hit)], mine)
    return out


def critique_metrics(task: Task, outcomes: Sequence[CritiqueOutcome]) -> dict[str, float | None]:
    """Point values of :func:`critique_fractions` (None where nothing counts), and ``n``."""
    out: dict[str, float | None] = {}
    for name, (hits, of) in critique_fractions(task, outcomes).items():
        total = len(hits) if of is None else sum(of)
        out[name] = sum(hits) / total if total else None
    out["n"] = len(outcomes)
    return out
