"""GRPO-RoC, Resample-on-Correct (METHODS 1.5).

TRL samples ``oversample * G`` rollouts per prompt; :class:`RoCSelector` then builds each
group of ``G``: failures are down-sampled uniformly (diverse negative signal, nothing
filtered), successes are ranked by cleanliness and only the cleanest are kept, so the
positive signal never rewards a sloppy trace that happened to end right. The share of
successes in the group is kept as sampled (rounded).

A success is a completion whose final answer the verifier accepts (``answer_correct``);
its *mess* is ranked lexicographically by (invalid steps, malformed lines, length). The
default reward is therefore ``answer`` (the lenient one): with the strict ``correct``
reward every success is already step-valid and only length separates them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparring.rewards import as_problem, completion_text
from sparring.tasks import get_task

from .config import opt
from .grpo import GRPOOptions, run_grpo
from .registry import register_method

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task

    from .budget import Budget


def mess(task, problem, text: str) -> tuple[int, int, int]:
    """How sloppy a completion is: (invalid steps, not well formed, characters)."""
    v = task.verify(problem, text)
    return (sum(not s.ok for s in v.steps), 0 if v.well_formed else 1, len(text))


class RoCSelector:
    """Pick ``keep`` of each group of sampled rollouts (see the module doc).

    Called by ``SparringGRPOTrainer`` as ``selector(inputs, completions, rewards,
    sampled_group, metrics) -> row indices``; rows of one group stay together, in order.
    """

    def __init__(self, keep: int, seed: int = 0):
        from .distributed import rank_seed

        self.keep = keep
        self.rng = random.Random(rank_seed(seed))  # each rank down-samples its own groups

    def state_dict(self) -> dict:
        from .resume import rng_state

        return {"rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict) -> None:
        from .resume import set_rng_state

        set_rng_state(self.rng, state["rng"])

    def __call__(self, inputs: list[dict], completions: list, rewards, big: int, metrics) -> Any:
        import torch

        keep = self.keep
        if not 1 <= keep < big:
            raise ValueError(f"grpo-roc: keep ({keep}) must be below the sampled group ({big})")
        rows: list[int] = []
        kept_pos = 0
        for start in range(0, len(completions), big):
            problem = as_problem(inputs[start]["problem"])
            task = get_task(problem.task)
            texts = {i: completion_text(completions[i]) for i in range(start, start + big)}
            ok = {i: task.verify(problem, t).answer_correct for i, t in texts.items()}
            pos = [i for i in texts if ok[i]]
            neg = [i for i in texts if not ok[i]]
            # the sampled share of successes, rounded half up, at least one if any succeeded
            k_pos = min(len(pos), max(int(bool(pos)), (2 * keep * len(pos) + big) // (2 * big)))
            k_pos = max(k_pos, keep - len(neg))
            pos.sort(key=lambda i: mess(task, problem, texts[i]))
            chosen = pos[:k_pos] + self.rng.sample(neg, keep - k_pos)
            kept_pos += k_pos
            rows.extend(sorted(chosen))
        metrics["roc/kept_success_frac"].append(kept_pos / max(1, len(rows)))
        return torch.tensor(rows, dtype=torch.long)


@dataclass
class RoCOptions(GRPOOptions):
    rewards: list = opt(["answer"], "Reward functions; 'answer' is lenient, RoC filters the sloppy successes.")
    replay_successes: bool = opt(
        False, "Success replay (see grpo); off: with the lenient 'answer' reward it would replay sloppy successes."
    )
    oversample: int = opt(2, "Sample oversample * num_generations rollouts per prompt, keep num_generations.")
    method_name = "grpo-roc"

    def validate(self) -> None:
        super().validate()
        self.check_int("oversample", lo=2, hi=8)


@register_method("grpo-roc", RoCOptions, resumable=True)
def grpo_roc(base: str, task: Task, cfg: RoCOptions, out: Path, budget: Budget) -> RunCard:
    """GRPO-RoC: oversample 2G, keep failures, keep only the cleanest successes."""
    return run_grpo(
        "grpo-roc",
        base,
        task,
        cfg,
        out,
        budget,
        generations=cfg.oversample * cfg.num_generations,
        selector=RoCSelector(cfg.num_generations, cfg.seed),
    )
