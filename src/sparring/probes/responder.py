"""Probe-side helpers around the :class:`~sparring.models.Responder` protocol (which
lives in ``sparring.models.responder``, below train and probes, with the one generator)."""

from __future__ import annotations

from typing import Sequence

from sparring.models.responder import Message, Prompt, Responder, assistant, first_user_text, token_counter, user

__all__ = ["Message", "Prompt", "Responder", "assistant", "first_user_text", "loglik", "token_counter", "user"]


def loglik(responder: Responder, pairs: Sequence[tuple[str, str]], probe: str) -> list[tuple[float, int]]:
    """Call the responder's scorer, with a clear error if it has none."""
    fn = getattr(responder, "loglik", None)
    if not callable(fn):
        raise ValueError(
            f"probe {probe}: needs log-likelihoods, and {type(responder).__name__} has no loglik(pairs) method"
        )
    out = list(fn(list(pairs)))
    if len(out) != len(pairs):
        raise ValueError(f"probe {probe}: loglik returned {len(out)} scores for {len(pairs)} pairs")
    return out
