"""Success replay for GRPO: experience replay of verified successes (RLEP / ExGRPO style).

A group whose rollouts all fail carries no signal (its rewards have zero variance, so
every advantage is 0 and DAPO drops it). When the same prompt was solved earlier in the
run, :class:`SuccessReplay` puts that earlier success back into the group in place of
its last rollout, with its reward: the group now has variance, the old success gets a
positive advantage and the fresh failures negative ones. Hard prompts, the ones the
policy solves only now and then, keep teaching after their lucky success instead of
being dropped each time they come round again.

What it is and is not:
- The reward is still the verifier's; nothing from outside the policy's own samples is
  used (no expert demonstrations). A success is a rollout whose total weighted reward is
  at least ``min_reward``; the latest success of each prompt is kept.
- The replayed rollout is slightly off-policy (it was sampled by an earlier policy) and
  is trained on as if on-policy (importance ratio 1), as RLEP does; with
  ``num_iterations > 1`` or a KL term the trainer recomputes those rows' old and
  reference log-probabilities, so clipping and KL see the replayed tokens.
"""

from __future__ import annotations

from typing import Any

import torch

from .distributed import gather


class SuccessReplay:
    """Remembers each prompt's latest success and refills all-failed groups with it.

    Called by ``SparringGRPOTrainer`` as ``replay(keys, rewards, completion_ids,
    completion_mask, group_size, metrics) -> (rewards, completion_ids, completion_mask,
    replaced_rows)``: ``keys`` names each row's prompt (rows of one group are consecutive
    and share it); the tensors are the batch's; ``replaced_rows`` lists the rows whose
    completion now holds a replayed success.
    """

    def __init__(self, min_reward: float = 1.0, max_prompts: int = 1_000_000):
        self.min_reward = float(min_reward)
        self.max_prompts = int(max_prompts)
        self.store: dict[str, tuple[tuple[int, ...], float]] = {}  # prompt -> (token ids, reward)

    def __call__(
        self,
        keys: list[str],
        rewards: torch.Tensor,
        completion_ids: torch.Tensor,
        completion_mask: torch.Tensor,
        group_size: int,
        metrics: Any = None,
    ):
        n = rewards.numel()
        if n % group_size or len(keys) != n:
            raise ValueError(f"success replay: {n} rows do not split into groups of {group_size}")
        good = rewards >= self.min_reward
        fills: list[tuple[int, tuple[tuple[int, ...], float]]] = []
        for start in range(0, n, group_size):
            key = keys[start]
            if not good[start : start + group_size].any() and key in self.store:
                fills.append((start + group_size - 1, self.store[key]))
        # remember this batch's successes (after choosing fills: a group never replays itself),
        # every rank's, in rank order: each rank holds the same store (a prompt may come back
        # on another rank; a checkpoint's store is any rank's)
        mine = [
            (keys[i], tuple(completion_ids[i][completion_mask[i].bool()].tolist()), float(rewards[i]))
            for i in torch.nonzero(good).flatten().tolist()
        ]
        for successes in gather(mine):
            for key, ids, reward in successes:
                if key in self.store or len(self.store) < self.max_prompts:
                    self.store[key] = (tuple(ids), reward)
        if fills:
            width = max(completion_ids.shape[1], max(len(ids) for _, (ids, _) in fills))
            completion_ids = pad_right(completion_ids, width, 0)
            completion_mask = pad_right(completion_mask, width, 0)
            rewards = rewards.clone()
            for row, (ids, reward) in fills:
                completion_ids[row] = 0
                completion_ids[row, : len(ids)] = torch.tensor(ids, dtype=completion_ids.dtype)
                completion_mask[row] = 0
                completion_mask[row, : len(ids)] = 1
                rewards[row] = reward
        if metrics is not None:
            metrics["replay/groups_filled"].append(len(fills) / (n // group_size))
            metrics["replay/prompts_stored"].append(float(len(self.store)))
        return rewards, completion_ids, completion_mask, [row for row, _ in fills]

    def state_dict(self) -> dict[str, Any]:
        """The store as JSON (a resumable checkpoint's part, ``resume.py``), in insertion order."""
        return {"store": [[key, list(ids), reward] for key, (ids, reward) in self.store.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.store = {key: (tuple(ids), float(reward)) for key, ids, reward in state["store"]}


def pad_right(t: torch.Tensor, width: int, value: float) -> torch.Tensor:
    """A copy of the 2-D ``t`` with columns of ``value`` added on the right up to ``width``."""
    if t.shape[1] >= width:
        return t.clone()
    pad = torch.full((t.shape[0], width - t.shape[1]), value, dtype=t.dtype, device=t.device)
    return torch.cat([t, pad], dim=1)
