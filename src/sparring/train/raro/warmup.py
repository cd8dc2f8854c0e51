"""RARO critic warm-up: supervised verdicts on a pool of the policy's own answers, drawn
once, before the game's first step.

The policy answers up to ``WARMUP_QUESTIONS`` demonstration questions, ``WARMUP_SAMPLES``
answers each at the game's temperature; every finished answer that differs from the
expert's becomes a pair shown in RARO's critic prompt (random order); a pointwise critic
is shown each such answer alone, and the expert's answer alone equally often (balanced
labels: with policy answers only it would learn one label). The critic then takes
``steps`` AdamW steps of ``WARMUP_BATCH`` pairs, cross-entropy on the true label — which
answer is the demonstration — at the position the constrained decoder samples the label
from (after the critic's own sampled reasoning and the forced ``Verdict: ``). A tenth of
the questions is held out; the critic's greedy accuracy on their pairs is logged before
and after. Nothing here calls the task's verifier: the truth is where the demonstration
is. It runs inside the trainer's first step, so a wall-clock, token or FLOP budget includes
it (a step budget counts game steps only); its FLOPs (the answer pool, every sampled
verdict, the training passes, the held-out accuracy) are counted under ``warmup``.

Why a pool: inside the game every step pays for the policy's generation and judging, so a
warm-up made of game steps (measured: 60 steps of ~340 critic rows, ~5 s each) gets far
fewer optimizer steps than the discrimination needs (~300 steps of 64 pairs reached 60%+
held-out accuracy in a supervised check; docs/results.md).
"""

from __future__ import annotations

import random
import time
from typing import Any

import torch

from sparring.models.responder import first_user_text

from ..distributed import average_gradients, rank_seed, world_size
from ..flops import TRAIN, generated_lengths, mask_lengths
from .batches import critic_tensors, label_logits
from .game import Triple

WARMUP_QUESTIONS = 1000
WARMUP_SAMPLES = 4
WARMUP_BATCH = 64
GEN_BATCH = 256


@torch.no_grad()
def _policy_answers(trainer, prompts: list) -> list[list[str]]:
    """``WARMUP_SAMPLES`` sampled answers per prompt (truncated ones dropped); a
    conversation (chat style) is rendered through the chat template, as TRL renders it."""
    tok, model = trainer.processing_class, trainer.model
    prompts = [
        p
        if isinstance(p, str)
        else tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True, **trainer.chat_template_kwargs)
        for p in prompts
    ]
    was, side = model.training, tok.padding_side
    model.eval()
    tok.padding_side = "left"
    out: list[list[str]] = []
    try:
        for i in range(0, len(prompts), GEN_BATCH):
            enc = tok(prompts[i : i + GEN_BATCH], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(next(model.parameters()).device) for k, v in enc.items()}
            gen = model.generate(
                **enc,
                do_sample=True,
                temperature=trainer.temperature,
                top_k=0,
                max_new_tokens=trainer.max_completion_length,
                pad_token_id=tok.pad_token_id,
                num_return_sequences=WARMUP_SAMPLES,
            )
            new_ids = gen[:, enc["input_ids"].shape[1] :]
            prompt_lengths = enc["attention_mask"].sum(1).repeat_interleave(WARMUP_SAMPLES).tolist()
            made = generated_lengths(new_ids, [tok.eos_token_id])
            trainer.spend("warmup", model, [p + c for p, c in zip(prompt_lengths, made, strict=True)])
            new = new_ids.tolist()
            texts = [tok.decode(ids, skip_special_tokens=True) if tok.eos_token_id in ids else None for ids in new]
            out += [texts[j : j + WARMUP_SAMPLES] for j in range(0, len(texts), WARMUP_SAMPLES)]
    finally:
        tok.padding_side = side
        model.train(was)
    return out


