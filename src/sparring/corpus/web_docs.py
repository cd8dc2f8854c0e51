"""The document kinds of the web-like pretraining mix (``corpus/web.py``, the v2 base).

Each kind is one small function ``(ctx, problem, rng) -> (prompt, completion, label) | None``
registered in :data:`DOCUMENTS`; None means "this problem cannot make that kind" (the mix
then writes a solution document instead). Everything comes from the task's generator and
verifier; the noise of each kind (a wrong critic verdict, a wrong comparison, a caving
reply, ...) is drawn from the recipe's seeded rng with the rates of :class:`WebContext`.

What no document uses (kept out as test problems are): the probes' items (only train
problems reach here; ``Rows`` checks), the gaslight probe's negation templates (the
pushbacks below are other wordings), and the held-out flaw kinds (``ctx.kinds`` never
holds them), so the critique probe's score on those kinds is not flaw-generator
recognition.

Layouts. Critiques: the published CFT layout (``critique_format``, also what CFT and the
critique probe use) and a looser prose layout. Comparisons: RARO's compact pairwise critic
layout (``compare_format``, what the compare probe and RARO's critic read) and a prose
layout. Conversations: sparring's char chat rendering (one message per line, as the
gaslight probe shows a conversation). Refinements: ``refine.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from ..tasks.base import Problem, Task
from .common import candidate, gold_label
from .compare_format import BOTH_WRONG, compare_prompt, compare_verdict
from .critique import critique_question
from .critique_format import PUBLISHED_PHRASINGS, Block, critique_prompt, mis_blocks, render, teacher_blocks
from .refine import refinement_document
from .search import trace_for


class Doc(NamedTuple):
    """One document: its prompt and completion text, its label (for analysis only, the
    trainer never sees it) and its problem when it is not the one the mix drew."""

    prompt: str
    completion: str
    label: str
    problem: Problem | None = None


# a pushback on a right answer (dishonest) and on a wrong one (honest); none of these is a
# gaslight.NEGATIONS template or a controls.PUSHBACKS one
DISHONEST = (
    "Hmm, I think it is {wrong}.",
    "Shouldn't that be {wrong}?",
    "My friend got {wrong} for this one.",
    "Wait, {wrong} seems right to me.",
)
HONEST = (
    "Check your steps again.",
    "I don't think that works. Try again?",
    "That does not look right to me.",
    "One of those lines looks off.",
)
PROSE_OPEN = ("Let me check this solution.", "Checking the work line by line.", "Is this right? Let's see.")


@dataclass(frozen=True)
class WebContext:
    """What every document function reads: the task, the allowed flaw kinds, the noise
    rates and the shared bits (templates, search settings, the unsolvable twin task)."""

    task: Task
    kinds: tuple[str, ...]  # flaw kinds a document may show (the held-out ones removed)
    templates: tuple[int, ...]
    error_rate: float  # flawed share of solution documents
    critic_error_rate: float  # critiques whose verdict or first-error step is wrong
    compare_error_rate: float  # comparisons whose stated winner is wrong
    both_wrong_share: float  # comparisons of two wrong answers
    cave_rate: float  # conversations that give up a right answer under a dishonest push
    stay_wrong_rate: float  # conversations that keep a wrong answer under an honest push
    refine_error_rate: float  # refinements whose "corrected" solution is still wrong
    unsolvable_attempt_rate: float  # unsolvable documents that show a wrong attempt
    combos: Any = None  # search settings, None when the task has no search
    unsolvable: Task | None = None  # the task with unsolvable_fraction 1 (train problems)


def flawed(ctx: WebContext, p: Problem, rng: random.Random) -> str | None:
    """A planted flaw of an allowed kind (its text), or None when the problem has none."""
    if not p.solvable or not ctx.kinds:
        return None
    try:
        return ctx.task.flaw(p, seed=rng.randrange(2**31), kind=rng.choice(ctx.kinds)).text
    except ValueError:
        return None


def _inline(text: str) -> str:
    return text.strip().replace("\n", ", ")


# ---- the kinds -----------------------------------------------------------------------
def solution(ctx: WebContext, p: Problem, rng: random.Random) -> Doc:
    """The problem in a random template and a solution, flawed with ``error_rate``."""
    text, label = candidate(ctx.task, p, rng, ctx.error_rate, ctx.kinds)
    return ctx.task.prompt(p, rng.choice(ctx.templates)), text, label


def search(ctx: WebContext, p: Problem, rng: random.Random) -> Doc | None:
    """A solved Stream-of-Search trace (tasks with search only)."""
    if ctx.combos is None or not p.solvable:
        return None
    got = trace_for(ctx.task, p, rng, ctx.combos, only_solved=True)
    return None if got is None else (ctx.task.prompt(p, rng.choice(ctx.templates)), got[0], got[1])


def _critic(ctx: WebContext, p: Problem, y: str, rng: random.Random, phrasing: int) -> tuple[list[Block], bool, str]:
    """A noisy critic's blocks on ``y``: honest, or wrong with ``critic_error_rate``."""
    verdict = ctx.task.verify(p, y)
    truth = "right" if verdict.correct else "wrong"
    if rng.random() < ctx.critic_error_rate:
        blocks, says_right, how = mis_blocks(ctx.task, p, verdict, rng, phrasing)
        return blocks, says_right, f"{truth}:{how}"
    return teacher_blocks(ctx.task, p, verdict, phrasing), verdict.correct, truth


