"""The RARO critic as a test-time reranker: sample k answers, run a single-elimination
tournament judged by the trained critic, keep the winner.

    from sparring.train.raro.rerank import rerank
    rerank("runs/raro", "countdown", k=8, n=200)
    # {"greedy_accuracy", "sample_accuracy", "majority_accuracy", "reranked_accuracy", ...}

    sparring rerank runs/raro --task countdown --k 8

A match between answers a and b is one critic prompt (question, a, b). With constrained
verdicts the critic reasons greedily and its label distribution is read: a's score is
P(a is the expert) + P(tie)/2; with ``both_orders`` the match is also played as (b, a) and
the two scores averaged, which cancels the critic's position bias. A pointwise critic
scores each answer alone (P(expert) + P(tie)/2). With free decoding the parsed verdict
decides, and a tie or unparseable verdict is a coin flip. Identical answers need no match.

Baselines on the same samples: ``greedy_accuracy`` (one greedy answer), ``sample_accuracy``
(one sampled answer: the mean over all k), ``majority_accuracy`` (the most common final
answer, as the task's parser reads it, then the first sample giving it) and
``pass_at_k`` (an oracle picking any right sample). The verifier only scores answers
after the choice; the tournament never sees it.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from sparring.stats import bootstrap_ci

JudgeFn = Callable[[list[tuple[str, str, str]]], list[float]]  # (question, a, b) -> P(a better)


def tournament(questions: list[str], candidates: list[list[str]], judge: JudgeFn, *, seed: int = 0) -> list[int]:
    """Index of the winner among each question's candidates (single elimination, random
    seeding, byes for odd counts; every round's matches across questions in one batch)."""
    rng = random.Random(f"tournament|{seed}")
    alive = []
    for cands in candidates:
        order = list(range(len(cands)))
        rng.shuffle(order)
        alive.append(order)
    while any(len(a) > 1 for a in alive):
        matches, where = [], []
        for qi, a in enumerate(alive):
            for m in range(0, len(a) - 1, 2):
                x, y = candidates[qi][a[m]], candidates[qi][a[m + 1]]
                if x.strip() != y.strip():
                    matches.append((questions[qi], x, y))
                    where.append((qi, m))
        scores = dict(zip(where, judge(matches))) if matches else {}
        nxt = []
        for qi, a in enumerate(alive):
            keep = []
            for m in range(0, len(a) - 1, 2):
                s = scores.get((qi, m), 1.0)
                if s == 0.5:
                    s = rng.random()
                keep.append(a[m] if s > 0.5 else a[m + 1])
            if len(a) % 2:
                keep.append(a[-1])
            nxt.append(keep)
        alive = nxt
    return [a[0] for a in alive]


def critic_judge(model, tok, run_config: dict, *, both_orders: bool = True, batch_size: int = 256) -> JudgeFn:
    """A JudgeFn backed by a RARO critic configured as in ``run_config`` (run.json config)."""
    from .options import RAROOptions
    from .sampling import sampler_for

    keys = {f for f, _, _ in RAROOptions.options()}
    cfg = RAROOptions.from_any({k: v for k, v in (run_config or {}).items() if k in keys})
    game = cfg.game()
    sampler = sampler_for(cfg, tok, temperature=1.0)
    sampler.batch_size = batch_size

    def score(rollouts, good: str) -> list[float]:
        out = []
        for r in rollouts:
            if r.label_probs:
                out.append(r.label_probs.get(good, 0.0) + 0.5 * r.label_probs.get("tie", 0.0))
            else:
                out.append(1.0 if r.verdict == good else 0.5 if r.verdict in (None, "tie") else 0.0)
        return out

    def judge(matches: list[tuple[str, str, str]]) -> list[float]:
        if game.pointwise:
            prompts = [game.single_prompt(q, x) for q, a, b in matches for x in (a, b)]
            s = score(sampler.sample(model, prompts, greedy=True), "expert")
            out = [0.5 + (s[2 * i] - s[2 * i + 1]) / 2 for i in range(len(matches))]
        else:
            prompts = [game.pair_prompt(q, a, b) for q, a, b in matches]
            if both_orders:
                prompts += [game.pair_prompt(q, b, a) for q, a, b in matches]
            rolls = sampler.sample(model, prompts, greedy=True)
            first = score(rolls[: len(matches)], "1")
            out = first if not both_orders else [(f + s) / 2 for f, s in zip(first, score(rolls[len(matches) :], "2"))]
        return out  # an exact 0.5 means "cannot tell": the tournament flips a coin

    return judge


