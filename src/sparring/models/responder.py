"""The one interface every evaluation talks to: a :class:`Responder` that answers prompts.

Train's run-card evaluation, rerank and the probes never call a model's ``generate``
directly. They hand prompts to a responder and judge the returned text with the task's
verifier (model output is untrusted input; nothing else judges it). Two kinds exist:

- :class:`~sparring.models.generation.HFResponder` wraps any ``(model, tokenizer)``
  pair: batched, cached generation and log-likelihood scoring (the one generator; a
  vLLM or OpenAI-compatible backend plugs in behind the same protocol);
- test oracles (:mod:`sparring.probes.oracles`) whose answers are known, used to check
  that every probe measures what it claims.

A prompt is either a string (raw text; the completion follows it directly, as in
sparring's training data) or a conversation: a list of ``{"role", "content"}`` dicts,
formatted by the responder (chat template where the tokenizer has one).
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, Union, runtime_checkable

Message = dict[str, str]
Prompt = Union[str, list[Message]]


@runtime_checkable
class Responder(Protocol):
    """Anything that turns prompts into completions.

    ``generate`` returns, for each prompt, a list of ``n_samples`` completions (text
    after the prompt, EOS and everything after the first stop string removed).
    ``temperature == 0`` means greedy; sampling is reproducible for a given ``seed``.

    Optional members (probes check with ``getattr``):

    - ``loglik(pairs) -> list[tuple[float, int]]``: for each ``(context, continuation)``
      the summed log-probability of the continuation's tokens and their count
      (needed by ``infogain`` and ``confidence``);
    - ``count_tokens(text) -> int`` (default: characters), used to size length caps;
    - ``plain_text: bool``: True for models that only saw bare solutions (sparring's
      char models); picks the default answer format of ``infogain`` / ``confidence``.
    """

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n_samples: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 64,
        seed: int = 0,
        stop: Sequence[str] = (),
    ) -> list[list[str]]: ...


def token_counter(responder: Responder) -> Callable[[str], int]:
    fn = getattr(responder, "count_tokens", None)
    return fn if callable(fn) else len


def user(content: str) -> Message:
    return {"role": "user", "content": content}


def assistant(content: str) -> Message:
    return {"role": "assistant", "content": content}


def first_user_text(prompt: Prompt) -> str:
    """The text of a string prompt, or of the first user message of a conversation."""
    if isinstance(prompt, str):
        return prompt
    for m in prompt:
        if m.get("role") == "user":
            return m.get("content", "")
    return ""