def _candidate(ctx: WebContext, p: Problem, rng: random.Random) -> str:
    """Half right, half an allowed flaw (the gold text when the problem has none)."""
    return (rng.random() < 0.5 and flawed(ctx, p, rng)) or ctx.task.solve(p)


def critique(ctx: WebContext, p: Problem, rng: random.Random) -> Doc | None:
    """A CFT-layout critique of a right or flawed solution by a noisy critic."""
    if not p.solvable:
        return None
    y = _candidate(ctx, p, rng)
    phrasing = rng.choice(PUBLISHED_PHRASINGS)
    blocks, says_right, label = _critic(ctx, p, y, rng, phrasing)
    question = critique_question(ctx.task, p, rng.choice(("prompt", "words")))
    return critique_prompt(question, y), render(blocks, says_right, phrasing), f"critique:{label}"


def prose_critique(ctx: WebContext, p: Problem, rng: random.Random) -> Doc | None:
    """The same noisy critic in looser prose: each checked line, then a one-line verdict."""
    if not p.solvable:
        return None
    y = _candidate(ctx, p, rng)
    blocks, says_right, label = _critic(ctx, p, y, rng, rng.choice(PUBLISHED_PHRASINGS))
    said = []
    for header, ok, why in blocks:
        line = header.split(":", 1)[1].strip() if ":" in header else header
        said.append(f"{line} is fine." if ok else f"{line} is not: {why}")
    end = "So the solution is right." if says_right else "So the solution is wrong."
    body = "\n".join([rng.choice(PROSE_OPEN), *said, end])
    return f"{ctx.task.question(p)}\n{y.strip()}\n", body, f"prose_critique:{label}"


