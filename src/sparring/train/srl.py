"""Supervision-RL, step-wise (METHODS 1.8).

Each expert solution (a recipe's completion) of ``k`` steps becomes ``k`` instances: the
prompt is the problem plus expert steps ``1..i-1``, the target is step ``i`` (column
``next_step``). Rollouts stop at the end of a line (newline is added to the end-of-sequence
ids during training, and removed again before saving), and the reward is the
``difflib.SequenceMatcher`` ratio of the emitted line to the expert step
(``sparring.rewards.step_similarity_reward``). Optimised with GRPO on TRL, dropping groups
whose rewards all (nearly) agree. The published variant lets the model think before the
step; a character-level model trained from scratch has no thinking format, so the step
is the whole completion here. Follow with ``grpo`` in a ``pipeline`` for SRL -> RLVR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import opt
from .grpo import GRPOOptions, run_grpo
from .registry import register_method

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task

    from .budget import Budget


def step_instances(ds, max_steps: int = 64):
    """Expand prompt/completion rows into (prompt + steps before, next step) rows."""

    def fn(batch):
        out: dict[str, list] = {"prompt": [], "next_step": [], "problem": [], "step_index": []}
        for prompt, completion, problem in zip(batch["prompt"], batch["completion"], batch["problem"]):
            steps = [s.strip() for s in completion.split("\n") if s.strip()][:max_steps]
            for i, step in enumerate(steps):
                prefix = "".join(s + "\n" for s in steps[:i])
                out["prompt"].append(prompt + prefix)
                out["next_step"].append(step)
                out["problem"].append(problem)
                out["step_index"].append(i)
        return out

    return ds.map(
        fn, batched=True, remove_columns=ds.column_names, load_from_cache_file=False, desc="step-wise instances"
    )


@dataclass
class SRLOptions(GRPOOptions):
    recipe: str = opt("imitation", "Recipe (or dataset dir) of expert solutions to split into steps.")
    n: int = opt(4000, "Expert solutions to split (each gives one instance per step).")
    rewards: list = opt(["step_similarity"], "Reward functions; step_similarity is the SRL reward.")
    min_group_std: float = opt(0.01, "Groups whose similarity std is <= this are dropped (~zero variance).")
    max_completion_length: int = opt(24, "Generation limit per step, in tokens.")
    replay_successes: bool = opt(
        False, "Success replay (see grpo); off: SRL's reward is a similarity, not a verified success."
    )
    method_name = "srl"


def _stop_at_newline(model, tok):
    """Add the newline id to the end-of-sequence ids for training; return the undo."""
    gc = model.generation_config
    old = gc.eos_token_id
    nl = tok.convert_tokens_to_ids("\n")
    ids = list(old) if isinstance(old, (list, tuple)) else ([old] if old is not None else [])
    gc.eos_token_id = [*ids, nl] if nl not in ids else ids

    def restore(m):
        m.generation_config.eos_token_id = old

    return restore


@register_method("srl", SRLOptions, resumable=True)
def srl(base: str, t: Task, cfg: SRLOptions, out: Path, budget: Budget) -> RunCard:
    """SRL: GRPO on the next expert step with a difflib similarity reward."""
    from sparring.corpus import fingerprint

    from .data import config_dataset

    if cfg.style == "chat":
        raise ValueError(
            "srl.style: srl has no chat style yet (its instances continue the char prompt with the "
            "expert's earlier step lines); use style char"
        )
    ds, card = config_dataset(cfg, t, columns=("prompt", "completion", "problem"), what="srl")
    steps = step_instances(ds.select_columns(["prompt", "completion", "problem"]))
    card = {**card, "step_rows": len(steps), "step_hash": fingerprint(steps, ("prompt", "next_step"))}
    return run_grpo("srl", base, t, cfg, out, budget, dataset=steps, data_card=card, prepare_model=_stop_at_newline)
