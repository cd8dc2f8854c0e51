"""The one FLOP count every method's budget uses (docs/flops.md has this rule and a worked
example on the ``test`` preset).

**Model constants.** ``N`` is the number of weights of every matrix multiplication in the
model: every linear layer (attention projections, MLP, the LM head); biases, norms and
embedding look-ups excluded. With tied embeddings the LM head still counts (the look-up is
free, the head is a matmul). ``n_layers`` is the number of attention layers and
``d_attn = num_attention_heads x head_dim`` the width of the queries (with grouped-query attention
the keys and values are narrower, but every query head still multiplies them).

**One forward pass** over a sequence of ``L`` tokens (the tokens its attention mask marks;
padding, and completions a trainer masks out, are not counted):

    F(L) = 2 N L + 2 n_layers d_attn L (L + 1)

``2 N`` per token for the matmuls (a multiply and an add per weight); attention: the token
at position ``t`` (1-based) attends to the ``t`` tokens up to and including itself, and
``Q K^T`` and ``A V`` cost ``2 t d_attn`` each per layer, so
``sum_t 4 t d_attn = 2 d_attn L (L + 1)`` per layer. The LM head counts at every token, also where an
implementation computes only some positions' logits (a prefill's last position, TRL's fused
head over completion tokens): the count depends on token counts alone.

**A training pass** (forward + backward) over ``L`` tokens: ``3 F(L)``: the backward
pass costs twice the forward (the gradients of the activations and of the weights, each as
many FLOPs as the forward; attention's backward likewise twice its forward), so ``6 N``
per token plus three times the attention term.

**Generation** of ``C`` tokens after a ``P``-token prompt (sampling, with a KV cache):
``F(P + C)``: the prompt's prefill is a forward over ``P`` tokens, and each generated token
costs ``2 N`` plus attention over the cache (the prompt and the tokens so far). ``C``
counts every token the sequence ends with (sampled, or appended by a constrained decoder,
up to and including end-of-sequence); rows that finished early and are fed padding while
others decode are not counted.

**What is counted**, while a method trains (from the first training step's start to the
last step's end), on the batches that actually ran: every rollout generated; every
no-gradient forward (GRPO's reference-model log-probs when ``beta != 0``, the old policy's
log-probs when TRL computes them, i.e. ``num_iterations > 1``; success replay's recomputed
log-probs of the replaced rows); every training pass, once per optimisation pass over a
batch; RARO's critic verdicts (fresh, replayed and expert-only prompts), the critic's
log-probs and training pass, and its warm-up (the policy's answer pool, the critic's
sampled verdicts and training passes, the held-out accuracy before and after); self-training's
generation between its SFT rounds (``self-train``, ``critique-loop``: every sampled answer, a
checkpoint critic's critiques and every refinement, counted per returned sequence by
``train/counted.py``; a programmatic or LLM-teacher critic runs no model of ours and adds
nothing); confidence shaping's answer reads (one forward over each truncated context +
answer, kind ``confidence``); self-eval's warm-start SFT (its own training passes, added to
the GRPO phase's). Evaluation
outside training (run.json's ``before`` / ``after``) is not counted. A pipeline's FLOPs
are the sum of its stages'.

**LoRA**: frozen weights get gradients of
their activations but not of their weights, so their backward costs ``2 N`` per token
instead of ``4 N`` (attention's backward is unchanged: ``2x`` its forward); the adapters'
own ``N_lora`` weights count as trainable, so a LoRA training pass over ``L`` tokens is
``2 F(L) + 6 N_lora L``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import torch

TRAIN = 3  # a training pass = forward + backward = 3 forwards


def matmul_weights(model: torch.nn.Module, frozen_only: bool = False) -> int:
    """``N``: the weights of every linear layer (each module counted once, so a tied LM
    head counts although its weight is the embedding's); ``frozen_only``: those without
    gradient (a LoRA adapter's base layers)."""
    from transformers.pytorch_utils import Conv1D  # GPT-2's linear layer

    total = 0
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, Conv1D)) and not (frozen_only and module.weight.requires_grad):
            total += module.weight.numel()
    return total


@dataclass(frozen=True)
class FlopModel:
    """The constants of the rule for one model: ``N``, ``n_layers``, ``d_attn``."""

    matmul_weights: int
    layers: int
    attn_width: int
    frozen_weights: int = 0  # matmul weights without gradient (LoRA's base): no weight-gradient matmul

    @classmethod
    def of(cls, model: torch.nn.Module) -> "FlopModel":
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        heads = int(config.num_attention_heads)
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(
            matmul_weights(model), int(config.num_hidden_layers), heads * int(head_dim), matmul_weights(model, True)
        )

    def forward(self, lengths: Iterable[int]) -> int:
        """``sum F(L)`` over sequences of the given lengths."""
        n, a = self.matmul_weights, self.layers * self.attn_width
        return sum(2 * n * L + 2 * a * L * (L + 1) for L in (int(x) for x in lengths) if L > 0)

    def train(self, lengths: Iterable[int]) -> int:
        """Forward + backward over sequences of the given lengths: ``3 sum F(L)``, less
        ``2 N_frozen L`` when some weights are frozen (LoRA: the backward still computes
        every activation gradient, but no weight gradient of a frozen matrix)."""
        lengths = [int(x) for x in lengths]
        return TRAIN * self.forward(lengths) - 2 * self.frozen_weights * sum(L for L in lengths if L > 0)

    def generate(self, prompt_lengths: Iterable[int], completion_lengths: Iterable[int]) -> int:
        """Sampling ``C`` tokens after a ``P``-token prompt, per sequence: ``F(P + C)``."""
        return self.forward(int(p) + int(c) for p, c in zip(prompt_lengths, completion_lengths, strict=True))


def mask_lengths(*masks: torch.Tensor) -> list[int]:
    """Per row, the tokens the attention masks mark (prompt mask, completion mask, ...)."""
    return [int(x) for x in sum(m.sum(dim=1) for m in masks).tolist()]


def generated_lengths(ids: torch.Tensor, eos_ids: Iterable[int]) -> list[int]:
    """Per row of newly generated ids: the tokens up to and including the first
    end-of-sequence, or all of them when there is none (the row ran to the limit)."""
    eos = torch.isin(ids, torch.tensor(list(eos_ids), device=ids.device))
    full = torch.full((ids.shape[0],), ids.shape[1], dtype=torch.long, device=ids.device)
    return [int(x) for x in torch.where(eos.any(dim=1), eos.int().argmax(dim=1) + 1, full).tolist()]


class FlopLedger:
    """What a run has spent, in total and by kind of pass (``train``, ``rollouts``, ...)."""

    def __init__(self) -> None:
        self.total = 0
        self.parts: dict[str, int] = {}
        self._models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def model(self, model: torch.nn.Module) -> FlopModel:
        """The rule's constants for ``model`` (computed once per model)."""
        if model not in self._models:
            self._models[model] = FlopModel.of(model)
        return self._models[model]

    def add(self, kind: str, flops: int) -> None:
        if flops:
            self.total += int(flops)
            self.parts[kind] = self.parts.get(kind, 0) + int(flops)