def comparison(ctx: WebContext, p: Problem, rng: random.Random) -> Doc | None:
    """Two answers to one question and which is right (or both wrong), noisy."""
    first_wrong = flawed(ctx, p, rng)
    if first_wrong is None:
        return None
    if rng.random() < ctx.both_wrong_share:
        second = flawed(ctx, p, rng)
        if second is None or second == first_wrong:
            return None
        a1, a2, truth = first_wrong, second, BOTH_WRONG
    else:
        gold_first = rng.random() < 0.5
        a1, a2 = (ctx.task.solve(p), first_wrong) if gold_first else (first_wrong, ctx.task.solve(p))
        truth = "1" if gold_first else "2"
    said = truth
    if rng.random() < ctx.compare_error_rate:
        said = rng.choice([x for x in ("1", "2", BOTH_WRONG) if x != truth])
    label = f"comparison:{truth}" + ("" if said == truth else f":said_{said}")
    if rng.random() < 0.5:  # the compact layout RARO's critic and the compare probe read
        return compare_prompt(ctx.task.prompt(p, 0), a1, a2), compare_verdict(said), label
    words = {"1": "A is right.", "2": "B is right.", BOTH_WRONG: "Both are wrong."}
    prompt = f"{ctx.task.question(p)}\nAnswer A: {_inline(a1)}\nAnswer B: {_inline(a2)}\nWhich one is right?\n"
    return prompt, words[said], label


def conversation(ctx: WebContext, p: Problem, rng: random.Random) -> Doc | None:
    """Question, an answer, a pushback, and the reply: a right answer held (or, noisily,
    given up), a wrong one fixed (or, noisily, kept)."""
    wrong = flawed(ctx, p, rng)
    if wrong is None:
        return None
    gold = ctx.task.solve(p)
    question = ctx.task.prompt(p, rng.choice(ctx.templates)).rstrip("\n")
    if rng.random() < 0.6:  # a right first answer and a dishonest push
        push = rng.choice(DISHONEST).format(wrong=_inline(wrong))
        caves = rng.random() < ctx.cave_rate
        return f"{question}\n{gold}\n{push}\n", wrong if caves else gold, f"conversation:{'cave' if caves else 'hold'}"
    keeps = rng.random() < ctx.stay_wrong_rate
    kind = "stay_wrong" if keeps else "fix"
    return f"{question}\n{wrong}\n{rng.choice(HONEST)}\n", wrong if keeps else gold, f"conversation:{kind}"


def refinement(ctx: WebContext, p: Problem, rng: random.Random) -> Doc | None:
    """A wrong attempt, the exact critique of it, a corrected attempt (noisily still wrong)."""
    attempt = flawed(ctx, p, rng)
    if attempt is None:
        return None
    phrasing = rng.choice(PUBLISHED_PHRASINGS)
    verdict = ctx.task.verify(p, attempt)
    text = render(teacher_blocks(ctx.task, p, verdict, phrasing), verdict.correct, phrasing)
    fix, label = ctx.task.solve(p), "refinement:fixed"
    if rng.random() < ctx.refine_error_rate:
        fix, label = (flawed(ctx, p, rng) or fix), "refinement:still_wrong"
    prompt, completion = refinement_document(critique_question(ctx.task, p, "prompt"), attempt, text, fix)
    return prompt, completion, label


def unsolvable(ctx: WebContext, p: Problem, rng: random.Random) -> Doc | None:
    """An unsolvable train problem answered "No solution", or (noisily) a wrong attempt
    at it (a chain that reaches another number). ``p`` is ignored: the problem is drawn
    from the unsolvable twin task at the same position of its own stream."""
    task = ctx.unsolvable
    if task is None:
        return None
    q = next(task.iter_problems("train", rng.randrange(2**31)))
    if q.solvable:
        return None
    prompt = ctx.task.prompt(q, rng.choice(ctx.templates))
    if rng.random() < ctx.unsolvable_attempt_rate:
        try:
            attempt = task.plausible_wrong_answer(q, rng.randrange(2**31)).replace(", ", "\n")
            return Doc(prompt, attempt, "unsolvable:attempt", q)
        except (NotImplementedError, ValueError):
            pass
    return Doc(prompt, task.solve(q), gold_label(q), q)


DocFn = Callable[[WebContext, Problem, random.Random], "Doc | None"]
DOCUMENTS: dict[str, DocFn] = {
    "solution": solution,
    "search": search,
    "critique": critique,
    "prose_critique": prose_critique,
    "comparison": comparison,
    "conversation": conversation,
    "refinement": refinement,
    "unsolvable": unsolvable,
}
