"""The one batched generator (and continuation scorer) for any Hugging Face causal LM.

:class:`HFResponder` is what train's run-card evaluation, rerank and every probe generate
with (behind the :class:`~sparring.models.responder.Responder` protocol, where a chat
server or a vLLM backend can plug in later):

- **left padding + KV cache**: prompts are left-padded and decoded by
  ``model.generate`` (which keeps the KV cache), so a batch decodes in lock step;
- **length bucketing**: prompts are sorted by token length and cut into batches of at
  most ``batch_size`` prompts and ``max_batch_tokens`` KV-cache positions (rows x
  samples x (prompt + new tokens)), then results are put back in the caller's order;
  short prompts do not pay for the padding of long ones. The default token budget is
  what fits in 1 GiB of KV cache on CPU (262k positions for ``tiny``), or 30% of the free
  memory on CUDA;
- **stop strings / EOS**: a row stops at the model's EOS id(s) or at any stop string
  (transformers' ``StopStringCriteria``); returned text is cut before the stop string.
  The stop strings a checkpoint saved in its generation config (``generation_config.json``
  ``stop_strings``, e.g. a ``self-eval`` model's ``<evaluation>``: its answer ends there)
  are added to every call's, unless ``saved_stops=False`` (what reads past them);
- **greedy and seeded sampling**: ``temperature == 0`` is greedy; otherwise pure
  temperature sampling (top-k and top-p disabled, so pass@k is unbiased), seeded per
  batch inside ``torch.random.fork_rng`` (the global RNG is left untouched);
- **multi-turn**: conversations go through ``tokenizer.apply_chat_template`` when the
  tokenizer has a template (with ``chat_format``'s keywords, e.g. ``enable_thinking``) (sparring's char tokenizer writes each message's content
  followed by ``"\\n"``), otherwise the contents are concatenated, each followed by
  ``"\\n"``;
- **static KV cache** (``cache_implementation="static"``, the default): the cache is
  preallocated per batch instead of grown by concatenation every step. Decoding a small
  model on CPU is bound by reading the KV cache, and concatenation copies all of it every
  step: static was 1.3-2.5x faster for prompts of 70-300 tokens on the ``tiny`` preset
  (``bench/probes.py``). Models that refuse a static cache fall back to the dynamic one;
  ``torch.compile`` is disabled (bucket shapes vary, it would recompile);
- **cache**: identical requests (same formatted text and decoding settings) are served
  from memory, so probes run together share their greedy answers (``cache=False`` for a
  model that is still training);
- **eval mode**: the model is put in eval mode for each call and restored afterwards, so a
  model in the middle of training can be evaluated.

:meth:`HFResponder.loglik` scores ``(context, continuation)`` pairs with one
right-padded forward pass per bucket (log-softmax over the vocabulary, summed over the
continuation's tokens; buckets are sized so the logits stay under ~0.4 GB).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Sequence

import torch
from transformers import GenerationConfig

from .device import device_defaults
from .loading import load_model
from .responder import Prompt, Responder
from .style import ChatFormat, is_char_tokenizer


def kv_bytes_per_token(model: Any) -> int:
    """Bytes of KV cache one token position costs (all layers, keys and values)."""
    c = model.config
    c = c.get_text_config() if hasattr(c, "get_text_config") else c
    heads = getattr(c, "num_attention_heads", 1) or 1
    kv_heads = getattr(c, "num_key_value_heads", None) or heads
    head_dim = getattr(c, "head_dim", None) or (getattr(c, "hidden_size", 64) // heads)
    size = next(model.parameters()).element_size()
    return max(1, 2 * getattr(c, "num_hidden_layers", 1) * kv_heads * head_dim * size)


def default_token_budget(model: Any) -> int:
    """KV positions per batch: 1 GiB of cache on CPU, 30% of free memory on CUDA."""
    device = next(model.parameters()).device
    budget = float(1 << 30)
    if device.type == "cuda":
        budget = 0.3 * torch.cuda.mem_get_info(device)[0]
    return int(min(1 << 20, max(2048, budget // kv_bytes_per_token(model))))


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


class HFResponder:
    """Responder over ``(model, tokenizer)``; see the module docstring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 512,
        max_batch_tokens: int | None = None,
        chat: bool = False,
        cache: bool = True,
        cache_implementation: str | None = "static",
        chat_format: ChatFormat | None = None,
        saved_stops: bool = True,
    ):
        max_batch_tokens = max_batch_tokens or default_token_budget(model)
        if batch_size < 1 or max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be positive")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_batch_tokens, self.chat = batch_size, max_batch_tokens, chat
        self.plain_text = is_char_tokenizer(tokenizer)
        self.template_kwargs = (chat_format or ChatFormat()).template_kwargs()
        self.cache_implementation = cache_implementation
        self.device = next(model.parameters()).device
        gc = getattr(model, "generation_config", None)
        eos = getattr(gc, "eos_token_id", None) if gc is not None else None
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        # the tokenizer's EOS too: a chat template's end of turn that the generation config omits
        self.eos_ids = eos + [t for t in [tokenizer.eos_token_id] if t is not None and t not in eos]
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.max_positions = getattr(model.config, "max_position_embeddings", None) or 1 << 30
        self.saved_stops = saved_stop_strings(model) if saved_stops else ()
        self._cache: dict[tuple, list[str]] | None = {} if cache else None
        self.stats = {"generated_tokens": 0, "generate_seconds": 0.0, "prompts": 0, "cache_hits": 0}

    # ---- formatting -----------------------------------------------------------------
    def format(self, prompt: Prompt) -> tuple[str, bool]:
        """(text, add_special_tokens) for a prompt; chat-formatted text gets no extra BOS."""
        if isinstance(prompt, str) and not self.chat:
            return prompt, True
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True, **self.template_kwargs
            )
            return text, False
        return "".join(f"{m['content']}\n" for m in messages), True

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _encode(self, text: str, special: bool, room: int) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=special).input_ids
        keep = max(1, self.max_positions - room)
        return ids[-keep:]

    # ---- generation -----------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n_samples: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 64,
        seed: int = 0,
        stop: Sequence[str] = (),
    ) -> list[list[str]]:
        if n_samples < 1 or max_new_tokens < 1:
            raise ValueError("n_samples and max_new_tokens must be positive")
        stop = tuple(dict.fromkeys(s for s in (*stop, *self.saved_stops) if s))
        keys, todo = [], {}
        for p in prompts:
            text, special = self.format(p)
            key = (text, special, n_samples, float(temperature), max_new_tokens, seed, stop)
            keys.append(key)
            if (self._cache is None or key not in self._cache) and key not in todo:
                todo[key] = None
        self.stats["prompts"] += len(keys)
        self.stats["cache_hits"] += len(keys) - len(todo)
        with _eval_mode(self.model):
            results = self._run(list(todo), n_samples, temperature, max_new_tokens, seed, stop)
        if self._cache is not None:
            self._cache.update(results)
            return [list(self._cache[k]) for k in keys]
        return [list(results[k]) for k in keys]

    def _buckets(
        self, lengths: list[int], rows_per_item: int, extra: int, budget: int | None = None
    ) -> list[list[int]]:
        """Indices sorted by length, cut into batches of <= batch_size items whose padded
        size (items x rows_per_item x (longest + extra)) stays within the token budget."""
        budget = self.max_batch_tokens if budget is None else budget
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        buckets, cur = [], []
        for i in order:
            width = lengths[i] + extra
            if cur and (len(cur) >= self.batch_size or (len(cur) + 1) * rows_per_item * width > budget):
                buckets.append(cur)
                cur = []
            cur.append(i)
        if cur:
            buckets.append(cur)
        return buckets

    def _run(
        self, keys: list[tuple], n_samples: int, temperature: float, max_new: int, seed: int, stop: tuple[str, ...]
    ) -> dict[tuple, list[str]]:
        if not keys:
            return {}
        t0 = time.perf_counter()
        sample = temperature > 0
        expand = n_samples if sample else 1
        encoded = [self._encode(k[0], k[1], max_new) for k in keys]
        gc = GenerationConfig(
            max_new_tokens=max_new,
            do_sample=sample,
            num_return_sequences=expand,
            temperature=float(temperature) if sample else None,
            top_k=0 if sample else None,
            top_p=1.0 if sample else None,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_ids or None,
            stop_strings=list(stop) or None,
            disable_compile=True,  # bucket shapes vary: compiling (auto on CUDA) would recompile
        )
        extra = {"tokenizer": self.tokenizer} if stop else {}
        out: dict[tuple, list[str]] = {}
        for b, bucket in enumerate(self._buckets([len(e) for e in encoded], expand, max_new)):
            width = max(len(encoded[i]) for i in bucket)
            ids = torch.full((len(bucket), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(bucket), width), dtype=torch.long)
            for r, i in enumerate(bucket):
                e = encoded[i]
                ids[r, width - len(e) :] = torch.tensor(e, dtype=torch.long)
                mask[r, width - len(e) :] = 1
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed((seed * 1_000_003 + b) % (2**63))
                gen = self._generate(ids, mask, gc, extra)
            texts = self._decode(gen[:, width:].tolist(), stop)
            for r, i in enumerate(bucket):
                row = texts[r * expand : (r + 1) * expand]
                out[keys[i]] = row if sample else row * n_samples
        self.stats["generate_seconds"] += time.perf_counter() - t0
        return out

    def _generate(self, ids: torch.Tensor, mask: torch.Tensor, gc: GenerationConfig, extra: dict) -> torch.Tensor:
        with _no_saved_stops(self.model):  # ``gc`` holds the stops in force: the saved ones are not added again
            return self._generate_with(ids, mask, gc, extra)

    def _generate_with(self, ids: torch.Tensor, mask: torch.Tensor, gc: GenerationConfig, extra: dict) -> torch.Tensor:
        ids, mask = ids.to(self.device), mask.to(self.device)
        if self.cache_implementation is not None:
            gc.cache_implementation = self.cache_implementation
            # transformers sizes a static cache to the largest call so far; size it to this one
            self.model.__dict__.pop("_previous_max_cache_length", None)
            try:
                return self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gc, **extra)
            except (ValueError, TypeError, NotImplementedError, AttributeError):
                self.cache_implementation = None  # this model has no static cache: go dynamic
                gc.cache_implementation = None
        return self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gc, **extra)

    def _decode(self, rows: list[list[int]], stop: tuple[str, ...]) -> list[str]:
        eos = set(self.eos_ids)
        cut_rows = []
        for row in rows:
            n = next((j for j, t in enumerate(row) if t in eos), None)
            self.stats["generated_tokens"] += len(row) if n is None else n + 1
            cut_rows.append(row if n is None else row[:n])
        texts = self.tokenizer.batch_decode(cut_rows, skip_special_tokens=True)
        return [cut_at_stop(t, stop) for t in texts]

    # ---- scoring --------------------------------------------------------------------
    def loglik(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, int]]:
        """Summed log-probability and token count of each continuation after its context."""
        return self.loglik_counted(pairs)[0]

    def loglik_counted(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[tuple[float, int]], list[int]]:
        """:meth:`loglik`, plus the token length of each sequence the forward passes ran
        over (context + continuation, as truncated), for a FLOP count (``train/flops.py``)."""
        with _eval_mode(self.model):
            return self._loglik(pairs)

    @torch.no_grad()
    def _loglik(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[tuple[float, int]], list[int]]:
        vocab = int(getattr(self.model.config, "vocab_size", 0) or len(self.tokenizer))
        budget = max(64, min(self.max_batch_tokens, int(1e8 // max(vocab, 1))))
        items = []
        bos = getattr(self.tokenizer, "bos_token", None)
        for ctx, cont in pairs:
            # a context rendered by a chat template already starts with BOS: add no second one
            special = not (bos and ctx.startswith(bos))
            c = self.tokenizer(ctx, add_special_tokens=special).input_ids
            t = self.tokenizer(cont, add_special_tokens=False).input_ids
            if not c and t:  # nothing to condition on: the first token cannot be scored
                c, t = t[:1], t[1:]
            t = t[: self.max_positions - 1]
            c = c[-max(1, self.max_positions - len(t)) :]
            items.append((c, t))
        results: list[tuple[float, int]] = [(0.0, 0)] * len(items)
        lengths = [len(c) + len(t) for c, t in items]
        for bucket in self._buckets(lengths, 1, 0, budget):
            width = max(lengths[i] for i in bucket)
            ids = torch.full((len(bucket), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(bucket):
                c, t = items[i]
                ids[r, : len(c) + len(t)] = torch.tensor(c + t, dtype=torch.long)
                mask[r, : len(c) + len(t)] = 1
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            tok_lp = logp.gather(-1, ids[:, 1:].to(self.device).unsqueeze(-1)).squeeze(-1).cpu()
            for r, i in enumerate(bucket):
                c, t = items[i]
                if t:
                    results[i] = (float(tok_lp[r, len(c) - 1 : len(c) - 1 + len(t)].sum()), len(t))
        return results, lengths


def saved_stop_strings(model: Any) -> tuple[str, ...]:
    """The stop strings ``model``'s generation config holds (``stop_strings``: a string or a
    list of them; what a checkpoint saved, e.g. ``self-eval``'s end of the answer)."""
    found = getattr(getattr(model, "generation_config", None), "stop_strings", None)
    if isinstance(found, str):
        found = [found]
    return tuple(s for s in (found or ()) if isinstance(s, str) and s)


@contextmanager
def _no_saved_stops(model: Any):
    """The model's generation config without its saved stop strings inside the block
    (transformers fills every field a call leaves unset from the model's own config)."""
    gc = getattr(model, "generation_config", None)
    saved = getattr(gc, "stop_strings", None)
    if saved is not None:
        gc.stop_strings = None
    try:
        yield
    finally:
        if saved is not None:
            gc.stop_strings = saved


@contextmanager
def _eval_mode(model: Any):
    """``model`` in eval mode inside the block, its previous mode restored after."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def load_for_inference(source: str | os.PathLike, device: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a preset, ``zoo:NAME`` or a local causal-LM directory,
    in inference precision. Anything that does not load raises one ValueError."""

    try:
        dtype = device_defaults(device).dtype
        return load_model(source, device=device, dtype=dtype)
    except ValueError as err:
        raise ValueError(f"checkpoint {source}: {err}") from err
    except Exception as err:  # transformers raises OSError/KeyError/... on foreign dirs
        raise ValueError(
            f"checkpoint {source}: not a loadable causal LM with a tokenizer ({type(err).__name__}: {err})"
        ) from err


def as_responder(model: Any, tokenizer: Any = None, **kwargs: Any) -> Responder:
    """A Responder from a Responder, a ``(model, tokenizer)`` pair, or a model source.

    ``model`` may be a Responder (``tokenizer`` must then be None), a torch module with
    its tokenizer, or a string / path understood by :func:`load_for_inference` (a preset,
    ``zoo:NAME`` or a checkpoint directory). ``kwargs`` go to ``HFResponder``.
    """
    if isinstance(model, torch.nn.Module):
        if tokenizer is None:
            raise ValueError("model: a torch model needs its tokenizer (got tokenizer=None)")
        return HFResponder(model, tokenizer, **kwargs)
    if isinstance(model, (str, os.PathLike)):
        m, tok = load_for_inference(model)
        return HFResponder(m, tok, **kwargs)
    if isinstance(model, Responder):
        if tokenizer is not None:
            raise ValueError("model: a Responder takes no tokenizer (pass tokenizer=None)")
        return model
    raise ValueError(
        f"model: expected a Responder, a torch model with its tokenizer, or a checkpoint "
        f"path, got {type(model).__name__}"
    )