def judgement_pool(
    game, prompts: list[str], experts: list[str], answers: list[list[str | None]], rng: random.Random
) -> tuple[list, list]:
    """(train, held-out) judgements: a tenth of the questions held out; per question each
    finished answer that differs from the expert's (pointwise: plus the expert's answer
    alone as many times, so both labels are equally common)."""
    held = set(rng.sample(range(len(prompts)), max(1, len(prompts) // 10)))
    train, test = [], []
    for q, (p, e, ans) in enumerate(zip(prompts, experts, answers)):
        shown = [t for t in (Triple(p, e, a) for a in ans if a is not None) if not t.identical]
        if game.pointwise:
            shown += [Triple(p, e, None)] * len(shown)
        (test if q in held else train).extend(game.judgement(t, rng) for t in shown)
    return train, test


def _accuracy(trainer, critic, pairs) -> float:
    if not pairs:
        return 0.0
    rollouts = trainer.sampler.sample(critic, [j.prompt for j in pairs], greedy=True)
    trainer.spend_rollouts("warmup", critic, rollouts)
    return sum(r.verdict == j.truth for r, j in zip(rollouts, pairs)) / len(pairs)


def verdict_loss(trainer, model, rows: list, keys: list) -> torch.Tensor:
    """Cross-entropy of the true label (``Judgement.truth``: which answer is the expert's,
    known from the demonstrations alone) among the labels' first tokens, at the position
    the constrained decoder sampled the label from (after the rollout's own reasoning and
    the forced ``Verdict: ``)."""
    t = critic_tensors(rows, trainer.processing_class.pad_token_id, next(model.parameters()).device)
    trainer.spend("warmup", model, mask_lengths(t["prompt_mask"], t["completion_mask"]), TRAIN)
    picked = label_logits(model, t, rows, trainer.sampler.first_ids).float()
    truth = torch.tensor([trainer.sampler.labels.index(j.truth) for j in keys], device=picked.device)
    return torch.nn.functional.cross_entropy(picked, truth)


def warm_up_critic(
    trainer, critic, steps: int, lr: float, seed: int = 0, show_progress: bool = False
) -> dict[str, Any]:
    """Train ``critic`` (the shared model or the separate critic) on verdicts; returns the
    numbers logged as the history's step 0."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    rng = random.Random(rank_seed(f"raro-warmup|{seed}"))  # several ranks: each its own pool and batches
    ds = trainer.train_dataset
    n = min(len(ds), WARMUP_QUESTIONS)
    prompts, experts = ds["prompt"][:n], ds["expert"][:n]
    answers = _policy_answers(trainer, prompts)
    questions = [first_user_text(p) for p in prompts]  # a conversation's question (chat style)
    train, test = judgement_pool(trainer.game, questions, experts, answers, rng)
    before = _accuracy(trainer, critic, test)
    opt = torch.optim.AdamW(critic.parameters(), lr=lr)
    tokens = 0
    was = critic.training
    critic.train()
    for _ in tqdm(range(steps if train else 0), desc="raro critic warm-up", disable=not show_progress):
        batch = rng.sample(train, min(WARMUP_BATCH, len(train)))
        rows = trainer.sampler.sample(critic, [j.prompt for j in batch])
        trainer.spend_rollouts("warmup", critic, rows)
        loss = verdict_loss(trainer, critic, rows, batch)
        loss.backward()
        average_gradients(critic.parameters(), 1.0 / world_size())  # ranks step alike: weights stay equal
        torch.nn.utils.clip_grad_norm_(critic.parameters(), trainer.args.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += sum(r.tokens for r in rows)
    critic.train(was)
    trainer.count_tokens(tokens)
    return {
        "step": 0,
        "raro/warmup_pairs": float(len(train)),
        "raro/warmup_heldout_pairs": float(len(test)),
        "raro/warmup_accuracy_before": round(before, 4),
        "raro/warmup_accuracy_after": round(_accuracy(trainer, critic, test), 4),
        "raro/warmup_seconds": round(time.perf_counter() - t0, 1),
    }
