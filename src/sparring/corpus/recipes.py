"""Solution corpora: ``imitation``, ``noisy``, ``verified`` (METHODS.md 1.1) and ``pretrain``.

All are prompt = ``task.prompt(p, template)``, completion = a solution text (never the EOS
token: the trainer appends it).
"""

from __future__ import annotations

from dataclasses import dataclass

from datasets import Dataset

from ..tasks.base import Task
from .common import (
    Options,
    Rows,
    candidate,
    check_args,
    check_templates,
    gold_label,
    int_tuple,
    is_rate,
    need,
    recipe_rng,
    select_problems,
)
from .search import check_search, trace_for
from .web import check_v2, web_mix


def _rate(o: Options, name: str) -> None:
    need(is_rate(getattr(o, name)), o.recipe, name, "must be a number in [0, 1]", getattr(o, name))


@dataclass
class ImitationOptions(Options):
    """``templates``: prompt template ids sampled uniformly per row (0 = canonical)."""

    recipe = "imitation"
    chat = True
    templates: tuple[int, ...] = (0,)

    def validate(self) -> None:
        self.templates = int_tuple(self.templates, self.recipe, "templates", 0)


def imitation(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """Imitation SFT: completion = the gold solution in the recipe's style
    (``task.gold_completion``: ``task.solve(p)`` in char style; reasoning and the tagged
    answer in chat style; ``No solution`` for an unsolvable problem). Labels ``gold`` /
    ``abstain``."""
    o = ImitationOptions.make(options)
    check_args(o.recipe, task, n, seed)
    templates = check_templates(task, o.recipe, o.templates, o.style)
    rng = recipe_rng(o.recipe, task, seed)
    rows = Rows(task, o.style)
    for p in select_problems(task, n, seed):
        prompt = task.prompt(p, rng.choice(templates), o.style)
        rows.add(p, prompt, task.gold_completion(p, o.style), gold_label(p))
    return rows.dataset()


@dataclass
class NoisyOptions(Options):
    """``error_rate``: chance a row's solution is a planted flaw. ``templates``: as imitation."""

    recipe = "noisy"
    error_rate: float = 0.3
    templates: tuple[int, ...] = (0,)

    def validate(self) -> None:
        _rate(self, "error_rate")
        self.templates = int_tuple(self.templates, self.recipe, "templates", 0)

    def needs(self) -> tuple[str, ...]:
        return ("flaws",) if self.error_rate > 0 else ()


def _noisy_rows(task: Task, n: int, seed: int, o: NoisyOptions, recipe: str, keep_verified: bool) -> Dataset:
    check_args(recipe, task, n, seed)
    o.require(task)
    templates = check_templates(task, recipe, o.templates)
    rng = recipe_rng("noisy", task, seed)  # verified draws the very same pool as noisy
    rows = Rows(task)
    for p in select_problems(task, n, seed):
        prompt = task.prompt(p, rng.choice(templates))
        text, label = candidate(task, p, rng, o.error_rate)
        if keep_verified and not task.verify(p, text).correct:
            continue
        rows.add(p, prompt, text, label)
    return rows.dataset()


def noisy(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """SFT on mixed-quality, unlabeled solutions (the "web data" baseline): each row's
    completion is a planted flaw (``task.flaw``) with probability ``error_rate``, else gold.
    The label (``gold``, ``abstain``, ``flawed:<kind>``) is for analysis only; the trainer
    never sees it."""
    return _noisy_rows(task, n, seed, NoisyOptions.make(options), "noisy", keep_verified=False)


@dataclass
class VerifiedOptions(NoisyOptions):
    """Same options as ``noisy`` (they define the candidate pool that is filtered)."""

    recipe = "verified"


def verified(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """SFT on verifier-accepted solutions only: the ``noisy`` pool for the same (task, n,
    seed, error_rate, templates), minus every row ``task.verify`` rejects. So it has FEWER
    than ``n`` rows (about ``(1 - error_rate) * n``), on exactly the problems of the kept
    noisy rows: sft-noisy vs sft-verified differ only by the filter."""
    return _noisy_rows(task, n, seed, VerifiedOptions.make(options), "verified", keep_verified=True)


@dataclass
class PretrainOptions(Options):
    """``mix``: "v1" (solutions and search traces, ``zoo:countdown-base``) or "v2" (the
    web-like mix of ``web.py``: critiques, comparisons, conversations, refinements,
    unsolvable problems too; docs/base-v2.md). ``error_rate``: share of flawed solutions
    among solution rows. ``templates``: prompt templates, None = all of the task's
    templates. v1 only: ``search_fraction``, share of rows that are solved search traces
    (tasks with search only; ignored otherwise; None = 0.3). v2 only: ``shares`` (document
    kind -> share, None = ``web.V2_SHARES``), ``noise`` (rate name -> rate, over
    ``web.V2_NOISE``), ``heldout_flaws`` (flaw kinds no document shows, None = those of
    ``web.V2_HELDOUT_FLAWS`` the task has). ``style`` "chat" (v1 only): the same documents
    as conversations (``task.chat_of``), the base of ``zoo:countdown-chat``."""

    recipe = "pretrain"
    chat = True
    mix: str = "v1"
    error_rate: float = 0.4
    search_fraction: float | None = None
    templates: tuple[int, ...] | None = None
    shares: dict | None = None
    noise: dict | None = None
    heldout_flaws: tuple[str, ...] | None = None

    def validate(self) -> None:
        _rate(self, "error_rate")
        check_v2(self)
        need(self.style == "char" or self.mix == "v1", self.recipe, "style", "chat is for mix v1 only", self.style)
        if self.mix == "v1":
            self.search_fraction = 0.3 if self.search_fraction is None else self.search_fraction
            _rate(self, "search_fraction")
        if self.templates is not None:
            self.templates = int_tuple(self.templates, self.recipe, "templates", 0)

    def needs(self) -> tuple[str, ...]:
        return ("flaws",) if self.error_rate > 0 else ()


def pretrain(task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """The base model's diet. ``mix: v1``: problems with unlabeled mixed-quality solutions
    (``error_rate`` of them flawed), ``search_fraction`` of rows as solved Stream-of-Search
    traces (default settings, where the task supports search; a failed search falls back to
    a solution row), and abstention rows (``No solution``) for the unsolvable problems the
    task config generates (``unsolvable_fraction`` > 0). No critiques. Labels as in
    ``noisy`` and ``search``. ``mix: v2``: the web-like mix (``web.web_mix``). ``style:
    chat`` (v1): v1's documents (the same problems and draws) with the task's chat prompts
    (user messages, the template drawn from a stream of its own) and each
    completion rewritten by ``task.chat_of`` (an assistant message: the work, then the
    answer it reaches in ``<answer>`` tags, right or wrong)."""
    o = PretrainOptions.make(options)
    check_args(o.recipe, task, n, seed)
    o.require(task)
    templates = check_templates(task, o.recipe, o.templates, o.style)
    if o.mix == "v2":
        return web_mix(task, n, seed, o, templates)
    rng = recipe_rng(o.recipe, task, seed)
    problems = select_problems(task, n, seed)
    combos = None
    if task.has("search") and o.search_fraction > 0:
        combos = check_search(task, o.recipe, ("dfs", "bfs"), ("sum", "mult"), (1, 2, 3, 4, 5), problems[0])
    # chat: the char stream draws as in v1 (so the documents are v1's), the chat template its own
    char_templates = templates if o.style == "char" else check_templates(task, o.recipe, None)
    chat_rng = recipe_rng("pretrain-chat", task, seed)
    rows = Rows(task, o.style)
    for p in problems:
        template = rng.choice(char_templates)
        if o.style == "chat":
            template = chat_rng.choice(templates)
        prompt = task.prompt(p, template, o.style)
        got = None
        if combos is not None and rng.random() < o.search_fraction and p.solvable:
            got = trace_for(task, p, rng, combos, only_solved=True)
        text, label = got if got is not None else candidate(task, p, rng, o.error_rate)
        rows.add(p, prompt, task.chat_of(p, text) if o.style == "chat" else text, label)
    return rows.dataset()
