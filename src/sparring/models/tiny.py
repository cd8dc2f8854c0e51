"""Tiny random real-architecture models: a Qwen2 or a Llama with a byte-level BPE
tokenizer and a chat template, built offline in ~0.1 s (after the imports).

They stand in for what users bring (Qwen2.5-Instruct, Llama 3.2 Instruct, SmolLM2...) in
tests and experiments: the same model classes, the same kind of tokenizer (byte-level BPE
trained by ``tokenizers``, with the family's digit splitting), the same special tokens and
chat format, the same pad/EOS conventions. The weights are random, so what they generate is
noise (initialised with std 0.2 instead of the usual 0.02, so that greedy decoding gives each
prompt its own continuation instead of repeating its last token); what they exercise is
every code path a real checkpoint takes.

=======  ============================  ======  ======  ===========  =====  =======================
arch     class                         layers  hidden  heads (kv)   FFN    vocab (tokenizer/model)
=======  ============================  ======  ======  ===========  =====  =======================
qwen2    ``Qwen2ForCausalLM``           2       64      4 (2, GQA)   128    ~500 / 512 (padded)
llama    ``LlamaForCausalLM``           2       64      4 (4)        128    512 / 512
=======  ============================  ======  ======  ===========  =====  =======================

Special tokens and templates (as in the real families' instruct checkpoints):

- **qwen2**: ``<|endoftext|>`` (pad, and the config's bos), ``<|im_start|>``,
  ``<|im_end|>`` (eos, end of turn); no BOS is added when encoding; a ChatML template
  that inserts the default system prompt "You are a helpful assistant." when the
  conversation has none; ``generation_config.eos_token_id = [<|im_end|>, <|endoftext|>]``.
  Like Qwen's, the model's embedding matrix is larger than the tokenizer (rounded up to a
  multiple of 64), so ids exist that decode to nothing.
- **llama**: ``<|begin_of_text|>`` (bos, added when encoding), ``<|end_of_text|>``,
  ``<|start_header_id|>``, ``<|end_header_id|>``, ``<|eot_id|>`` (eos, end of turn),
  ``<|finetune_right_pad_id|>`` (pad; real Llama 3 checkpoints ship no pad token); a
  Llama-3 template (``<|start_header_id|>role<|end_header_id|>\\n\\n content<|eot_id|>``,
  content trimmed, BOS written by the template); ``generation_config.eos_token_id =
  [<|end_of_text|>, <|eot_id|>]``.

The tokenizer is trained on a fixed corpus written here in the formats of sparring's
tasks (countdown, arith and linear prompts and step solutions) plus plain English
sentences with digits and operators, so it depends only on ``arch``; the weights depend
only on ``arch`` and ``seed``. ``sparring.models`` sits below ``sparring.tasks`` in the
import layers, so the corpus imitates the task formats instead of calling the tasks.

Public API::

    make_tiny_real(arch="qwen2", out_dir=None, seed=0) -> (model, tokenizer)
    tiny_real_tokenizer(arch="qwen2") -> PreTrainedTokenizerFast
    (the BPE tokenizers themselves: ``bpe.bpe_tokenizer``)
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from .bpe import BPE_VOCAB, bpe_tokenizer, check_arch
from .loading import save_model

_SENTENCES = [
    "The answer is 42.",
    "First add 3 and 4 to get 7, then multiply by 6 to reach 42.",
    "Let me check each step: 12 - 5 = 7 is right, and 7 * 3 = 21 is right.",
    "That is wrong. The correct answer is 18.",
    "I think the solution is correct because every step uses the numbers once.",
    "There is no solution: no combination of these numbers reaches the target.",
    "Use each number exactly once with +, -, * and / to make the target.",
    "Step 1: 9 + 8 = 17. Step 2: 17 - 2 = 15. So the result is 15.",
    "If x = 4 then 3 * x + 2 = 14, so x is 4.",
    "Please think step by step and put the final answer in <answer></answer> tags.",
    "The first error is in step 2, where 6 times 7 was written as 43.",
    "Numbers can be large, like 1024 or 65536, or negative, like -17.",
    "You are a helpful assistant. The user asks a question and you answer it.",
    "Is the following solution correct? Answer yes or no, then explain.",
    "We divide 84 by 12 to get 7, and 7 plus 3 is 10.",
    "Verdict: incorrect. The step 15 / 4 = 3 is not an exact division.",
]


def _corpus() -> list[str]:
    """A fixed corpus in the formats of sparring's tasks plus English with numbers."""
    rng = random.Random(1234)
    ops = "+-*"
    out: list[str] = []
    for _ in range(300):  # countdown: "a,b,c:t" and the other prompt styles, step solutions
        nums = [rng.randint(1, 25) for _ in range(rng.randint(2, 4))]
        acc, steps = nums[0], []
        for n in nums[1:]:
            op = rng.choice(ops)
            new = acc + n if op == "+" else acc - n if op == "-" else acc * n
            steps.append(f"{acc}{op}{n}={new}")
            acc = new
        joined = " ".join(map(str, nums))
        style = rng.randrange(4)
        prompt = [
            f"{','.join(map(str, nums))}:{acc}\n",
            f"Numbers: {joined}. Target: {acc}.\n",
            f"Use {', '.join(map(str, nums[:-1]))} and {nums[-1]} to make {acc}.\n",
            f"target {acc} from [{', '.join(map(str, nums))}]\n",
        ][style]
        out.append(prompt + "\n".join(steps))
    for _ in range(200):  # arith: "(a+b)*c=" with one reduction per line
        a, b, c = rng.randint(1, 20), rng.randint(1, 20), rng.randint(1, 20)
        expr = f"({a}+{b})*{c}"
        prompt = rng.choice([f"{expr}=\n", f"Evaluate: {expr}\n", f"What is {expr}?\n"])
        out.append(prompt + f"{a}+{b}={a + b}\n{a + b}*{c}={(a + b) * c}")
    for _ in range(200):  # linear: free text with <answer>x</answer>
        x, a, b = rng.randint(-20, 20), rng.choice([-9, -5, -3, 2, 4, 7, 8]), rng.randint(-30, 30)
        rhs = a * x + b
        sign = "+" if b >= 0 else "-"
        eq = f"{a}*x {sign} {abs(b)} = {rhs}"
        fix = f"{rhs} - {b}" if b >= 0 else f"{rhs} + {-b}"
        out.append(
            f"Solve for x: {eq}\n{eq}\n{a}*x = {fix} = {rhs - b}\nx = {rhs - b} / {a} = {x}\n<answer>{x}</answer>"
        )
    out.extend(_SENTENCES * 20)
    return out


