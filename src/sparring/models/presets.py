"""Tiny Llama presets for training from scratch with the character tokenizer.

Each preset is a ``transformers.LlamaConfig`` (RMSNorm, RoPE, SwiGLU MLP, no biases,
no grouped-query attention, tied input/output embeddings) with ``vocab_size`` equal to
the character tokenizer's 100 tokens and ``max_position_embeddings`` 1024, built as a
randomly initialised ``LlamaForCausalLM``.

Measured parameter counts (tied embeddings counted once):

=======  ======  ======  =====  =====  ==========
preset   layers  hidden  heads  FFN    parameters
=======  ======  ======  =====  =====  ==========
test     2       48      2      96     51,120
tiny     4       128     4      512    1,062,528
small    4       256     4      1024   4,222,208
=======  ======  ======  =====  =====  ==========

``test`` exists only to make unit tests fast; ``tiny`` is the model measured in
FEASIBILITY.md (the best accuracy per CPU-second on Countdown); ``small`` is 3.3x more
expensive per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .tokenizer import char_tokenizer


@dataclass(frozen=True)
class Preset:
    """Shape of one preset; turned into a ``LlamaConfig`` by :func:`preset_config`."""

    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int = 1024


PRESETS: dict[str, Preset] = {
    "test": Preset(num_hidden_layers=2, hidden_size=48, num_attention_heads=2, intermediate_size=96),
    "tiny": Preset(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, intermediate_size=512),
    "small": Preset(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
}


def _check_preset(preset: str) -> Preset:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: presets are {', '.join(sorted(PRESETS))}")
    return PRESETS[preset]


def preset_config(preset: str, tokenizer: PreTrainedTokenizerFast | None = None) -> LlamaConfig:
    """The ``LlamaConfig`` of ``preset``, with special-token ids taken from ``tokenizer``
    (the character tokenizer when omitted)."""
    p = _check_preset(preset)
    tok = tokenizer if tokenizer is not None else char_tokenizer()
    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=p.hidden_size,
        intermediate_size=p.intermediate_size,
        num_hidden_layers=p.num_hidden_layers,
        num_attention_heads=p.num_attention_heads,
        num_key_value_heads=p.num_attention_heads,
        max_position_embeddings=p.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        dtype="float32",
    )


def make_model(preset: str, seed: int = 0) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A freshly initialised float32 CPU model of ``preset`` and the character tokenizer.

    The weights depend only on ``preset`` and ``seed``: initialisation runs under a
    forked torch RNG seeded with ``seed``, so the caller's global RNG state is left
    untouched. The model is returned in eval mode (trainers switch it to train mode).
    ``config`` and ``generation_config`` carry the tokenizer's pad/bos/eos ids.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    tok = char_tokenizer()
    config = preset_config(preset, tok)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    gc = model.generation_config
    gc.pad_token_id, gc.bos_token_id, gc.eos_token_id = (
        tok.pad_token_id,
        tok.bos_token_id,
        tok.eos_token_id,
    )
    model.eval()
    return model, tok


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (shared/tied tensors counted once)."""
    return sum(p.numel() for p in model.parameters())
