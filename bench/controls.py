"""Trained positive and negative controls for every probe (issue 19, docs/probes.md).

    PYTHONPATH=src SPARRING_THREADS=1 python bench/controls.py --out runs/controls [--budget 2e12flops] [--n 200]
        [--seed 0] [--only sft,hold] [--phase all|train|probe|report]
    PYTHONPATH=src python bench/controls.py --out runs/pooled --combine A/results.json,B/results.json,...

From ``zoo:countdown-base``, one SFT model per control corpus (``sparring.corpus.controls``
and the existing recipes), each at the same budget (default 2e12 FLOPs, a third of an arm
of the full study); then every probe on its pair of models, on the same n held-out problems (seed
``--seed``), and whether the probe separated the pair: the difference of the two metrics
with a 95% interval (normal approximation from each metric's bootstrap interval over
problems, as ``lab.findings`` does for unpaired metrics) lies wholly on the expected side of 0.

Writes ``OUT/<model>/`` (checkpoints, reused when present), ``OUT/results.json`` (every
probe's metrics and intervals) and ``OUT/controls.md`` (the table docs/probes.md quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from sparring.probes import ProbeConfig, run_probes
from sparring.stats import normal_difference, pooled
from sparring.tasks import get_task

BASE = "zoo:countdown-base"
# model -> (recipe, recipe options[, other SFT options]); None: the base itself, untrained
MODELS: dict[str, tuple | None] = {
    "base": None,
    "sft": ("imitation", {}),
    "shuffled": ("perturbed", {"kind": "shuffle_steps", "rate": 1.0}),
    "paraphrase": ("paraphrase", {"share": 0.75}),
    "abstain": ("abstention", {"share": 0.3}),
    "cft-mix": ("critique_mix", {"share": 0.5}, {"batch_size": 16}),  # CFT's batch (docs/results.md)
    "hold": ("pushback", {"response": "hold", "share": 0.5}),
    "cave": ("pushback", {"response": "cave", "share": 0.5}),
    "derive": ("stated_answer", {"order": "derive"}),
    "answer-first": ("stated_answer", {"order": "answer_first"}),
}
STATED = {"answer_format": "stated", "max_new_tokens": 96}  # char prompts, answers in the tag
# (probe, metric, positive model, negative model, +1 if the positive should score higher, probe config)
PAIRS = [
    ("accuracy", "accuracy", "sft", "base", +1, {}),
    ("passk", "pass@4", "sft", "base", +1, {}),
    ("validity", "validity", "sft", "shuffled", +1, {}),
    ("critique", "first_error_accuracy", "cft-mix", "sft", +1, {}),
    ("critique", "verdict_accuracy", "cft-mix", "sft", +1, {}),
    ("gaslight", "flip_rate", "hold", "cave", -1, {}),
    ("gaslight", "flip_rate", "hold", "base", -1, {}),
    ("abstain", "f1", "abstain", "sft", +1, {}),
    ("abstain", "recall", "abstain", "sft", +1, {}),
    ("sensitivity", "pss", "paraphrase", "sft", -1, {}),
    ("infogain", "infogain", "derive", "answer-first", +1, STATED),
    ("infogain", "log_ppl_drop", "derive", "answer-first", +1, STATED),
    ("confidence", "flat_high_share", "answer-first", "derive", +1, STATED),
    ("confidence", "conf_start", "answer-first", "derive", +1, STATED),
    ("confidence", "rise", "derive", "answer-first", +1, STATED),
]
EXTRA = [("sft", "confidence,infogain", {})]  # the char style: these two must say n/a
# the budget (FLOPs) each pair is pooled over seeds at (pre-registered in docs/probes.md):
# per probe
PAIR_BUDGET = {"infogain": 6e12, "confidence": 6e12, "critique": 12e12, "gaslight": 12e12}
PAIR_BUDGET.update({p: 2e12 for p in ("accuracy", "passk", "validity", "abstain", "sensitivity")})


def train_all(out: Path, budget: str, seed: int, names: list[str]) -> dict[str, dict]:
    from sparring.train import train

    info = {}
    for name in names:
        spec = MODELS[name]
        if spec is None:
            continue
        path = out / name
        if not (path / "run.json").exists():
            recipe, options, *more = spec
            t0 = time.perf_counter()
            train(
                "sft",
                base=BASE,
                task="countdown",
                config={"recipe": recipe, "recipe_options": options, "seed": seed, **(more[0] if more else {})},
                out_dir=path,
                budget=budget,
            )
            print(f"trained {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        card = json.loads((path / "run.json").read_text())
        m = (card.get("metrics") or {}).get("train") or {}
        opts = {**spec[1], **(spec[2] if len(spec) > 2 else {})}
        info[name] = {"recipe": spec[0], "options": opts, **{k: m.get(k) for k in ("steps", "flops", "tokens")}}
    return info


def model_path(out: Path, name: str) -> str:
    return BASE if MODELS[name] is None else str(out / name)


def probe_all(out: Path, n: int, seed: int, names: set[str]) -> dict:
    task = get_task("countdown")
    jobs: dict[tuple[str, str], set[str]] = {}
    for probe, _, pos, neg, _, extra in PAIRS:
        for m in (pos, neg):
            if m in names:
                jobs.setdefault((m, json.dumps(extra, sort_keys=True)), set()).add(probe)
    for m, probes, extra in EXTRA:
        if m in names:
            jobs.setdefault((m, json.dumps(extra, sort_keys=True)), set()).update(probes.split(","))
    results: dict = {}
    for (m, extra), probes in sorted(jobs.items()):
        cfg = ProbeConfig(n=n, seed=seed, **json.loads(extra))
        t0 = time.perf_counter()
        got = run_probes(model_path(out, m), None, task, sorted(probes), config=cfg)
        for probe, r in got.items():
            results.setdefault(m, {})[f"{probe}|{extra}"] = {
                "metrics": r.metrics,
                "ci": {k: list(v) for k, v in r.ci.items()},
                "n": r.n,
                "not_applicable": r.config.get("not_applicable"),
            }
        print(f"probed {m} ({','.join(sorted(probes))}) in {time.perf_counter() - t0:.0f} s", flush=True)
    return results


def separation(results: dict) -> list[dict]:
    rows = []
    for probe, metric, pos, neg, sign, extra in PAIRS:
        key = f"{probe}|{json.dumps(extra, sort_keys=True)}"
        a, b = results.get(pos, {}).get(key), results.get(neg, {}).get(key)
        row = {"probe": probe, "metric": metric, "positive": pos, "negative": neg, "expect": sign}
        if a is None or b is None:
            rows.append({**row, "verdict": "not run"})
            continue
        va, vb = a["metrics"].get(metric), b["metrics"].get(metric)
        ca, cb = a["ci"].get(metric), b["ci"].get(metric)
        row.update(pos_value=va, pos_ci=ca, neg_value=vb, neg_ci=cb, n=a["n"])
        if va is None or vb is None:
            rows.append({**row, "verdict": "undefined"})
            continue
        rows.append({**row, **compared(pooled([va], [ca]), pooled([vb], [cb]), sign)})
    return rows


def compared(pos: tuple[float, float], neg: tuple[float, float], sign: int) -> dict:
    """The difference of two (mean, standard error) and whether it lies on the expected side."""
    diff, (lo, hi) = normal_difference(pos, neg)
    ok = lo > 0 if sign > 0 else hi < 0
    return {"diff": diff, "diff_ci": [lo, hi], "verdict": "separated" if ok else "not separated"}


def flops_of(budget: str) -> float:
    return float(budget.lower().removesuffix("flops"))


def combine(files: list[str]) -> tuple[list[dict], str]:
    """Pool every pair over seeds at its pre-registered budget (``PAIR_BUDGET``; docs/probes.md).

    Each file is a ``results.json`` (or a list of ``{"args": {budget, seed}, "pairs": [...]}``);
    a pair's rows at other budgets are ignored. Per model: ``stats.pooled`` over seeds (the
    lab's rule for unpaired metrics); the difference: ``stats.normal_difference``.
    """
    runs = []
    for f in files:
        got = json.loads(Path(f).read_text())
        runs += got if isinstance(got, list) else [got]
    by_pair: dict[tuple, dict[int, dict]] = {}
    for run in runs:
        budget, seed = flops_of(run["args"]["budget"]), int(run["args"]["seed"])
        for r in run["pairs"]:
            key = (r["probe"], r["metric"], r["positive"], r["negative"])
            if "diff" in r and budget == PAIR_BUDGET[key[0]]:
                by_pair.setdefault(key, {})[seed] = r
    rows, lines = (
        [],
        [
            "| probe | metric | budget | positive | negative | per seed (pos - neg, verdict) "
            "| pooled positive | pooled negative | pooled difference [95% CI] | separated? |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ],
    )
    for key, seeds in by_pair.items():
        rs = [seeds[s] for s in sorted(seeds)]
        sign = rs[0]["expect"]
        pos = pooled([r["pos_value"] for r in rs], [r["pos_ci"] for r in rs])
        neg = pooled([r["neg_value"] for r in rs], [r["neg_ci"] for r in rs])
        row = {"pair": list(key), "seeds": sorted(seeds), "pos": pos, "neg": neg, **compared(pos, neg, sign)}
        rows.append(row)
        each = "; ".join(f"s{s}: {seeds[s]['diff']:+.3f} {seeds[s]['verdict']}" for s in sorted(seeds))
        budget = PAIR_BUDGET[key[0]]
        lines.append(
            f"| {key[0]} | {key[1]} ({'higher' if sign > 0 else 'lower'} for +) | {budget:.2g} | {key[2]} | {key[3]} "
            f"| {each} | {pos[0]:.3f} ± {1.96 * pos[1]:.3f} | {neg[0]:.3f} ± {1.96 * neg[1]:.3f} "
            f"| {row['diff']:+.3f} [{row['diff_ci'][0]:+.3f}, {row['diff_ci'][1]:+.3f}] | {row['verdict']} |"
        )
    return rows, "\n".join(lines) + "\n"


def fmt(v, ci) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def markdown(rows: list[dict], info: dict, results: dict, args) -> str:
    lines = [
        f"Controls from `{BASE}`, SFT at {args.budget} each, probes on n={args.n} held-out problems, seed {args.seed}.",
        "",
        "| probe | metric | positive control | score [95% CI] | negative control | score [95% CI] "
        "| difference [95% CI] | separated? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = "–" if "diff" not in r else f"{r['diff']:+.3f} [{r['diff_ci'][0]:+.3f}, {r['diff_ci'][1]:+.3f}]"
        lines.append(
            f"| {r['probe']} | {r['metric']} ({'higher' if r['expect'] > 0 else 'lower'} for +) | {r['positive']} | "
            f"{fmt(r.get('pos_value'), r.get('pos_ci'))} | {r['negative']} | {fmt(r.get('neg_value'), r.get('neg_ci'))} "
            f"| {d} | {r['verdict']} |"
        )
    lines += ["", "| model | recipe | options | steps | FLOPs |", "|---|---|---|---|---|"]
    for name, i in info.items():
        flops = f"{i['flops']:.2e}" if i.get("flops") else "–"
        lines.append(f"| {name} | {i['recipe']} | `{json.dumps(i['options'])}` | {i.get('steps')} | {flops} |")
    for m, probes, extra in EXTRA:
        for p in probes.split(","):
            got = results.get(m, {}).get(f"{p}|{json.dumps(extra, sort_keys=True)}")
            if got:
                lines.append(f"\n{m} / {p} with the default answer_format: not_applicable = {got['not_applicable']!r}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/controls")
    ap.add_argument("--budget", default="2e12flops")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument(
        "--phase", choices=("all", "train", "probe", "report"), default="all", help="report: re-read results.json"
    )
    ap.add_argument("--combine", default="", help="comma-separated results files: pool the pairs over seeds")
    args = ap.parse_args()
    if args.combine:
        rows, text = combine(args.combine.split(","))
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "pooled.json").write_text(json.dumps(rows, indent=1))
        return print(text)
    names = [m for m in MODELS if not args.only or m in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(MODELS) - {""}
    if unknown:
        raise SystemExit(f"--only: unknown model(s) {sorted(unknown)}; known: {list(MODELS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.phase == "report":
        saved = json.loads((out / "results.json").read_text())
        return write(out, saved["models"], saved["probes"], argparse.Namespace(**saved["args"]))
    info = train_all(out, args.budget, args.seed, names) if args.phase != "probe" else {}
    if args.phase == "train":
        return
    if not info:
        info = train_all(out, args.budget, args.seed, [m for m in names if (out / m / "run.json").exists()])
    write(out, info, probe_all(out, args.n, args.seed, set(names)), args)


def write(out: Path, info: dict, results: dict, args) -> None:
    rows = separation(results)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps({"args": vars(args), "models": info, "probes": results, "pairs": rows}, indent=1))
    os.replace(tmp, out / "results.json")
    text = markdown(rows, info, results, args)
    (out / "controls.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
