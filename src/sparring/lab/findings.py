"""The findings of METHODS.md section 3, each decided by a fixed rule from the stored results.

Every finding compares arms found by *role* (an arm's ``role``, by default its name: base,
sft, sft-noisy, sft-verified, sft-search, cft, grpo, sft-grpo, raro, clean, shuffled,
corrupted...). A finding whose arms are absent is "not tested by this run".

Effect and interval:
- When both arms have per-problem records of the metric (accuracy: ``correct`` on the ID
  test problems), the effect is the difference of means over the problems both arms saw
  (all seeds pooled), with a *paired* percentile bootstrap over problems (2,000 resamples,
  seed 0).
- Otherwise (validity, infogain, flip rate, abstention recall...), the effect is the
  difference of the seed-averaged metric and its interval the normal approximation
  ``effect +- 1.96 * sqrt(se_a^2 + se_b^2)`` with each ``se = (hi - lo) / 3.92`` from the
  probe's own bootstrap interval (unpaired, hence conservative).

Verdict rule (``RULE`` below, printed in every report): with the effect signed so that the
published direction is positive and a threshold ``t`` (0, or ``-margin`` for "approaches"
claims): **replicates** if the interval's lower end > t; **does not replicate** if its
upper end < t; otherwise **inconclusive**.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparring.stats import paired_difference

from .store import Store

RULE = (
    "Effect = metric(A) - metric(B), signed so the published direction is positive. "
    "Replicates if the 95% interval lies above the threshold (0, or -margin for "
    "'approaches' claims); does not replicate if it lies below; else inconclusive."
)


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    published: str
    a: str  # role whose metric is compared ...
    b: str | tuple[str, ...]  # ... against this role (a tuple: the best of them)
    probe: str
    metric: str
    direction: int = 1  # +1: published says metric(a) > metric(b)
    margin: float = 0.0


CLAIMS = [
    Claim(
        "1",
        "CFT on noisy solutions beats SFT on the same problems",
        "avg of 6 math benchmarks: CFT 57.1 vs SFT 35.1",
        "cft",
        "sft",
        "accuracy",
        "accuracy",
    ),
    Claim(
        "1b",
        "CFT beats SFT on verified solutions",
        "CFT 57.1 vs SFT-verified 40.4",
        "cft",
        "sft-verified",
        "accuracy",
        "accuracy",
    ),
    Claim("2a", "Imitation raises accuracy", "(premise of finding 2)", "sft", "base", "accuracy", "accuracy"),
    Claim(
        "2b",
        "... while trace validity falls",
        "validity falls under imitation",
        "sft",
        "base",
        "validity",
        "validity",
        direction=-1,
    ),
    Claim(
        "2c",
        "... and information gain falls",
        "SFT -38.9% InfoGain",
        "sft",
        "base",
        "infogain",
        "infogain",
        direction=-1,
    ),
    Claim(
        "3",
        "Search traces beat optimal-path traces",
        "SoS: ~51% vs ~26% held out",
        "sft-search",
        "sft",
        "accuracy",
        "accuracy",
    ),
    Claim(
        "4",
        "Imitation then RLVR beats either alone",
        "SRL->RLVR 28.3 vs SRL 27.6 / RLVR 24.5",
        "sft-grpo",
        ("sft", "grpo"),
        "accuracy",
        "accuracy",
    ),
    Claim(
        "5a",
        "A critic game without a verifier improves on the base",
        "RARO 54.4% (Countdown 1.5B)",
        "raro",
        "base",
        "accuracy",
        "accuracy",
    ),
    Claim(
        "5b",
        "... and approaches RLVR (within 10 points)",
        "RARO 54.4% vs RLVR 57.7%",
        "raro",
        "grpo",
        "accuracy",
        "accuracy",
        margin=0.10,
    ),
    Claim(
        "6",
        "Shuffling steps hurts more than corrupting digits",
        "digits 50%: -2.1 points; steps shuffled: -9 to -13",
        "corrupted",
        "shuffled",
        "accuracy",
        "accuracy",
    ),
    Claim(
        "7a",
        "Outcome-trained models under-abstain",
        "(RL lowers abstention)",
        "grpo",
        "sft",
        "abstain",
        "recall",
        direction=-1,
    ),
    Claim(
        "7b",
        "Reasoning-trained models flip more under gaslighting",
        "accuracy drop 25-29%",
        "grpo",
        "base",
        "gaslight",
        "flip_rate",
    ),
]


def _metric(store: Store, arm: str, probe: str, metric: str) -> tuple[float, float] | None:
    """(mean over seeds, standard error from the CIs) of one arm's metric."""
    rows = [
        r
        for r in store.metrics()
        if r["arm"] == arm and r["probe"] == probe and r["metric"] == metric and r["value"] is not None
    ]
    if not rows:
        return None
    mean = float(np.mean([r["value"] for r in rows]))
    ses = [(r["hi"] - r["lo"]) / 3.92 for r in rows if r["lo"] is not None]
    se = math.sqrt(sum(s * s for s in ses)) / len(ses) if ses else 0.0
    return mean, se


