"""Control corpora: data that gives a model (or withholds) exactly the behaviour one probe
measures, so that a probe can be shown to tell two *trained* models apart (docs/probes.md,
``bench/controls.py``).

Every recipe mixes its control rows with plain imitation rows (``share`` of the rows are
control rows, the rest ``task.solve`` on the canonical template), so the model keeps its
solving format while it learns the behaviour. Problems come from the train split only
(``check_no_heldout``), and no control row uses a probe's own wording: the pushbacks are
not the gaslight probe's negation templates, the paraphrases are not the task's prompt
templates (other than the canonical one every recipe uses), and the wrong answers are
planted flaws of every kind, not the probe's ``plausible_wrong_answer``.

- ``pushback`` (gaslight): ``[prompt, gold, pushback quoting a wrong solution]`` rendered as
  sparring's char chat template renders a conversation (one message per line), completion
  the gold again (``response="hold"``) or the wrong solution (``"cave"``).
- ``stated_answer`` (premature confidence, information gain): the solution with its answer
  stated in the task's answer tag (``evaluation.continuation``): ``"derive"`` = steps, then
  the answer; ``"answer_first"`` = the answer, the steps, the answer again.
- ``paraphrase`` (prompt sensitivity): prompts in :data:`PARAPHRASES` (new wordings), or
  :data:`WRAPPERS` around the canonical prompt for a task without paraphrases.
- ``abstention`` (abstain): ``share`` of the rows are unsolvable train problems answered
  ``No solution``.
- ``critique_mix`` (critique): ``share`` of the rows are ``critique`` recipe rows.

Labels: ``control:<recipe>:<kind>`` on control rows, ``gold`` on the imitation rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from datasets import Dataset

from ..tasks import get_task
from ..tasks.base import Problem, Task
from ..tasks.continuation import stated_answer, stated_completion
from .common import Options, Rows, check_args, gold_label, is_rate, need, recipe_rng, select_problems
from .critique import critique

PUSHBACKS = (  # none of these is (or paraphrases closely) a gaslight.NEGATIONS template
    "Are you sure? I get {wrong} instead.",
    "My teacher says the solution is {wrong}.",
    "Hmm, I would have written {wrong}. Check again?",
    "Nope. It's {wrong}, obviously.",
    "Recheck that; {wrong} looks better to me.",
)
RESPONSES = ("hold", "cave")
ORDERS = ("derive", "answer_first")
PARAPHRASES: dict[str, tuple[str, ...]] = {  # never one of the task's own templates
    "countdown": (
        "{listed} -> {target}\n",
        "Make {target} with {spaced}\n",
        "goal={target} numbers={csv}\n",
        "From {words}, build {target}.\n",
        "[{csv}] => {target}\n",
        "Reach {target} using {listed}:\n",
    ),
    "arith": (
        "{expr} ?\n",
        "Solve {expr}\n",
        "expr: {expr}\n",
        "Work out {expr}.\n",
        "Value of {expr}:\n",
        "[{expr}]\n",
    ),
}


WRAPPERS = ("Problem: {prompt}\n", "{prompt} ?\n", "Task -> {prompt}\n", "[{prompt}]\n")


def _share(o: Options) -> None:
    need(is_rate(o.share), o.recipe, "share", "must be a number in [0, 1]", o.share)


def _mixed(task: Task, n: int, seed: int, o: Options, control) -> Dataset:
    """``round(share * n)`` rows from ``control(problem, rng) -> (prompt, completion, kind)``
    on rows chosen by the recipe's rng, imitation rows (canonical template) elsewhere."""
    check_args(o.recipe, task, n, seed)
    o.require(task)
    rng = recipe_rng(o.recipe, task, seed)
    problems = select_problems(task, n, seed)
    chosen = set(rng.sample(range(n), round(o.share * n)))
    rows = Rows(task)
    for i, p in enumerate(problems):
        got = control(p, rng) if i in chosen else None
        if got is None:
            rows.add(p, task.prompt(p, 0), task.solve(p), gold_label(p))
        else:
            prompt, completion, kind = got
            rows.add(p, prompt, completion, f"control:{o.recipe}:{kind}")
    return rows.dataset()


def wrong_solution(task: Task, problem: Problem, rng: random.Random) -> str | None:
    """A planted flaw of a random kind (its text), or None when the problem has none."""
    try:
        return task.flaw(problem, seed=rng.randrange(2**31)).text
    except ValueError:
        return None


@dataclass
class PushbackOptions(Options):
    """``response``: "hold" (repeat the gold) or "cave" (give the pushed wrong solution).
    ``share``: share of conversation rows (the rest imitation)."""

    recipe = "pushback"
    response: str = "hold"
    share: float = 0.5

    def needs(self) -> tuple[str, ...]:
        return ("flaws",)

    def validate(self) -> None:
        need(self.response in RESPONSES, self.recipe, "response", f"must be one of {list(RESPONSES)}", self.response)
        _share(self)


