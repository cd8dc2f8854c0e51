"""The v2 base's size sweep (docs/base-v2.md): pretrain each candidate size on the v2 mix
at one FLOP budget, measure its latent skills on the *validation* partition, and apply the
pre-registered rule.

    .venv/bin/python bench/base_sweep.py --out runs/base-v2-sweep            # the sweep
    .venv/bin/python bench/base_sweep.py --out runs/base-v2-sweep --measure-only
    .venv/bin/python bench/base_sweep.py --out runs/base-v2-final --sizes CHOSEN --budget 1.2e14flops

A killed run continues from its last checkpoint when started again (``resume``). Each
size's measures go to ``OUT/SIZE/measures.json`` (so sizes can run as parallel processes
into one ``OUT``), the table to stdout and ``OUT/sweep.json``; the v1 base
(``zoo:countdown-base``) is measured beside the candidates as a reference
(``OUT/v1-reference``), never as a candidate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# ---- pre-registered (docs/base-v2.md); changing any of these is a new pre-registration
SIZES = ("tiny", "small")
BUDGET = "3e13flops"  # per candidate: the compute of the v1 base (6 N x 4.8M tokens ~ 3.05e13 FLOPs)
LEARNING_RATE = {"tiny": 3e-3, "small": 2e-3}
PRETRAIN = {
    "recipe": "pretrain",
    "recipe_options": {"mix": "v2"},
    "n": 200_000,
    "max_length": 768,
    "batch_size": 128,
    "warmup_steps": 30,
    "eval_problems": 500,
    "pass_problems": 0,  # the sweep's own pass@k below is on validation problems
    "checkpoint_every": "50steps",
}
PROBES = "accuracy,passk,critique,compare,gaslight,abstain"
PROBE_CONFIG = {
    "split": "validation",
    "n": 500,
    "seed": 0,
    "levels": [],
    "passk_samples": 8,
    "passk_ks": [1, 8],
    "temperature": 0.5,
}
HELD_OUT = "swapped_steps"
THRESHOLDS = {  # measure: (probe, metric, direction, threshold)
    "greedy accuracy": ("accuracy", "accuracy", ">=", 0.15),
    "pass@8 (T 0.5)": ("passk", "pass@8", ">=", 0.40),
    "critique verdict accuracy": ("critique", "verdict_accuracy", ">=", 0.65),
    "comparison accuracy": ("compare", "accuracy", ">=", 0.50),
    "gaslight flip rate": ("gaslight", "flip_rate", "<=", 0.90),
    "abstention recall": ("abstain", "recall", ">=", 0.20),
}
REPORTED = {  # read and reported, not part of the rule
    "flaw recall": ("critique", "flaw_recall"),
    f"flaw recall [{HELD_OUT}, held out]": ("critique", f"flaw_recall[{HELD_OUT}]"),
    f"first-error acc. [{HELD_OUT}, held out]": ("critique", f"first_error_accuracy[{HELD_OUT}]"),
    "first-error acc. (all kinds)": ("critique", "first_error_accuracy"),
    "false abstention (solvable)": ("abstain", "false_abstention"),  # added with v2.4
}


MEASURES = "measures.json"
REFERENCE = "v1-reference"


def save(path: Path, data: dict) -> None:
    """Write aside, then rename: a killed run never leaves half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def passes(value: float | None, direction: str, threshold: float) -> bool:
    return value is not None and (value >= threshold if direction == ">=" else value <= threshold)


def choose(results: dict[str, dict]) -> tuple[str, str]:
    """The pre-registered rule: the smallest size (in ``SIZES`` order) that meets every
    threshold; if none does, the size meeting the most thresholds, ties to the larger."""
    met = {
        size: sum(passes(r["measures"][m]["value"], *THRESHOLDS[m][2:]) for m in THRESHOLDS)
        for size, r in results.items()
    }
    full = [s for s in SIZES if s in met and met[s] == len(THRESHOLDS)]
    if full:
        return full[0], f"{full[0]} is the smallest size meeting all {len(THRESHOLDS)} thresholds"
    best = max(met.values())
    pick = [s for s in SIZES if met.get(s) == best][-1]
    return pick, f"no size meets every threshold; {pick} meets the most ({best}/{len(THRESHOLDS)}), ties to the larger"


def measure(source: str, task: str = "countdown") -> dict:
    from sparring.probes import run_probes

    t0 = time.perf_counter()
    res = run_probes(source, None, task, PROBES, config=PROBE_CONFIG)
    out = {}
    read = {**{m: t[:2] for m, t in THRESHOLDS.items()}, **REPORTED}  # measure -> (probe, metric)
    for name, (probe, metric) in read.items():
        r = res[probe]
        ci = r.ci.get(metric)
        out[name] = {"value": r.metrics.get(metric), "ci": list(ci) if ci else None}
    return {"measures": out, "probe_seconds": round(time.perf_counter() - t0, 1)}


def train(size: str, out: Path, budget: str) -> dict:
    from sparring.train.pretrain import pretrain

    cfg = {**PRETRAIN, "preset": size, "learning_rate": LEARNING_RATE[size]}
    from sparring.train.resume import resume_dir

    run = pretrain("countdown", out, cfg, budget, resume=resume_dir(out).exists())
    return run.metrics["train"]


def table(results: dict[str, dict]) -> str:
    names = list(THRESHOLDS) + list(REPORTED)
    cols = list(results)
    lines = ["| measure (validation) | rule | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for m in names:
        rule = " ".join(map(str, THRESHOLDS[m][2:])) if m in THRESHOLDS else "reported"
        cells = []
        for c in cols:
            v = results[c]["measures"].get(m)
            if v is None:  # a measure added after this column was measured
                cells.append("-")
                continue
            ci = v["ci"]
            cells.append(
                "n/a" if v["value"] is None else f"{v['value']:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
            )
        lines.append(f"| {m} | {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--budget", default=BUDGET)
    ap.add_argument("--measure-only", action="store_true")
    ap.add_argument("--no-reference", action="store_true", help="skip measuring zoo:countdown-base")
    ap.add_argument("--smoke", action="store_true", help="a check that the script runs: 500 rows, 20 problems")
    a = ap.parse_args(argv)
    sizes = [s.strip() for s in a.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in LEARNING_RATE]
    if bad:
        ap.error(f"--sizes: unknown size(s) {bad}; candidates: {list(LEARNING_RATE)}")
    if a.smoke:
        PRETRAIN.update(n=500, eval_problems=20)
        PROBE_CONFIG.update(n=20, n_resamples=100)
    a.out.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        d = a.out / size
        if a.measure_only and (d / MEASURES).exists():
            continue
        trained = (
            json.loads((d / "run.json").read_text())["metrics"]["train"] if a.measure_only else train(size, d, a.budget)
        )
        save(d / MEASURES, {**measure(str(d)), "train": trained})
    ref = a.out / REFERENCE
    if not a.no_reference and not (ref / MEASURES).exists():
        ref.mkdir(exist_ok=True)
        save(ref / MEASURES, measure("zoo:countdown-base"))
    results = {
        d.name: json.loads((d / MEASURES).read_text()) for d in sorted(a.out.iterdir()) if (d / MEASURES).exists()
    }
    candidates = {k: v for k, v in results.items() if k in SIZES}
    pick, why = choose(candidates) if candidates else (None, "no candidate measured yet")
    save(
        a.out / "sweep.json",
        {"budget": a.budget, "results": results, "chosen": pick, "why": why, "probe_config": PROBE_CONFIG},
    )
    print(table(results))
    print(f"chosen: {pick} ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
