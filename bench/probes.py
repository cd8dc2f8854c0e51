"""Probe generation throughput, and the whole battery's wall time.

    PYTHONPATH=src python bench/probes.py [--preset tiny] [--n 256] [--rounds 3] [--battery 500]

Part 1, on the same prompts in one run (countdown test problems, the 4 templates mixed so
prompt lengths differ; greedy; ``max_new_tokens`` as the probes derive it):

- sparring: ``HFResponder.generate`` (bucketed, static KV cache, cache of results off);
- raw batched: ``tokenizer(..., padding=True)`` left-padded, ``model.generate`` in chunks of
  the same batch size, default settings (dynamic KV cache), no bucketing;
- one at a time: ``model.generate`` per prompt, no padding.

Tokens are counted the same way for all three (new tokens up to and including EOS). The
"critique" scenario repeats this on the CFT critique prompts (~130 tokens) with the
critique probe's cap. Rates are the best of ``--rounds`` (the machine is shared).

Part 2 (``--battery N``): every probe at n=N on a fresh ``make_model(preset)``, per-probe
seconds and the total. An untrained model never emits EOS, so it always generates to the
caps: the worst case for time.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from sparring.models import configure_threads, make_model
from sparring.probes import PROBES, HFResponder, ProbeConfig, run_probes
from sparring.probes.config import answer_cap
from sparring.tasks import get_task


def count_new(rows: list[list[int]], eos: int) -> int:
    return sum(row.index(eos) + 1 if eos in row else len(row) for row in rows)


@torch.no_grad()
def raw_batched(model, tok, texts: list[str], max_new: int, batch: int) -> int:
    tok.padding_side = "left"
    n = 0
    for s in range(0, len(texts), batch):
        enc = tok(texts[s : s + batch], return_tensors="pt", padding=True)
        out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
        n += count_new(out[:, enc.input_ids.shape[1] :].tolist(), tok.eos_token_id)
    return n


@torch.no_grad()
def one_at_a_time(model, tok, texts: list[str], max_new: int) -> int:
    n = 0
    for t in texts:
        ids = torch.tensor([tok(t).input_ids])
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )
        n += count_new(out[:, ids.shape[1] :].tolist(), tok.eos_token_id)
    return n


def timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t0), n


def scenario(name: str, model, tok, texts: list[str], max_new: int, batch: int, rounds: int) -> None:
    best = {"sparring": 0.0, "raw batched": 0.0}
    for _ in range(rounds):
        r = HFResponder(model, tok, batch_size=batch, cache=False)

        def ours() -> int:
            r.stats["generated_tokens"] = 0
            r.generate(texts, max_new_tokens=max_new)
            return r.stats["generated_tokens"]

        best["sparring"] = max(best["sparring"], timed(ours)[0])
        best["raw batched"] = max(best["raw batched"], timed(lambda: raw_batched(model, tok, texts, max_new, batch))[0])
    single = timed(lambda: one_at_a_time(model, tok, texts, max_new))[0]
    print(f"\n[{name}] {len(texts)} prompts, max_new_tokens={max_new}, batch {batch}")
    print(f"  sparring HFResponder    {best['sparring']:9,.0f} tok/s")
    print(f"  raw batched generate    {best['raw batched']:9,.0f} tok/s")
    print(f"  one prompt at a time    {single:9,.0f} tok/s")
    print(f"  sparring / raw batched  {best['sparring'] / best['raw batched']:9.2f}   (goal >= 0.9)")
    print(f"  sparring / one-at-a-time{best['sparring'] / single:9.1f}x  (expect >= 8x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--n", type=int, default=256, help="prompts in the throughput scenarios")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--battery", type=int, default=0, help="also run every probe at this n")
    args = ap.parse_args()
    threads = configure_threads()
    print(f"preset {args.preset}, torch threads {threads}, load average {os.getloadavg()[0]:.1f}")
    model, tok = make_model(args.preset)
    task = get_task("countdown")
    problems = task.problems("test", n=args.n, seed=0)
    texts = [task.prompt(p, i % len(task.templates)) for i, p in enumerate(problems)]
    cap = answer_cap(len, task, problems, ProbeConfig())
    scenario("answers", model, tok, texts, cap, args.batch, args.rounds)
    from sparring.corpus import critique_prompt

    crit = [critique_prompt(task.prompt(p, 0).strip(), task.flaw(p).text) for p in problems]
    scenario("critique prompts", model, tok, crit[: max(32, args.n // 4)], 120, args.batch, args.rounds)
    if args.battery:
        battery(args.preset, task, args.battery)


def battery(preset: str, task, n: int) -> None:
    """Wall and CPU seconds per probe (CPU time is what the run would take on idle cores
    at 1 thread; wall time includes waiting for other users of a shared machine)."""
    model, tok = make_model(preset)
    r = HFResponder(model, tok)
    marks: list[tuple[str, float, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter(), time.process_time()))

    t0, c0 = time.perf_counter(), time.process_time()
    res = run_probes(r, None, task, "all", n=n, seed=0, progress=mark)
    mark("end")
    print(f"\n[battery] all {len(PROBES)} probes, n={n}, fresh {preset}: wall s / process CPU s")
    for (name, w, c), (_, w2, c2) in zip(marks, marks[1:]):
        print(f"  {name:12} {w2 - w:7.1f} {c2 - c:7.1f}   {res[name].primary} = {res[name].metrics[res[name].primary]}")
    wall, cpu = marks[-1][1] - t0, marks[-1][2] - c0
    print(
        f"  {'total':12} {wall:7.1f} {cpu:7.1f}   generated {r.stats['generated_tokens']:,} tokens, "
        f"cache hits {r.stats['cache_hits']}, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
