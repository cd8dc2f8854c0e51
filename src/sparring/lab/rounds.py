"""Self-training rounds in a study: finding 8's rule and the per-round plot.

The ``self-train`` and ``critique-loop`` methods write one history entry per round into
run.json (``metrics.train.history``, see ``sparring.train.self_train_rounds``), which the
runner stores with the train unit. Nothing here recomputes anything from checkpoints.

**Finding 8** (METHODS.md section 3: critique in the loop keeps hard problems and solution
diversity across self-training rounds; plain self-training narrows), decided by the rule
below, fixed before any study ran (``examples/loop.yaml`` repeats it). Arms by role:
``self-train`` and ``critique-loop``, trained from the same base at the same FLOPs, same
seeds, so each seed's pool of training problems is the same for both. For each arm and
seed, *round 1* is the first round and *the last round* the arm's last; the unit of
resampling is a (seed, training problem) pair, shared by both arms (paired), and every
interval is the percentile bootstrap of ``sparring.stats`` (2,000 resamples, seed 0).

- **8a** (premise) "plain self-training narrows": the share of SFT rows on problems the
  task labels ``hard``, last round minus round 1, for ``self-train``;
  ``sum(hard rows) / sum(rows)`` per round over the resampled pairs. Replicates if the
  interval lies below 0.
- **8b** "critique in the loop keeps hard problems": that change for ``critique-loop``
  minus that change for ``self-train`` (a difference in differences). Replicates if the
  interval lies above 0, and only if 8a replicates (premise rule of ``findings.py``).
- **8c** "... and keeps solution diversity": the same difference in differences of the
  distinct correct solutions per problem in the round's data (``sum(distinct) /
  #problems with data``). Replicates if above 0, and only if 8a replicates.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparring.stats import bootstrap_ci

from .finding_row import untested_row
from .store import Store


@dataclass(frozen=True)
class LoopClaim:
    id: str
    statement: str
    published: str
    metric: str  # hard_share or distinct_per_problem
    direction: int  # +1: replicates above 0; -1: below
    premise: str = ""


LOOP_CLAIMS = [
    LoopClaim(
        "8a",
        "Plain self-training narrows: the hard share of its data falls from round 1 to the last round",
        "tail narrowing (self-training over-samples easy problems)",
        "hard_share",
        -1,
    ),
    LoopClaim(
        "8b",
        "... and critique in the loop keeps hard problems (its hard share falls less)",
        "critique-in-the-loop keeps hard problems in the data",
        "hard_share",
        1,
        "8a",
    ),
    LoopClaim(
        "8c",
        "... and keeps solution diversity (distinct correct per problem falls less)",
        "critique-in-the-loop keeps solutions diverse",
        "distinct_per_problem",
        1,
        "8a",
    ),
]
PLOTTED = (
    ("hard_share", "share of data rows on hard problems"),
    ("distinct_per_problem", "distinct correct solutions per problem (data)"),
    ("pass@k", "pass@k of the round's samples"),
    ("data_rows", "SFT rows"),
)


def histories(store: Store) -> dict[str, dict[int, dict[str, Any]]]:
    """arm -> seed -> ``metrics.train`` of every finished train unit that has rounds."""
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for u in store.units():
        if u["kind"] != "train" or u["status"] != "done" or not u["detail"]:
            continue
        train = (json.loads(u["detail"]).get("metrics") or {}).get("train") or {}
        if isinstance(train.get("history"), list) and train["history"] and isinstance(train.get("problems"), dict):
            out[u["arm"]][u["seed"]] = train
    return dict(out)


def _columns(train: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per problem id: hard flag and round-1 / last-round rows and distinct solutions."""
    first, last = train["history"][0]["per_problem"], train["history"][-1]["per_problem"]
    probs = train["problems"]
    return {
        pid: {
            "hard": float(diff == "hard"),
            "rows1": float(first["rows"][i]),
            "rowsL": float(last["rows"][i]),
            "dist1": float(first["distinct"][i]),
            "distL": float(last["distinct"][i]),
        }
        for i, (pid, diff) in enumerate(zip(probs["id"], probs["difficulty"]))
    }


def _change(c: dict[str, np.ndarray], arm: str, metric: str) -> np.ndarray:
    """Last round minus round 1 of ``metric`` for ``arm``, per bootstrap row."""

    def ratio(num, den):
        return num.sum(axis=1) / den.sum(axis=1)

    if metric == "hard_share":
        r1, rL = c[f"{arm}:rows1"], c[f"{arm}:rowsL"]
        return ratio(c["hard"] * rL, rL) - ratio(c["hard"] * r1, r1)
    d1, dL = c[f"{arm}:dist1"], c[f"{arm}:distL"]
    return ratio(dL, (dL > 0).astype(float)) - ratio(d1, (d1 > 0).astype(float))


