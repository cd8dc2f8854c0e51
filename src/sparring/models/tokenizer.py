"""A character-level tokenizer saved as a real Hugging Face tokenizer.

What it is: a ``tokenizers`` ``WordLevel`` model over a fixed vocabulary of 100 tokens,
with a pre-tokenizer that isolates every character, and a ``Fuse`` decoder that
concatenates tokens back without inserting spaces. It is wrapped in
``transformers.PreTrainedTokenizerFast`` (in transformers 5 an alias of
``TokenizersBackend``), so ``save_pretrained`` writes ``tokenizer.json`` +
``tokenizer_config.json`` + ``chat_template.jinja`` and plain
``AutoTokenizer.from_pretrained(dir)`` loads it back with identical behaviour.

Vocabulary (ids are fixed, so checkpoints stay compatible):

====  ============================================
id    token
====  ============================================
0     ``<pad>``
1     ``<bos>``
2     ``<eos>``
3     ``<unk>``
4     ``"\\n"``
5-99  printable ASCII, characters 32 (space) .. 126 (``~``), in code-point order
====  ============================================

Choices worth knowing:

- No normalisation, no prefix space, no merges: ``decode(encode(s)) == s`` for every
  string made of printable ASCII and ``\\n``. Any other character (tab, ``é``) becomes
  ``<unk>`` (one per character).
- ``add_special_tokens=True`` adds nothing: no BOS and no EOS are inserted
  automatically. Training code that wants an EOS appends it itself (TRL's SFTTrainer
  appends the *text* ``"<eos>"`` to each completion, which this tokenizer maps to id 2).
- Because of that, the literal text ``<eos>`` (or ``<pad>`` ...) inside a string is
  read as the special token, not as five characters. Tasks never produce ``<`` followed
  by those words, so this is harmless; call with ``split_special_tokens=True`` to read
  such text as characters.
- ``decode(ids, skip_special_tokens=True)`` drops pad/bos/eos/unk.
- The chat template writes each message's content followed by ``"\\n"`` (roles are not
  written); ``add_generation_prompt`` adds nothing. Assistant turns are wrapped in
  ``{% generation %}`` so TRL's ``assistant_only_loss`` works.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
CHARACTERS: tuple[str, ...] = ("\n",) + tuple(chr(c) for c in range(32, 127))
VOCAB: tuple[str, ...] = SPECIAL_TOKENS + CHARACTERS
VOCAB_SIZE = len(VOCAB)  # 100

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] }}\n{% endgeneration %}"
    "{% else %}"
    "{{ message['content'] }}\n"
    "{% endif %}"
    "{% endfor %}"
)

_PADDING_SIDES = ("right", "left")


def _backend() -> Tokenizer:
    """Build the raw ``tokenizers.Tokenizer`` (no transformers wrapper)."""
    vocab = {token: i for i, token in enumerate(VOCAB)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # "[\s\S]" matches any single character, newline included ("." would not).
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return backend


def char_tokenizer(padding_side: str = "right", model_max_length: int = 1024) -> PreTrainedTokenizerFast:
    """Return a fresh character-level tokenizer (see the module docstring).

    Args:
        padding_side: ``"right"`` (training) or ``"left"`` (batched generation).
        model_max_length: the length transformers warns about / truncates to when asked;
            1024 matches ``max_position_embeddings`` of the presets.
    """
    if padding_side not in _PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {_PADDING_SIDES}, got {padding_side!r}")
    if not isinstance(model_max_length, int) or model_max_length < 1:
        raise ValueError(f"model_max_length must be a positive int, got {model_max_length!r}")
    tok = PreTrainedTokenizerFast(
        tokenizer_object=_backend(),
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        padding_side=padding_side,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
        add_bos_token=False,
        add_eos_token=False,
        chat_template=CHAT_TEMPLATE,
    )
    ids = [tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id]
    if ids != [0, 1, 2, 3] or len(tok) != VOCAB_SIZE:
        raise RuntimeError(f"char tokenizer built with wrong ids {ids} / size {len(tok)}")
    return tok
