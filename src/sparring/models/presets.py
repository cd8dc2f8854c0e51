"""Tiny Llama presets for training from scratch: char presets (sparring's character
tokenizer) and chat presets (a byte-level BPE tokenizer with a chat template).

Each char preset is a ``transformers.LlamaConfig`` (RMSNorm, RoPE, SwiGLU MLP, no biases,
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

Chat presets (:class:`BPEPreset`) are Llama-3-style models whose tokenizer does not exist
before their corpus does: ``sparring pretrain --style chat`` trains a byte-level BPE
tokenizer (``bpe.bpe_tokenizer``: Llama 3's special tokens and chat template, every digit
its own token) on the pretraining corpus's text, then builds the model for it; so they are
built by :func:`make_model` only with that ``tokenizer`` (``load_model("chat-small")`` is
an error). ``vocab`` is the BPE trainer's target; Countdown's corpus runs out of merges
below it (``zoo:countdown-chat``: see its card).

==========  ======  ======  =====  =====  =====  =============================================
preset      layers  hidden  heads  FFN    vocab  parameters (measured, at the vocab reached)
==========  ======  ======  =====  =====  =====  =============================================
chat-test   2       48      2      96     1024   74,400 (tests only; 585 tokens)
chat-small  4       256     4      1024   2048   4,346,368 (``zoo:countdown-chat``; 585 tokens)
==========  ======  ======  =====  =====  =====  =============================================

Countdown's chat corpus has a few hundred distinct words and single-digit numbers, so the
BPE trainer stops at 585 tokens (256 bytes, 6 special tokens, the merges) for 300 rows as
for 20,480. ``chat-small`` was sized by its measured rate (docs/real-models.md): 1.4-1.5e10
FLOP/s on 2 shared cores, so v1's 3e13 FLOPs take ~35 minutes (the hidden-192 shape ran at
1.2e10, ~42 minutes).
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


@dataclass(frozen=True)
class BPEPreset(Preset):
    """A chat preset: the shape, plus the BPE tokenizer's target vocabulary and digit split."""

    vocab: int = 2048
    digits: str = "single"
    rope_theta: float = 10_000.0


PRESETS: dict[str, Preset] = {
    "test": Preset(num_hidden_layers=2, hidden_size=48, num_attention_heads=2, intermediate_size=96),
    "tiny": Preset(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, intermediate_size=512),
    "small": Preset(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "chat-test": BPEPreset(
        num_hidden_layers=2, hidden_size=48, num_attention_heads=2, intermediate_size=96, vocab=1024
    ),
    "chat-small": BPEPreset(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
}
CHAR_PRESETS = tuple(k for k, v in PRESETS.items() if not isinstance(v, BPEPreset))
CHAT_PRESETS = tuple(k for k, v in PRESETS.items() if isinstance(v, BPEPreset))


def is_chat_preset(name: object) -> bool:
    """Whether ``name`` is a chat preset (a BPE tokenizer trained on its corpus)."""
    return isinstance(name, str) and isinstance(PRESETS.get(name), BPEPreset)


def _check_preset(preset: str) -> Preset:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: presets are {', '.join(sorted(PRESETS))}")
    return PRESETS[preset]


def preset_config(preset: str, tokenizer: PreTrainedTokenizerFast | None = None) -> LlamaConfig:
    """The ``LlamaConfig`` of ``preset``, with special-token ids taken from ``tokenizer``
    (the character tokenizer when omitted; a chat preset needs its BPE tokenizer)."""
    p = _check_preset(preset)
    tok = tokenizer if tokenizer is not None else char_tokenizer()
    if isinstance(p, BPEPreset):
        if tokenizer is None:
            raise ValueError(
                f"preset {preset!r} is a chat preset: its byte-level BPE tokenizer is trained on its "
                "pretraining corpus, so only `sparring pretrain --style chat --preset "
                f"{preset}` builds it (or load a checkpoint it wrote, such as zoo:countdown-chat)"
            )
        # a chat model ends at the end of its turn or at the end of the text
        extra = {
            "rope_theta": p.rope_theta,
            "eos_token_id": [tok.convert_tokens_to_ids("<|end_of_text|>"), tok.eos_token_id],
        }
    else:
        extra = {"eos_token_id": tok.eos_token_id}
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
        dtype="float32",
        **extra,
    )


def make_model(
    preset: str, seed: int = 0, tokenizer: PreTrainedTokenizerFast | None = None
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A freshly initialised float32 CPU model of ``preset`` and its tokenizer: the
    character tokenizer, or for a chat preset ``tokenizer`` (its BPE tokenizer, required).

    The weights depend only on ``preset`` and ``seed``: initialisation runs under a
    forked torch RNG seeded with ``seed``, so the caller's global RNG state is left
    untouched. The model is returned in eval mode (trainers switch it to train mode).
    ``config`` and ``generation_config`` carry the tokenizer's pad/bos/eos ids.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    tok = tokenizer if is_chat_preset(preset) and tokenizer is not None else char_tokenizer()
    config = preset_config(preset, tokenizer if is_chat_preset(preset) else None)  # a chat preset needs its own
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    gc = model.generation_config
    gc.pad_token_id, gc.bos_token_id, gc.eos_token_id = (
        tok.pad_token_id,
        tok.bos_token_id,
        config.eos_token_id,  # a chat preset: end of turn and end of text
    )
    model.eval()
    return model, tok


def preset_tokenizer(preset: str, texts) -> PreTrainedTokenizerFast:
    """The BPE tokenizer of chat preset ``preset`` trained on ``texts`` (its corpus)."""
    from .bpe import bpe_tokenizer

    p = _check_preset(preset)
    if not isinstance(p, BPEPreset):
        raise ValueError(f"preset {preset!r} is a char preset: it has the character tokenizer, not a BPE one")
    return bpe_tokenizer(texts, "llama", p.vocab, p.digits)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (shared/tied tensors counted once)."""
    return sum(p.numel() for p in model.parameters())