def _effect(claim: LoopClaim, runs: dict[str, dict[int, dict]]) -> tuple[float, float, float, int] | None:
    """(effect, lo, hi, pairs) of one claim over the (seed, problem) pairs the arms share."""
    arms = ["st"] if claim.id == "8a" else ["st", "cl"]
    tables = {a: {(s, pid): v for s, t in runs[a].items() for pid, v in _columns(t).items()} for a in arms}
    keys = sorted(set.intersection(*(set(t) for t in tables.values())))
    if len(keys) < 2:
        return None
    names = ["hard"] + [f"{a}:{k}" for a in arms for k in ("rows1", "rowsL", "dist1", "distL")]
    cols = [[tables[arms[0]][k]["hard"] for k in keys]]
    cols += [[tables[a][k][f] for k in keys] for a in arms for f in ("rows1", "rowsL", "dist1", "distL")]

    def stat(*resampled: np.ndarray) -> np.ndarray:
        c = dict(zip(names, resampled))
        delta = _change(c, "st", claim.metric)
        return delta if claim.id == "8a" else _change(c, "cl", claim.metric) - delta

    with np.errstate(divide="ignore", invalid="ignore"):
        point = float(stat(*[np.asarray(col, dtype=float)[None, :] for col in cols])[0])
    ci = bootstrap_ci(cols, stat, n_resamples=2000, seed=0, name=f"finding-{claim.id}")
    if ci is None or not np.isfinite(point):
        return None
    return point, ci[0], ci[1], len(keys)


def evaluate_loop(store: Store, roles: dict[str, str], premise_verdict: dict[str, str]) -> list[dict[str, Any]]:
    """One findings row per claim of finding 8 (the columns of ``findings.evaluate``)."""
    runs = histories(store)
    out, verdicts = [], {}
    for c in LOOP_CLAIMS:
        need = ["self-train"] if c.id == "8a" else ["self-train", "critique-loop"]
        rule = f"CI {'>' if c.direction > 0 else '<'} 0" + (f", and {c.premise} replicates" if c.premise else "")
        row = untested_row(c, f"rounds.{c.metric} (last round - round 1)", rule)
        out.append(row)
        missing = [r for r in need if r not in roles]
        if missing:
            row["comparison"] = f"needs arm(s) with role {missing}"
        else:
            arms = {"st": roles["self-train"], "cl": roles.get("critique-loop", "")}
            row["comparison"] = arms["st"] if c.id == "8a" else f"{arms['cl']} vs {arms['st']}"
            res = None
            if all(arms[a] in runs for a in (["st"] if c.id == "8a" else ["st", "cl"])):
                res = _effect(c, {a: runs[arms[a]] for a in arms if arms[a] in runs})
            if res is None:
                row["verdict"] = "inconclusive (no data)"
            else:
                eff, lo, hi, n = res
                s_lo, s_hi = sorted((lo * c.direction, hi * c.direction))
                verdict = "replicates" if s_lo > 0 else "does not replicate" if s_hi < 0 else "inconclusive"
                how = f"paired bootstrap over {n} (seed, problem) pairs, round 1 vs each arm's last round"
                row.update(effect=eff, lo=lo, hi=hi, verdict=verdict, interval_verdict=verdict, method=how)
                if c.premise and verdicts.get(c.premise) != "replicates":
                    row["verdict"] = premise_verdict[verdicts.get(c.premise, "not tested by this run")]
        verdicts[c.id] = row["verdict"]
    return out


def plot_rounds(store: Store, arms: list[str], out: Path) -> list[str]:
    """``rounds.png``: per round, each self-training arm's hard share, distinct solutions
    per problem, pass@k and data size (mean over seeds); nothing when no arm has rounds."""
    runs = histories(store)
    arms = [a for a in arms if a in runs]
    if not arms:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.2 * len(PLOTTED), 3.4), squeeze=False)
    styles = [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-.")]  # arms that coincide stay visible
    for ax, (key, title) in zip(axes[0], PLOTTED):
        for i, arm in enumerate(arms):
            by_round: dict[int, list[float]] = defaultdict(list)
            for train in runs[arm].values():
                for h in train["history"]:
                    if isinstance(h.get(key), (int, float)):
                        by_round[int(h["round"])].append(float(h[key]))
            xs = sorted(by_round)
            marker, line = styles[i % len(styles)]
            ax.plot(xs, [float(np.mean(by_round[x])) for x in xs], marker=marker, ls=line, lw=1.4, label=arm)
            ax.set_xticks(xs)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"round (mean of {max(len(r) for r in runs.values())} seed(s))", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle("self-training rounds (finding 8: does the data narrow to easy problems?)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "rounds.png", dpi=110)
    plt.close(fig)
    return ["rounds.png"]