def tiny_real_tokenizer(arch: str = "qwen2") -> PreTrainedTokenizerFast:
    """The byte-level BPE tokenizer of ``arch`` (left padding, chat template set).

    Trained offline on a fixed corpus, so the same ``arch`` always gives the same files.
    """
    # qwen2's model vocab is padded above the tokenizer's
    return bpe_tokenizer(_corpus(), check_arch(arch), BPE_VOCAB - (12 if arch == "qwen2" else 0))


def _config(arch: str, tok: PreTrainedTokenizerFast) -> Qwen2Config | LlamaConfig:
    shape = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        # 10x the usual 0.02: at 0.02 two tied layers barely move the residual stream, so
        # greedy decoding repeats the prompt's last token for every prompt alike; at 0.2 each
        # prompt gets its own continuation, which is what the generation tests need to compare
        initializer_range=0.2,
        dtype="float32",
    )
    if arch == "qwen2":
        end = tok.convert_tokens_to_ids("<|endoftext|>")
        return Qwen2Config(
            vocab_size=-(-len(tok) // 64) * 64,  # padded like Qwen's (151936 > 151665 tokens)
            num_key_value_heads=2,
            rope_theta=1_000_000.0,
            use_sliding_window=False,
            bos_token_id=end,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            **shape,
        )
    return LlamaConfig(
        vocab_size=len(tok),
        num_key_value_heads=4,
        rope_theta=500_000.0,
        bos_token_id=tok.bos_token_id,
        eos_token_id=[tok.convert_tokens_to_ids("<|end_of_text|>"), tok.eos_token_id],
        pad_token_id=tok.pad_token_id,
        **shape,
    )


def make_tiny_real(
    arch: str = "qwen2",
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A tiny random ``Qwen2ForCausalLM`` or ``LlamaForCausalLM`` and its byte-level BPE
    tokenizer with a chat template (see the module docstring for shapes and tokens).

    The weights depend only on ``arch`` and ``seed`` (initialised under a forked torch RNG,
    so the caller's global RNG is untouched); the tokenizer only on ``arch``. The model is
    float32, on CPU, in eval mode. With ``out_dir`` both are written there by
    :func:`~sparring.models.save_model` (replacing an existing directory), so
    ``load_model(out_dir)`` and plain ``AutoModelForCausalLM`` / ``AutoTokenizer``
    ``.from_pretrained(out_dir)`` load them.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    tok = tiny_real_tokenizer(arch)
    config = _config(arch, tok)
    cls = Qwen2ForCausalLM if arch == "qwen2" else LlamaForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    gc = model.generation_config
    end_of_turn = tok.eos_token_id
    other_end = tok.convert_tokens_to_ids("<|endoftext|>" if arch == "qwen2" else "<|end_of_text|>")
    gc.eos_token_id = [end_of_turn, other_end]
    gc.pad_token_id = tok.pad_token_id
    gc.bos_token_id = config.bos_token_id
    model.eval()
    if out_dir is not None:
        save_model(model, tok, Path(out_dir))
    return model, tok
