"""pass@k, solution diversity and per-difficulty success share (tail narrowing).

What it measures: whether sampling still finds solutions greedy decoding misses, and how
many *different* correct solutions the model knows. ``passk_samples`` completions are
sampled per held-out problem at ``temperature`` (pure sampling: no top-k / top-p, seeded),
each judged by the verifier; with c correct out of n, the unbiased estimator (Chen et al.
2021) is

    pass@k = 1 - C(n - c, k) / C(n, k)

averaged over problems. ``distinct_correct`` counts different correct completions per
problem (lines stripped, blank lines dropped): imitation and plain self-training tend to
collapse it. ``success_share[D]`` is the share of all correct samples that fall on
difficulty D problems, next to ``problem_share[D]`` (the share of problems of that
difficulty): success concentrating on easy problems across training rounds is the "tail
narrowing" of self-training.

Metrics: ``pass@K`` for K in ``passk_ks``, ``sample_accuracy`` (mean c/n),
``distinct_correct``, ``distinct_correct_per_solved``, and per difficulty D:
``pass@1[D]``, ``success_share[D]``, ``problem_share[D]``.
"""

from __future__ import annotations

import time
from typing import Any

from sparring.tasks import Task

from .common import base_record, finish, first_text, metric_set, prompt_for, setup
from .config import ProbeConfig, answer_cap, select
from .responder import token_counter
from .result import ProbeResult

NAME = "passk"
DIFFICULTY_ORDER = ("easy", "medium", "hard")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k)."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):  # C(n-c,k)/C(n,k) = prod_{i=n-c+1}^{n} (1 - k/i)
        prod *= 1.0 - k / i
    return 1.0 - prod


def normalise(text: str) -> str:
    return "\n".join(ln.strip() for ln in text.strip().split("\n") if ln.strip())


def run(model: Any, tokenizer: Any, task: Task, config: ProbeConfig | dict | None = None) -> ProbeResult:
    """pass@k, diversity and per-difficulty success share (see module doc)."""
    t0 = time.perf_counter()
    responder, cfg = setup(model, tokenizer, config, task)
    problems = select(task, "test", cfg)
    n = cfg.passk_samples
    cap = answer_cap(token_counter(responder), task, problems, cfg)
    outs = responder.generate(
        [prompt_for(task, p, cfg) for p in problems],
        n_samples=n,
        temperature=cfg.temperature,
        max_new_tokens=cap,
        seed=cfg.seed,
    )
    first_text(outs, len(problems), NAME)  # shape check
    counts, distinct, records = [], [], []
    for p, samples in zip(problems, outs):
        samples = [s if isinstance(s, str) else "" for s in list(samples)[:n]]
        if len(samples) != n:
            raise ValueError(f"probe {NAME}: responder returned {len(samples)} samples, asked for {n}")
        ok = [task.verify(p, s).correct for s in samples]
        good = {normalise(s) for s, y in zip(samples, ok) if y}
        c = sum(ok)
        counts.append(c)
        distinct.append(len(good))
        records.append({**base_record(p), "n": n, "c": c, "distinct_correct": len(good)})
    ms = metric_set(cfg)
    for k in cfg.passk_ks:
        ms.mean(f"pass@{k}", [pass_at_k(n, c, k) for c in counts])
    ms.mean("sample_accuracy", [c / n for c in counts])
    ms.mean("distinct_correct", distinct)
    ms.mean("distinct_correct_per_solved", [d for d, c in zip(distinct, counts) if c > 0])
    levels = sorted(
        {p.difficulty for p in problems}, key=lambda d: (DIFFICULTY_ORDER.index(d) if d in DIFFICULTY_ORDER else 99, d)
    )
    for d in levels:
        mine = [p.difficulty == d for p in problems]
        ms.mean(f"pass@1[{d}]", [c / n for c, m in zip(counts, mine) if m])
        ms.ratio(f"success_share[{d}]", [c if m else 0 for c, m in zip(counts, mine)], counts)
        ms.mean(f"problem_share[{d}]", [float(m) for m in mine])
    return finish(NAME, ms, records, len(problems), f"pass@{max(cfg.passk_ks)}", cfg, t0, max_new_tokens_used=cap)
