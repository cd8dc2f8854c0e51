"""The TRL trainer subclasses sparring runs (imported only when training starts).

- :class:`SparringSFTTrainer`: ``trl.SFTTrainer`` with a budget-following schedule.
- :class:`SparringGRPOTrainer`: ``trl.GRPOTrainer`` that, after TRL has generated and
  scored a batch, lets a *selector* re-pick the rollouts (GRPO-RoC), recomputes the
  advantages with a registered advantage function (``variants.py``) and may drop groups
  whose rewards all agree (DAPO dynamic sampling, which TRL 1.16 does not do: it only
  logs ``frac_reward_zero_std``). Generation, log-probs, clipping, KL and the loss
  aggregation (``loss_type``) stay TRL's. Single-process only (one CPU or one GPU).
"""
from __future__ import annotations

import warnings
from typing import Any

import torch
from trl import GRPOTrainer, SFTTrainer

from .callbacks import BudgetScheduleMixin
from .variants import get_advantage, group_std

# TRL 1.16 still calls the transformers-5 deprecated name on every step; the setting itself
# is right (activation checkpointing off on CPU, see sparring.models.trl_args_overrides).
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")

_ROW_KEYS = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages",
             "old_per_token_logps", "ref_per_token_logps", "sampling_per_token_logps", "tool_mask")


class SparringSFTTrainer(BudgetScheduleMixin, SFTTrainer):
    """TRL's SFTTrainer with a budget-following schedule and length-bucketed batches."""

    bucket_by_length: bool = False

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if not self.bucket_by_length or "input_ids" not in getattr(ds, "column_names", []):
            return super()._get_train_sampler(train_dataset)
        from .data import BucketBatchSampler

        lengths = [len(x) for x in ds["input_ids"]]
        step_rows = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps
        return BucketBatchSampler(lengths, step_rows, seed=self.args.seed)  # split into passes in order


class SparringGRPOTrainer(BudgetScheduleMixin, GRPOTrainer):
    """GRPOTrainer with a rollout selector, registered advantages, zero-variance dropping."""

    def __init__(self, *args, advantage: str = "group", drop_zero_variance: bool = False,
                 min_group_std: float = 1e-6, selector: Any = None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.accelerator.num_processes != 1:
            raise ValueError("sparring's GRPO trainer runs in one process (one CPU or one GPU)")
        self.advantage_fn = get_advantage(advantage)
        self.drop_zero_variance = drop_zero_variance
        self.min_group_std = min_group_std
        self.selector = selector
        self._scored: dict[str, Any] = {}

    @property
    def group_size(self) -> int:
        """Rollouts per prompt the advantages are computed over (a selector may keep fewer)."""
        return self.selector.keep if self.selector is not None else self.num_generations

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._scored = {"inputs": inputs, "completions": completions, "rewards_per_func": rewards_per_func}
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        if not self.model.training or "rewards_per_func" not in self._scored:
            return out
        rpf = self._scored.pop("rewards_per_func")
        rewards = (rpf * self.reward_weights.to(rpf.device).unsqueeze(0)).nansum(dim=1)
        if self.selector is not None:
            rows = self.selector(self._scored["inputs"], self._scored["completions"], rewards,
                                 self.num_generations, self._metrics["train"])
        else:
            rows = torch.arange(rewards.numel())
        rows = rows.to(rewards.device)
        rewards = rewards[rows]
        adv = self.advantage_fn(rewards, self.group_size)
        if self.drop_zero_variance:
            live = group_std(rewards, self.group_size) > self.min_group_std
            self._metrics["train"]["frac_groups_dropped"].append(1.0 - live.float().mean().item())
            if live.any():
                rows, adv = rows[live], adv[live]
            else:  # nothing to learn from: keep the batch with zero advantages (no update)
                adv = torch.zeros_like(adv)
        out = {k: (v[rows.to(v.device)] if k in _ROW_KEYS and isinstance(v, torch.Tensor) else v)
               for k, v in out.items()}
        out["advantages"] = adv.to(out["completion_ids"].device)
        mask = out["completion_mask"] if out.get("tool_mask") is None else out["completion_mask"] * out["tool_mask"]
        out["num_items_in_batch"] = mask.sum()
        return out
