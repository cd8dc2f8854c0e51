"""Critic rollouts as tensors: TRL's batch layout (prompts left-padded, completions
right-padded) and the logits the constrained label was drawn from."""

from __future__ import annotations

import torch

from .sampling import CriticRollout, _last_only


def pad_left(rows: list[list[int]], width: int, value: int) -> torch.Tensor:
    return torch.tensor([[value] * (width - len(r)) + r for r in rows], dtype=torch.long)


def pad_right(rows: list[list[int]], width: int, value: int) -> torch.Tensor:
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def critic_tensors(rows: list[CriticRollout], pad: int, dev) -> dict[str, torch.Tensor]:
    """``prompt_ids``/``prompt_mask`` (left-padded), ``completion_ids``/``completion_mask``
    (right-padded; a truncated rollout's mask is 0) and ``tool_mask`` (the rollout's loss
    mask: 0 on the tokens the constrained decoder appended)."""
    P = max(len(r.prompt_ids) for r in rows)
    C = max(len(r.completion_ids) for r in rows)
    return {
        "prompt_ids": pad_left([r.prompt_ids for r in rows], P, pad).to(dev),
        "prompt_mask": pad_left([[1] * len(r.prompt_ids) for r in rows], P, 0).to(dev),
        "completion_ids": pad_right([r.completion_ids for r in rows], C, pad).to(dev),
        "completion_mask": pad_right([[0 if r.truncated else 1] * len(r.completion_ids) for r in rows], C, 0).to(dev),
        "tool_mask": pad_right([r.loss_mask for r in rows], C, 0).to(dev),
    }


def label_index(r: CriticRollout) -> int:
    """Where in a constrained rollout's completion the label's first token is: its last
    sampled token (the reasoning and the label's first token are the sampled ones)."""
    return max(i for i, m in enumerate(r.loss_mask) if m)


def label_logits(model, t: dict[str, torch.Tensor], rows: list[CriticRollout], first_ids: torch.Tensor):
    """Rows x labels: the logits of the labels' first tokens at the position each row's
    label was sampled from (after its own reasoning and the forced ``Verdict: ``), with
    gradient. Only those positions go through the LM head where the model allows it."""
    ids = torch.cat([t["prompt_ids"], t["completion_ids"]], 1)
    mask = torch.cat([t["prompt_mask"], t["completion_mask"]], 1)
    P = t["prompt_ids"].size(1)
    at = torch.tensor([P + label_index(r) - 1 for r in rows], device=ids.device)
    first = first_ids.to(ids.device)
    rows_ix = torch.arange(len(rows), device=ids.device)
    if _last_only(model):  # the forward takes logits_to_keep
        keep, where = torch.unique(at, return_inverse=True)
        logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
        return logits[rows_ix, where][:, first]
    return model(input_ids=ids, attention_mask=mask).logits[rows_ix, at][:, first]
