"""A small batched greedy evaluator for run cards (the probes package measures more).

Left-padded batched ``model.generate`` (greedy equals one-at-a-time decoding, as measured
in FEASIBILITY.md), each completion judged by ``task.verify``.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from sparring.tasks import Problem, Task


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], *, max_new_tokens: int = 96,
             batch_size: int = 256, do_sample: bool = False, temperature: float = 1.0,
             num_return_sequences: int = 1, seed: int = 0) -> list[str]:
    """Completions (prompt removed, special tokens dropped) for ``prompts``, in order;
    ``num_return_sequences`` consecutive entries per prompt when sampling."""
    tok = copy.copy(tokenizer)
    tok.padding_side = "left"
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    eos = tok.eos_token_id
    out: list[str] = []
    gen = torch.Generator().manual_seed(seed)
    try:
        for i in range(0, len(prompts), batch_size):
            chunk = prompts[i:i + batch_size]
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, do_sample=do_sample,
                                          pad_token_id=tok.pad_token_id, eos_token_id=eos,
                                          num_return_sequences=num_return_sequences)
            if do_sample:
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
            else:
                kwargs.update(temperature=None, top_k=None, top_p=None)
            ids = model.generate(**enc, **kwargs)
            new = ids[:, enc["input_ids"].shape[1]:]
            out.extend(tok.batch_decode(new, skip_special_tokens=True))
    finally:
        if was_training:
            model.train()
    return out


def accuracy(model, tokenizer, task: Task, problems: list[Problem], *, max_new_tokens: int = 96,
             batch_size: int = 256, samples: int = 1, temperature: float = 1.0,
             seed: int = 0) -> dict[str, float]:
    """Greedy (``samples=1``) accuracy, or sampled accuracy and pass@``samples``.

    Returns ``accuracy`` (strict: right answer through valid steps), ``answer_accuracy``
    (final claim right) and, when sampling, ``pass_at_k``; all fractions of ``len(problems)``.
    """
    prompts = [task.prompt(p) for p in problems]
    sampled = samples > 1
    texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                     do_sample=sampled, temperature=temperature, num_return_sequences=samples,
                     seed=seed)
    correct = answer = 0
    solved = [False] * len(problems)
    for j, text in enumerate(texts):
        i = j // samples
        v = task.verify(problems[i], text)
        correct += v.correct
        answer += v.answer_correct
        solved[i] = solved[i] or v.correct
    n = len(texts)
    out = {"accuracy": correct / n, "answer_accuracy": answer / n, "n": len(problems)}
    if sampled:
        out["pass_at_k"] = sum(solved) / len(problems)
        out["k"] = samples
        out["temperature"] = temperature
    return out


def test_accuracy(model, tokenizer, task: Task, n: int = 500, *, max_new_tokens: int = 96,
                  seed: int = 0) -> dict[str, float]:
    """Greedy accuracy on ``n`` problems of the task's held-out test split."""
    return accuracy(model, tokenizer, task, task.problems("test", n=n, seed=seed),
                    max_new_tokens=max_new_tokens)


def critique_accuracy(model, tokenizer, task: Task, n: int = 200, *, flawed_fraction: float = 0.5,
                      max_new_tokens: int = 384, seed: int = 0) -> dict[str, float]:
    """Critique skill on held-out problems, in the CFT prompt format (METHODS 1.2).

    Each test problem's candidate is a planted flaw (probability ``flawed_fraction``) or the
    gold solution; the greedy critique is parsed with ``sparring.corpus.parse_critique``.
    Returns ``verdict_accuracy`` (unreadable counts as wrong), ``flawed_verdict_accuracy``
    (says "wrong" on flawed candidates), ``gold_verdict_accuracy``, ``first_error_accuracy``
    (on flawed: verdict wrong and the right step) and ``parse_rate``.
    """
    from sparring.corpus import critique_prompt, parse_critique
    from sparring.tasks.base import seeded_rng

    rng = seeded_rng("critique-eval", task.config_key(), seed)
    problems = [p for p in task.problems("test", n=n, seed=seed) if p.solvable]
    items = []
    for p in problems:
        if rng.random() < flawed_fraction:
            f = task.flaw(p, seed=rng.randrange(2**31))
            items.append((p, f.text, False, f.first_error))
        else:
            items.append((p, task.solve(p), True, None))
    prompts = [critique_prompt(task.prompt(p, 0).strip(), y) for p, y, _, _ in items]
    texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=64)
    ok = parsed = flawed = flawed_ok = gold = gold_ok = located = 0
    for (p, _, right, first), text in zip(items, texts):
        verdict, step = parse_critique(text)
        parsed += verdict is not None
        hit = verdict == ("right" if right else "wrong")
        ok += hit
        if right:
            gold += 1
            gold_ok += hit
        else:
            flawed += 1
            flawed_ok += hit
            located += hit and step == first
    return {"verdict_accuracy": ok / max(1, len(items)), "parse_rate": parsed / max(1, len(items)),
            "flawed_verdict_accuracy": flawed_ok / max(1, flawed),
            "gold_verdict_accuracy": gold_ok / max(1, gold),
            "first_error_accuracy": located / max(1, flawed), "n": len(items)}