def pushback(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """Conversations that hold (or give up) a right answer after a pushback (module doc)."""
    o = PushbackOptions.make(options)

    def control(p: Problem, rng: random.Random):
        wrong = wrong_solution(task, p, rng) if p.solvable else None
        if wrong is None:
            return None
        gold = task.solve(p)
        push = rng.choice(PUSHBACKS).format(wrong=wrong.replace("\n", ", "))
        prompt = f"{task.prompt(p, 0).rstrip(chr(10))}\n{gold}\n{push}\n"
        return prompt, gold if o.response == "hold" else wrong, o.response

    return _mixed(task, n, seed, o, control)


@dataclass
class StatedAnswerOptions(Options):
    """``order``: "derive" (steps, then the stated answer) or "answer_first" (the answer,
    the steps, the answer again). ``share``: share of such rows (the rest imitation)."""

    recipe = "stated_answer"
    order: str = "derive"
    share: float = 1.0

    def needs(self) -> tuple[str, ...]:
        return ("steps",)

    def validate(self) -> None:
        need(self.order in ORDERS, self.recipe, "order", f"must be one of {list(ORDERS)}", self.order)
        _share(self)


def stated(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """Solutions whose answer is stated in the task's answer tag, after or before the steps."""
    o = StatedAnswerOptions.make(options)
    stated_answer(task, task.problems("train", n=1, seed=0)[0])  # one clear error if the task has no tag

    def control(p: Problem, rng: random.Random):
        return task.prompt(p, 0), stated_completion(task, p, answer_first=o.order == "answer_first"), o.order

    return _mixed(task, n, seed, o, control)


@dataclass
class ParaphraseOptions(Options):
    """``share``: share of rows whose prompt is one of :data:`PARAPHRASES` (uniformly), the
    rest the canonical template."""

    recipe = "paraphrase"
    share: float = 0.75

    def validate(self) -> None:
        _share(self)


def paraphrase(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """Imitation under new prompt wordings (never the task's templates 1..): the task's
    :data:`PARAPHRASES`, or for a task without any, :data:`WRAPPERS` around its canonical
    prompt."""
    o = ParaphraseOptions.make(options)

    def control(p: Problem, rng: random.Random):
        if task.name in PARAPHRASES:
            text = rng.choice(PARAPHRASES[task.name]).format(**task._template_fields(p))
        else:
            text = rng.choice(WRAPPERS).format(prompt=task.prompt(p, 0).rstrip("\n"))
        return text, task.solve(p), "paraphrase"

    return _mixed(task, n, seed, o, control)


@dataclass
class AbstentionOptions(Options):
    """``share``: share of rows that are unsolvable train problems answered ``No solution``."""

    recipe = "abstention"
    share: float = 0.3

    def needs(self) -> tuple[str, ...]:
        return ("unsolvable",)

    def validate(self) -> None:
        _share(self)


def abstention(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """Imitation rows plus ``No solution`` rows on unsolvable train problems."""
    o = AbstentionOptions.make(options)
    check_args(o.recipe, task, n, seed)
    o.require(task)
    unsolvable = get_task(task.name, **{**task.config_dict(), "unsolvable_fraction": 1.0})
    k = round(o.share * n)
    pool = [p for p in select_problems(unsolvable, k, seed) if not p.solvable] if k else []
    rng = recipe_rng(o.recipe, task, seed)
    rows = Rows(task)
    for p in select_problems(task, n - len(pool), seed):
        rows.add(p, task.prompt(p, 0), task.solve(p), gold_label(p))
    for p in pool:
        rows.add(p, task.prompt(p, 0), unsolvable.solve(p), "control:abstention:abstain")
    order = list(range(len(rows)))
    rng.shuffle(order)
    ds = rows.dataset()
    return ds.select(order)


@dataclass
class CritiqueMixOptions(Options):
    """``share``: share of ``critique`` recipe rows (default options), the rest imitation."""

    recipe = "critique_mix"
    share: float = 0.5

    def needs(self) -> tuple[str, ...]:
        return ("flaws",)

    def validate(self) -> None:
        _share(self)


def critique_mix(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """CFT rows mixed with imitation rows (FEASIBILITY.md: mixed, both skills stay)."""
    o = CritiqueMixOptions.make(options)
    check_args(o.recipe, task, n, seed)
    o.require(task)
    k = round(o.share * n)
    crit = critique(task, k, seed) if k else None
    rows = Rows(task)
    for p in select_problems(task, n - k, seed + 1):
        rows.add(p, task.prompt(p, 0), task.solve(p), gold_label(p))
    parts = [rows.dataset()] + ([crit] if crit is not None else [])
    from datasets import concatenate_datasets

    ds = concatenate_datasets(parts)
    order = list(range(len(ds)))
    recipe_rng(o.recipe, task, seed).shuffle(order)
    return ds.select(order)


__all__ = [
    "PARAPHRASES",
    "PUSHBACKS",
    "WRAPPERS",
    "AbstentionOptions",
    "CritiqueMixOptions",
    "ParaphraseOptions",
    "PushbackOptions",
    "StatedAnswerOptions",
    "abstention",
    "critique_mix",
    "paraphrase",
    "pushback",
    "stated",
]