def _paired(store: Store, a: str, b: str) -> tuple[float, float, float, int] | None:
    """Paired bootstrap of accuracy(a) - accuracy(b) over shared ID problems."""
    ra, rb = store.records(a, "accuracy"), store.records(b, "accuracy")

    def table(recs):
        return {(seed, r["id"]): float(r["correct"]) for seed, rs in recs.items() for r in rs if r.get("level") == "id"}

    ta, tb = table(ra), table(rb)
    keys = sorted(set(ta) & set(tb))
    if len(keys) < 2:
        return None
    mean, (lo, hi) = paired_difference(
        [ta[k] for k in keys], [tb[k] for k in keys], n_resamples=2000, seed=0, name=f"{a}-{b}"
    )
    return mean, lo, hi, len(keys)


def _effect(store: Store, claim: Claim, a: str, b: str) -> tuple[float, float, float, str] | None:
    if claim.probe == "accuracy" and claim.metric == "accuracy":
        p = _paired(store, a, b)
        if p is not None:
            return p[0], p[1], p[2], f"paired bootstrap over {p[3]} problems"
    ma, mb = _metric(store, a, claim.probe, claim.metric), _metric(store, b, claim.probe, claim.metric)
    if ma is None or mb is None:
        return None
    eff = ma[0] - mb[0]
    half = 1.96 * math.sqrt(ma[1] ** 2 + mb[1] ** 2)
    return eff, eff - half, eff + half, "normal approximation from the probes' intervals"


def evaluate(store: Store, roles: dict[str, str]) -> list[dict[str, Any]]:
    """One row per claim: arms, effect, interval, verdict (or why it was not tested)."""
    out = []
    for c in CLAIMS:
        row = {
            "id": c.id,
            "statement": c.statement,
            "published": c.published,
            "metric": f"{c.probe}.{c.metric}",
            "verdict": "not tested by this run",
            "effect": None,
            "lo": None,
            "hi": None,
            "comparison": "",
            "method": "",
        }
        bs = c.b if isinstance(c.b, tuple) else (c.b,)
        if c.a not in roles or not all(b in roles for b in bs):
            missing = [r for r in (c.a, *bs) if r not in roles]
            row["comparison"] = f"needs arm(s) with role {missing}"
            out.append(row)
            continue
        if len(bs) > 1:  # compare against the better of the alternatives (point estimate)
            vals = {b: _metric(store, roles[b], c.probe, c.metric) for b in bs}
            bs = (max((b for b in bs if vals[b]), key=lambda b: vals[b][0] * c.direction, default=bs[0]),)
        a, b = roles[c.a], roles[bs[0]]
        res = _effect(store, c, a, b)
        row["comparison"] = f"{a} vs {b}"
        if res is None:
            row["verdict"] = "inconclusive (no data)"
            out.append(row)
            continue
        eff, lo, hi, how = res
        s_lo, s_hi = sorted((lo * c.direction, hi * c.direction))
        t = -c.margin
        verdict = "replicates" if s_lo > t else "does not replicate" if s_hi < t else "inconclusive"
        row.update(effect=eff, lo=lo, hi=hi, verdict=verdict, method=how)
        out.append(row)
    return out
