"""What the RARO critic is trained on (the option ``critic_objective``): a registry of
small objectives.

The critic's verdict is one constrained token: after its sampled reasoning and the forced
``Verdict: ``, the label is drawn from the model's next-token distribution restricted to
the labels' first tokens, ``p = softmax(z / T)`` over the labels' logits ``z``. The game
gives every label its reward ``R(label)`` (``game.Game.rewards``), so:

- ``sampled`` (the paper's): GRPO on the sampled rollout with the sampled label's reward:
  the label token's loss term is ``-A * log p(label)``, ``A`` the row's advantage.
- ``expected``: the label token's term is the exact expected reward
  ``E[R] = sum_l p_l R(l)``, maximised directly. Its gradient
  ``dE/dz_l = p_l (R(l) - E[R]) / T`` (:func:`expected_reward_grad`) is the expectation,
  over the label, of the sampled term's gradient ``(R(l) - b) d log p_l`` (any baseline
  ``b``: ``sum_l d p_l = 0``), so it is there whenever the labels' rewards differ, even
  when every sampled verdict of a group agrees (a group GRPO learns nothing from). The
  sampled reasoning tokens stay on GRPO, with the row's ``E[R]`` as their reward (the
  label averaged out exactly). It does not by itself stop the critic settling on one
  label (the one that pays most on average): ``raro/majority_label_share`` shows that.

The exact term enters the loss with the weight TRL's aggregation (``loss_type``) gives one
completion token of its row (:data:`LABEL_TOKEN_WEIGHTS`), so both objectives put the
label token on the same scale as the reasoning tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

    from .game import Game, Judgement
    from .sampling import CriticRollout

RowReward = Callable[["CriticRollout", "Judgement", "Game"], float]


@dataclass(frozen=True)
class CriticObjective:
    """``row_reward``: the reward a critic rollout's GRPO advantage is computed from;
    ``exact_label``: the label token is trained on the exact expected reward instead of
    GRPO's sampled term (it needs constrained decoding: the label's position is known)."""

    name: str
    row_reward: RowReward
    exact_label: bool


CRITIC_OBJECTIVES: dict[str, CriticObjective] = {}


def register_critic_objective(name: str, *, exact_label: bool = False) -> Callable[[RowReward], RowReward]:
    def deco(fn: RowReward) -> RowReward:
        CRITIC_OBJECTIVES[name] = CriticObjective(name, fn, exact_label)
        return fn

    return deco


def get_critic_objective(name: str) -> CriticObjective:
    if name not in CRITIC_OBJECTIVES:
        raise ValueError(f"critic_objective: unknown {name!r}; available: {sorted(CRITIC_OBJECTIVES)}")
    return CRITIC_OBJECTIVES[name]


@register_critic_objective("sampled")
def sampled_reward(rollout: CriticRollout, judgement: Judgement, game: Game) -> float:
    """R(the sampled verdict); unparseable: 0."""
    return game.rewards(rollout.verdict, judgement)[0]


@register_critic_objective("expected", exact_label=True)
def expected_row_reward(rollout: CriticRollout, judgement: Judgement, game: Game) -> float:
    """E[R] under the label distribution the verdict was sampled from."""
    return sum(p * game.rewards(label, judgement)[0] for label, p in rollout.label_probs.items())


def critic_rewards(objective: CriticObjective, rows: list[CriticRollout], keys: list[Judgement], game: Game):
    """The critic rows' rewards under ``objective`` (a tensor); NaN for truncated rows
    (outside their group's statistics, advantage 0)."""
    import torch

    rewards = torch.tensor([objective.row_reward(r, j, game) for r, j in zip(rows, keys)], dtype=torch.float32)
    rewards[torch.tensor([r.truncated for r in rows], dtype=torch.bool)] = float("nan")
    return rewards


# ---- the exact expectation ---------------------------------------------------------------
def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    import torch

    return x.to(torch.promote_types(x.dtype, torch.float32))


def expected_reward(label_logits: torch.Tensor, rewards: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``E[R] = sum_l softmax(z / T)_l R_l`` per row (``label_logits``, ``rewards``: rows x labels)."""
    import torch

    return (torch.softmax(_at_least_float32(label_logits) / temperature, dim=-1) * rewards).sum(-1)


def expected_reward_grad(label_logits: torch.Tensor, rewards: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The closed form of ``d E[R] / d z``: ``p_l (R_l - E[R]) / T`` (rows x labels)."""
    import torch

    p = torch.softmax(_at_least_float32(label_logits) / temperature, dim=-1)
    return p * (rewards - (p * rewards).sum(-1, keepdim=True)) / temperature


# ---- the weight of one completion token in TRL's loss aggregation ------------------------
# fn(mask: rows x tokens, max_completion_length, num_items_in_batch, processes) -> weight per row,
# as TRL 1.16's GRPOTrainer._compute_loss divides a token's loss (one optimizer step per batch).
TokenWeight = Callable[["torch.Tensor", int, "torch.Tensor", int], "torch.Tensor"]
LABEL_TOKEN_WEIGHTS: dict[str, TokenWeight] = {
    "grpo": lambda mask, max_len, items, procs: 1.0 / (mask.size(0) * mask.sum(-1).clamp(min=1.0)),
    "dr_grpo": lambda mask, max_len, items, procs: mask.new_full((mask.size(0),), 1.0 / (mask.size(0) * max_len)),
    "dapo": lambda mask, max_len, items, procs: mask.new_full((mask.size(0),), procs / float(items.clamp(min=1.0))),
    "bnpo": lambda mask, max_len, items, procs: mask.new_full((mask.size(0),), 1.0 / float(mask.sum().clamp(min=1.0))),
}


def label_token_weights(loss_type: str, mask, max_len: int, items, procs: int):
    if loss_type not in LABEL_TOKEN_WEIGHTS:
        raise ValueError(f"critic_objective: no label-token weight for TRL loss_type {loss_type!r}")
    return LABEL_TOKEN_WEIGHTS[loss_type](mask.float(), max_len, items, procs)
