"""Registered advantage functions and GRPO loss variants (METHODS 1.4).

An *advantage function* has one signature::

    fn(rewards: Tensor[N], group_size: int) -> Tensor[N]

where ``rewards`` holds ``N / group_size`` consecutive groups (one prompt's completions
each). A NaN reward is an unscorable row (RARO's truncated answers): it is left out of its
group's (and the batch's) statistics and its advantage is 0. A *loss variant* has one signature::

    fn() -> LossSpec

naming TRL's loss aggregation (``loss_type``), the advantage function, whether
zero-variance groups are dropped by default, and any other ``GRPOConfig`` fields.
Register new ones with the decorators; nothing dispatches on names with if/elif.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # torch is imported where the functions run, so configs stay light
    import torch

EPS = 1e-4  # TRL's epsilon in the std normalisation

AdvantageFn = Callable[["torch.Tensor", int], "torch.Tensor"]
ADVANTAGES: dict[str, AdvantageFn] = {}


def register_advantage(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    def deco(fn: AdvantageFn) -> AdvantageFn:
        ADVANTAGES[name] = fn
        return fn

    return deco


def _grouped(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    if group_size < 1 or rewards.numel() % group_size:
        raise ValueError(f"advantage: {rewards.numel()} rewards do not split into groups of {group_size}")
    return rewards.view(-1, group_size)


def _mean_std(x: torch.Tensor, dim: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) std over ``dim`` (None: all) of the scorable (non-NaN) entries;
    0 where there are none (std: fewer than two)."""
    import torch

    ok = ~torch.isnan(x)
    n = ok.sum(dim=dim, keepdim=dim is not None)
    v = torch.where(ok, x, 0.0)
    mean = v.sum(dim=dim, keepdim=dim is not None) / n.clamp(min=1)
    sq = torch.where(ok, (x - mean) ** 2, 0.0).sum(dim=dim, keepdim=dim is not None)
    return mean, (sq / (n - 1).clamp(min=1)).sqrt() * (n > 1)


def _scorable_only(adv: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.where(torch.isnan(g), 0.0, adv).reshape(-1)


@register_advantage("group")
def group_normalised(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """GRPO: (r - group mean) / (group std + eps)."""
    import torch

    g = _grouped(rewards, group_size)
    if torch.isnan(g).any():
        mean, std = _mean_std(g, 1)
        return _scorable_only((g - mean) / (std + EPS), g)
    std = g.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(g[:, :1])
    return ((g - g.mean(dim=1, keepdim=True)) / (std + EPS)).reshape(-1)


@register_advantage("mean")
def mean_centred(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Dr.GRPO: r - group mean (no std scaling: no question-difficulty bias)."""
    import torch

    g = _grouped(rewards, group_size)
    if torch.isnan(g).any():
        return _scorable_only(g - _mean_std(g, 1)[0], g)
    return (g - g.mean(dim=1, keepdim=True)).reshape(-1)


@register_advantage("batch")
def batch_normalised(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """(r - group mean) / (batch std + eps) (the 'PPO Lite' scaling)."""
    import torch

    g = _grouped(rewards, group_size)
    if torch.isnan(g).any():
        return _scorable_only((g - _mean_std(g, 1)[0]) / (_mean_std(g, None)[1] + EPS), g)
    std = rewards.std() if rewards.numel() > 1 else torch.zeros(())
    return ((g - g.mean(dim=1, keepdim=True)) / (std + EPS)).reshape(-1)


def group_std(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Per-row standard deviation of its group's scorable rewards (for dropping
    zero-variance groups)."""
    import torch

    g = _grouped(rewards, group_size)
    if torch.isnan(g).any():
        return _mean_std(g, 1)[1].expand_as(g).reshape(-1)
    std = g.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(g[:, :1])
    return std.expand_as(g).reshape(-1)


def get_advantage(name: str) -> AdvantageFn:
    if name not in ADVANTAGES:
        raise ValueError(f"advantage: unknown advantage {name!r}; available: {sorted(ADVANTAGES)}")
    return ADVANTAGES[name]


@dataclass(frozen=True)
class LossSpec:
    loss_type: str  # TRL GRPOConfig.loss_type (how per-token losses are aggregated)
    advantage: str
    drop_zero_variance: bool
    trl: dict[str, Any] = field(default_factory=dict)  # further GRPOConfig fields


LossFn = Callable[[], LossSpec]
LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def deco(fn: LossFn) -> LossFn:
        LOSSES[name] = fn
        return fn

    return deco


@register_loss("grpo")
def _grpo() -> LossSpec:
    """Per-sequence length normalisation, group-std advantages, keeps every group."""
    return LossSpec("grpo", "group", False)


@register_loss("dr_grpo")
def _dr_grpo() -> LossSpec:
    """Dr.GRPO: no std scaling, constant (max completion length) normaliser."""
    return LossSpec("dr_grpo", "mean", False)


@register_loss("dapo")
def _dapo() -> LossSpec:
    """DAPO: token-level normalisation, clip-higher (0.28), dynamic sampling (drop
    zero-variance groups)."""
    return LossSpec("dapo", "group", True, {"epsilon_high": 0.28})


def get_loss(name: str) -> LossSpec:
    if name not in LOSSES:
        raise ValueError(f"loss: unknown loss variant {name!r}; available: {sorted(LOSSES)}")
    return LOSSES[name]()
