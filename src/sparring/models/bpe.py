"""Byte-level BPE tokenizers trained by ``tokenizers``, in the conventions of two model
families: Qwen2 (ChatML template, every digit its own pre-token) and Llama 3 (its header
template, up to 3 digits per pre-token). Used by the tiny real-architecture fixtures
(``tiny.py``) and by the chat presets, whose tokenizer is trained on their pretraining
corpus (``presets.preset_tokenizer``). Imports nothing else of sparring's.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

TINY_ARCHS = ("qwen2", "llama")
BPE_VOCAB = 512  # tokenizer size the BPE trainer aims at, special tokens included

# the families' pre-tokenizer regexes: Qwen2 splits every digit, Llama 3 groups up to 3
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_SPLITS = {"single": _QWEN2_SPLIT, "triple": _LLAMA3_SPLIT}

QWEN2_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

_SPECIALS = {
    "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "llama": [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    ],
}


def check_arch(arch: str) -> str:
    if arch not in TINY_ARCHS:
        raise ValueError(f"unknown tiny architecture {arch!r}: choose one of {', '.join(TINY_ARCHS)}")
    return arch


def bpe_tokenizer(
    texts: Iterable[str], arch: str = "llama", vocab_size: int = BPE_VOCAB, digits: str | None = None
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained by ``tokenizers`` on ``texts``, with ``arch``'s
    special tokens, chat template and pad/EOS conventions (left padding). ``vocab_size``:
    the size the BPE trainer aims at, special tokens included (fewer when ``texts`` run out
    of merges). ``digits``: "single" (every digit its own pre-token, as Qwen2) or "triple"
    (up to 3 digits, as Llama 3); None: the family's own. Deterministic in its inputs."""
    specials = _SPECIALS[check_arch(arch)]
    if digits is None:
        digits = "single" if arch == "qwen2" else "triple"
    if digits not in _SPLITS:
        raise ValueError(f"digits: must be one of {list(_SPLITS)}, got {digits!r}")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLITS[digits]), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    if arch == "llama":
        bos = backend.token_to_id("<|begin_of_text|>")
        backend.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A <|begin_of_text|> $B",
            special_tokens=[("<|begin_of_text|>", bos)],
        )
        names = dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", pad_token="<|finetune_right_pad_id|>")
        template = LLAMA3_CHAT_TEMPLATE
    else:
        backend.post_processor = processors.ByteLevel(trim_offsets=False)
        names = dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")
        template = QWEN2_CHAT_TEMPLATE
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        padding_side="left",
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
        chat_template=template,
        **names,
    )
    if arch == "qwen2":
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    else:
        tok.add_special_tokens(
            {"additional_special_tokens": ["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"]}
        )
    return tok
