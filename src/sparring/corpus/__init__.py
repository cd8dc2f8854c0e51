"""Dataset recipes: tasks -> ``datasets.Dataset`` in TRL's prompt/completion format.

    from sparring.tasks import get_task
    from sparring.corpus import build, card, save
    task = get_task("countdown")
    ds = build("critique", task, n=2000, seed=0, flaw_rate=0.5)
    save(ds, "runs/data/cft", card(ds, "critique", task, 2000, 0, {"flaw_rate": 0.5}))

Every recipe is ``(task, n, seed=0, **options) -> Dataset`` with string columns
``prompt``, ``completion`` (no EOS: the trainer appends it), and metadata ``problem_id``,
``task``, ``level``, ``label`` (what the row is, for analysis: ``gold``, ``abstain``,
``flawed:<kind>``, ``critique:right``, ``search:dfs-sum-3``, ``perturbed:<kind>``...) and
``problem`` (``json.dumps(problem.to_dict())``; rebuild with
``sparring.tasks.load_problem(json.loads(row["problem"]))``). Problems come from the
task's train split only, and every recipe runs ``check_no_heldout`` before returning.

Recipes (options and defaults in each ``*Options`` dataclass; see ``OPTIONS``):
imitation, noisy, verified, critique, one_shot_critique, search, perturbed, pretrain, and the
probe controls of ``controls.py`` (pushback, stated_answer, paraphrase, abstention,
critique_mix; docs/probes.md). The CFT recipes can ask LLM teachers over OpenAI-compatible
endpoints (``teacher``, ``teacher_critique``; docs/teachers.md).
"""

from __future__ import annotations

from typing import Callable

from datasets import Dataset

from ..tasks.base import Task
from .card import card, content_hash, fingerprint, is_dataset_path, load, save
from .common import COLUMNS, Options, check_no_heldout, select_problems
from .controls import (
    AbstentionOptions,
    CritiqueMixOptions,
    ParaphraseOptions,
    PushbackOptions,
    StatedAnswerOptions,
    abstention,
    critique_mix,
    paraphrase,
    pushback,
    stated,
)
from .critique import CritiqueOptions, OneShotOptions, critique, critique_question, one_shot_critique
from .critique_format import (
    CRITIQUE_INSTRUCTION,
    PHRASINGS,
    critique_prompt,
    parse_critique,
    programmatic_critique,
)
from .perturbed import KINDS as PERTURB_KINDS
from .perturbed import PerturbedOptions, perturbed
from .recipes import (
    ImitationOptions,
    NoisyOptions,
    PretrainOptions,
    VerifiedOptions,
    imitation,
    noisy,
    pretrain,
    verified,
)
from .search import SearchOptions, search
from .teacher import Endpoint, TeacherPool
from .teacher_critique import critique_messages, teacher_card

RECIPES: dict[str, Callable[..., Dataset]] = {
    "imitation": imitation,
    "noisy": noisy,
    "verified": verified,
    "critique": critique,
    "one_shot_critique": one_shot_critique,
    "search": search,
    "perturbed": perturbed,
    "pretrain": pretrain,
    "pushback": pushback,
    "stated_answer": stated,
    "paraphrase": paraphrase,
    "abstention": abstention,
    "critique_mix": critique_mix,
}

OPTIONS: dict[str, type[Options]] = {
    "imitation": ImitationOptions,
    "noisy": NoisyOptions,
    "verified": VerifiedOptions,
    "critique": CritiqueOptions,
    "one_shot_critique": OneShotOptions,
    "search": SearchOptions,
    "perturbed": PerturbedOptions,
    "pretrain": PretrainOptions,
    "pushback": PushbackOptions,
    "stated_answer": StatedAnswerOptions,
    "paraphrase": ParaphraseOptions,
    "abstention": AbstentionOptions,
    "critique_mix": CritiqueMixOptions,
}


def recipe_needs(recipe_name: str, options: dict | None = None) -> tuple[str, ...]:
    """The task capabilities recipe ``recipe_name`` needs with ``options`` (checked in full)."""
    if recipe_name not in OPTIONS:
        raise ValueError(f"recipe: unknown recipe {recipe_name!r}; known: {sorted(RECIPES)}")
    return OPTIONS[recipe_name].make(dict(options or {})).needs()


def build(recipe_name: str, task: Task, n: int, seed: int = 0, **options) -> Dataset:
    """Run a registered recipe; ``ValueError`` for an unknown recipe (listing the known ones),
    an unknown option (listing the allowed ones) or a bad value (naming the field)."""
    if recipe_name not in RECIPES:
        raise ValueError(f"recipe: unknown recipe {recipe_name!r}; known: {sorted(RECIPES)}")
    return RECIPES[recipe_name](task, n, seed, **options)


__all__ = [
    "COLUMNS",
    "Endpoint",
    "TeacherPool",
    "CRITIQUE_INSTRUCTION",
    "OPTIONS",
    "PERTURB_KINDS",
    "PHRASINGS",
    "RECIPES",
    "build",
    "card",
    "check_no_heldout",
    "content_hash",
    "critique",
    "critique_messages",
    "critique_prompt",
    "critique_question",
    "fingerprint",
    "is_dataset_path",
    "imitation",
    "load",
    "noisy",
    "one_shot_critique",
    "parse_critique",
    "perturbed",
    "pretrain",
    "programmatic_critique",
    "recipe_needs",
    "save",
    "search",
    "select_problems",
    "teacher_card",
    "verified",
]
