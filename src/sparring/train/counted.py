"""The shared generator with its FLOPs counted into a budget: for methods that generate
outside a TRL trainer (self-training's samples, critiques and refinements).

:class:`CountingResponder` is :class:`sparring.models.HFResponder` (the one batched
generator: left padding, KV cache, length buckets, seeded sampling) that, after each
``model.generate`` batch, counts ``F(P + C)`` per returned sequence into a
:class:`~sparring.train.flops.FlopLedger` under its ``kind``, by the rule of ``flops.py``:
``P`` the prompt's tokens (its attention mask), ``C`` the generated tokens up to and
including the first end-of-sequence (or padding, which a row that stopped at a stop
string is fed), every token when the row ran to the limit. ``tokens`` adds up ``P + C``.
Identical requests are not cached (``cache=False``): the model changes between rounds.
"""

from __future__ import annotations

from typing import Any

import torch

from sparring.models import HFResponder

from .flops import FlopLedger, generated_lengths


class CountingResponder(HFResponder):
    """HFResponder counting what it generates (see the module doc)."""

    def __init__(self, model: Any, tokenizer: Any, ledger: FlopLedger, kind: str, **kwargs: Any):
        super().__init__(model, tokenizer, cache=False, **kwargs)
        self.ledger, self.kind, self.tokens = ledger, kind, 0

    def _generate(self, ids: torch.Tensor, mask: torch.Tensor, gc, extra: dict) -> torch.Tensor:
        gen = super()._generate(ids, mask, gc, extra)
        expand = int(gc.num_return_sequences or 1)
        prompts = mask.sum(dim=1).repeat_interleave(expand).tolist()
        made = generated_lengths(gen[:, ids.shape[1] :], [*self.eos_ids, self.pad_id])
        lengths = [int(p) + int(c) for p, c in zip(prompts, made, strict=True)]
        self.ledger.add(self.kind, self.ledger.model(self.model).forward(lengths))
        self.tokens += sum(lengths)
        return gen
