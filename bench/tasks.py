"""Task-layer throughput: problems generated/s, verifications/s, flaws/s, traces/s.

    .venv/bin/python bench/tasks.py [--seconds 2]

Each figure is the best of 3 timed rounds (the machine is shared; the best round is the
least disturbed). Ratios are printed against the cost of parsing alone (a regex pass over
the same completions), measured in the same run.
"""

from __future__ import annotations

import argparse
import re
import time

from sparring.tasks import get_task, list_tasks


def rate(fn, items, seconds: float) -> float:
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            for it in items:
                fn(it)
            n += len(items)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument(
        "--corpus-rows", type=int, default=20_000, help="rows of the critique corpus whose build is timed (0: skip)"
    )
    args = ap.parse_args()
    line = re.compile(r"[0-9]{1,12}[-+*/][0-9]{1,12}=[0-9]{1,12}")
    print(f"{'task':10} {'metric':28} {'per second':>12}")
    for name in list_tasks():
        task = get_task(name)
        t0 = time.perf_counter()
        problems = task.problems("train", n=2000, seed=0)
        gen = len(problems) / (time.perf_counter() - t0)
        golds = [(p, task.solve(p)) for p in problems[:500]]
        flaws = [(p, task.flaw(p, seed=1).text) for p in problems[:500]]
        hostile = [(p, "9" * 10_000) for p in problems[:500]]
        rows = {
            "problems generated (2000)": gen,
            "verify gold": rate(lambda x: task.verify(*x), golds, args.seconds),
            "verify flawed": rate(lambda x: task.verify(*x), flaws, args.seconds),
            "verify hostile (10k digits)": rate(lambda x: task.verify(*x), hostile, args.seconds),
            "regex pass only (gold)": rate(
                lambda x: [line.fullmatch(s) for s in x[1].split("\n")], golds, args.seconds
            ),
            "flaws planted": rate(lambda p: task.flaw(p, seed=2), problems[:300], args.seconds),
        }
        if task.has("search"):
            rows["search traces written"] = rate(lambda p: task.search_trace(p), problems[:200], args.seconds)
            traces = [(p, task.search_trace(p)[0]) for p in problems[:200]]
            rows["search traces verified"] = rate(lambda x: task.verify(*x), traces, args.seconds)
        for k, v in rows.items():
            print(f"{name:10} {k:28} {v:12,.0f}")
        ratio = rows["verify gold"] / rows["regex pass only (gold)"]
        print(f"{name:10} {'verify gold / regex pass':28} {ratio:12.2f}")
        if args.corpus_rows:
            from sparring.corpus import build

            t0 = time.perf_counter()
            ds = build("critique", task, args.corpus_rows, 0)
            took = time.perf_counter() - t0
            print(f"{name:10} {f'critique corpus, {len(ds)} rows':28} {took:11.1f}s")


if __name__ == "__main__":
    main()