def load_critic(checkpoint: str | Path, device: Optional[str] = None):
    """(critic model, tokenizer, run config) of a RARO checkpoint (its ``critic/`` when the
    critic was a separate model)."""
    from sparring.models import RUN_CARD, RunCard, load_model

    path = Path(checkpoint).expanduser()
    if not (path / RUN_CARD).is_file():
        raise ValueError(f"checkpoint: {path} has no {RUN_CARD} (train it with `sparring train raro`)")
    card = RunCard.read(path)
    if card.method != "raro":
        raise ValueError(
            f"checkpoint: {path} was trained with {card.method!r}, not raro; only a RARO checkpoint has a critic"
        )
    critic_dir = path / "critic"
    model, tok = load_model(critic_dir if critic_dir.is_dir() else path, device=device)
    return model, tok, card.config


def final_answer(task, problem, text: str) -> str | None:
    """The final answer a completion claims, as the task's parser reads it (majority vote)."""
    return task.verify(problem, text).answer


def rerank(
    checkpoint: Any,
    task: Any,
    *,
    k: int = 8,
    n: int = 200,
    split: str = "test",
    seed: int = 0,
    temperature: float = 0.5,
    max_new_tokens: int = 96,
    both_orders: bool = True,
    device: Optional[str] = None,
    style: str | None = None,
) -> dict[str, Any]:
    """Accuracy of the critic's tournament winner among ``k`` samples vs greedy, one sample,
    majority vote and pass@k, on ``n`` problems of ``split`` (held out by default), in the
    style the checkpoint was trained in (``style`` overrides it)."""
    from sparring.evaluation import answers
    from sparring.models import load_model

    from ..common import resolve_task
    from ..evaluate import responder

    if not isinstance(k, int) or k < 2:
        raise ValueError(f"k: must be an integer >= 2, got {k!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: must be a positive integer, got {n!r}")
    t = resolve_task(task)
    critic, tok, run_config = load_critic(checkpoint, device)
    critic_dir = Path(checkpoint).expanduser() / "critic"
    policy = critic if not critic_dir.is_dir() else load_model(checkpoint, device=device)[0]
    from sparring.models.style import ChatFormat, resolve_style

    chosen = resolve_style(style or run_config.get("style", "auto"), tok)
    run_config = {**run_config, "style": chosen}  # the critic's prompts follow it too
    fmt = ChatFormat(run_config.get("system_prompt"), run_config.get("enable_thinking"))
    problems = t.problems(split, n=n, seed=seed)
    questions = [t.prompt(p, 0, chosen) for p in problems]  # what the critic sees as the question
    gen = responder(policy, tok, chat_format=fmt)
    ask = dict(max_new_tokens=max_new_tokens, style=chosen, chat_format=fmt)
    greedy = [row[0] for row in answers(gen, t, problems, **ask)]
    cands = answers(gen, t, problems, samples=k, temperature=temperature, seed=seed, **ask)
    judge = critic_judge(critic, tok, run_config, both_orders=both_orders)
    winners = tournament(questions, cands, judge, seed=seed)
    right = [[t.verify(p, c).correct for c in cs] for p, cs in zip(problems, cands)]
    majority = []
    for p, cs in zip(problems, cands):
        answers = [final_answer(t, p, c) for c in cs]
        votes = Counter(a for a in answers if a is not None)
        top = votes.most_common(1)[0][0] if votes else None
        majority.append(answers.index(top) if top is not None else 0)
    cols = {
        "greedy": [float(t.verify(p, g).correct) for p, g in zip(problems, greedy)],
        "sample": [sum(r) / k for r in right],
        "majority": [float(r[m]) for r, m in zip(right, majority)],
        "reranked": [float(r[w]) for r, w in zip(right, winners)],
        "pass_at_k": [float(any(r)) for r in right],
    }
    out: dict[str, Any] = {
        "n": len(problems),
        "k": k,
        "split": split,
        "temperature": temperature,
        "checkpoint": str(checkpoint),
        "task": t.name,
    }
    for name, vals in cols.items():
        key = name if name == "pass_at_k" else f"{name}_accuracy"
        out[key] = round(float(np.mean(vals)), 4)
        out[f"{key}_ci"] = _ci(np.asarray(vals), seed, key)
    out["reranked_minus_sample"] = round(out["reranked_accuracy"] - out["sample_accuracy"], 4)
    out["reranked_minus_sample_ci"] = _ci(
        np.asarray(cols["reranked"]) - np.asarray(cols["sample"]), seed, "reranked_minus_sample"
    )
    return out


def _ci(values: np.ndarray, seed: int, name: str, n_resamples: int = 2000) -> list[float]:
    """95% percentile bootstrap interval of the mean over problems (``sparring.stats``)."""
    lo, hi = bootstrap_ci(values, n_resamples=n_resamples, seed=seed, name=name)
    return [round(lo, 4), round(hi, 4)]
