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

Verdict rule (``RULE`` below, printed in every report; each claim's own threshold is
printed beside it, ``rule_of``): with the effect signed so that the published direction is
positive and a threshold ``t`` (0, or ``-margin`` for "approaches" claims): **replicates**
if the interval's lower end > t; **does not replicate** if its upper end < t; otherwise
**inconclusive**.

Premise rule (composite findings): a claim written "... and ..." continues another one, its
*premise* (2b and 2c rest on 2a "imitation raises accuracy"; 5b "approaches RLVR" on 5a
"improves on the base"), and means something only if the premise holds: RARO "within 10
points of GRPO" says nothing about the critic game when RARO fell below the base and GRPO
barely moved. Such a claim gets the interval verdict above only when its premise
replicates; otherwise it reads **premise failed** (the premise does not replicate),
**premise inconclusive** (the premise's interval straddles its threshold, or it had no
data), or **premise not tested** (the run lacks the premise's arms). Its effect and
interval are still reported (``interval_verdict``: what the interval alone says).

Finding 8 (self-training narrows, critique in the loop does not) is decided from the
training rounds, not from probes: ``rounds.py`` holds its claims and rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparring.stats import normal_difference, paired_difference, pooled

from .finding_row import untested_row
from .store import Store


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
    premise: str = ""  # id of the claim this one rests on (see the premise rule)


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
        premise="2a",
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
        premise="2a",
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
        premise="5a",
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


NOT_APPLICABLE = "not_applicable"  # the metric a probe reports (1.0) when it does not apply
NA_NOTE = "docs/probes.md: e.g. confidence and information gain read an answer the char style never states"


def _not_applicable(store: Store, arm: str, probe: str) -> bool:
    """Whether ``probe`` reported on every seed of ``arm`` that it does not apply."""
    flags = [
        r["value"] == 1.0
        for r in store.metrics()
        if r["arm"] == arm and r["probe"] == probe and r["metric"] == NOT_APPLICABLE
    ]
    return bool(flags) and all(flags)


PREMISE_VERDICT = {  # the premise's verdict -> a dependent claim's, when not "replicates"
    "does not replicate": "premise failed",
    "premise failed": "premise failed",
    "inconclusive": "premise inconclusive",
    "inconclusive (no data)": "premise inconclusive",
    "not applicable": "premise not tested",
    "premise inconclusive": "premise inconclusive",
    "not tested by this run": "premise not tested",
    "premise not tested": "premise not tested",
}


def _premises() -> str:
    by: dict[str, list[str]] = {}
    for c in CLAIMS:
        if c.premise:
            by.setdefault(c.premise, []).append(c.id)
    return "; ".join(f"{' and '.join(deps)} on {p}" for p, deps in by.items())


RULE = (
    "Effect = metric(A) - metric(B), signed so the published direction is positive. "
    "Replicates if the 95% interval lies above the threshold (0, or -margin for "
    "'approaches' claims; each claim's is in the 'replicates if' column); does not "
    "replicate if it lies below; else inconclusive. "
    f"Premise rule: a claim that rests on another ({_premises()}) gets that verdict only "
    "if its premise replicates; otherwise it reads premise failed (the premise does not "
    "replicate), premise inconclusive, or premise not tested. "
    "Finding 8 compares self-training rounds (round 1 vs the last round of each arm's "
    "run.json history, a paired bootstrap over (seed, training problem) pairs; lab/rounds.py)."
)


def rule_of(c: Claim) -> str:
    """One claim's decision rule, as the report prints it: where its effect's 95% interval
    must lie to replicate (and on which premise it rests)."""
    t = -c.margin * c.direction  # the threshold on the unsigned effect
    bound = "0" if t == 0 else f"{t:+.2f}"
    rule = f"CI {'>' if c.direction > 0 else '<'} {bound}"
    return rule + (f", and {c.premise} replicates" if c.premise else "")


def _metric(store: Store, arm: str, probe: str, metric: str) -> tuple[float, float] | None:
    """(mean over seeds, standard error from the CIs) of one arm's metric."""
    rows = [
        r
        for r in store.metrics()
        if r["arm"] == arm and r["probe"] == probe and r["metric"] == metric and r["value"] is not None
    ]
    if not rows:
        return None
    return pooled([r["value"] for r in rows], [(r["lo"], r["hi"]) if r["lo"] is not None else None for r in rows])


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
    eff, (lo, hi) = normal_difference(ma, mb)
    return eff, lo, hi, "normal approximation from the probes' intervals"


def evaluate(store: Store, roles: dict[str, str]) -> list[dict[str, Any]]:
    """One row per claim: arms, effect, interval, verdict (or why it was not tested), the
    claim's rule, and for a claim with a premise what its interval alone says."""
    out = []
    verdicts: dict[str, str] = {}
    for c in CLAIMS:
        row = untested_row(c, f"{c.probe}.{c.metric}", rule_of(c))
        out.append(row)
        bs = c.b if isinstance(c.b, tuple) else (c.b,)
        if c.a not in roles or not all(b in roles for b in bs):
            missing = [r for r in (c.a, *bs) if r not in roles]
            row["comparison"] = f"needs arm(s) with role {missing}"
        else:
            if len(bs) > 1:  # compare against the better of the alternatives (point estimate)
                vals = {b: _metric(store, roles[b], c.probe, c.metric) for b in bs}
                bs = (max((b for b in bs if vals[b]), key=lambda b: vals[b][0] * c.direction, default=bs[0]),)
            a, b = roles[c.a], roles[bs[0]]
            res = _effect(store, c, a, b)
            row["comparison"] = f"{a} vs {b}"
            if any(_not_applicable(store, arm, c.probe) for arm in (a, b)):
                row["verdict"] = "not applicable"
                row["method"] = f"the {c.probe} probe does not apply ({NA_NOTE})"
            elif res is None:
                row["verdict"] = "inconclusive (no data)"
            else:
                eff, lo, hi, how = res
                s_lo, s_hi = sorted((lo * c.direction, hi * c.direction))
                t = -c.margin
                verdict = "replicates" if s_lo > t else "does not replicate" if s_hi < t else "inconclusive"
                row.update(effect=eff, lo=lo, hi=hi, verdict=verdict, interval_verdict=verdict, method=how)
                if c.premise and verdicts.get(c.premise) != "replicates":
                    row["verdict"] = PREMISE_VERDICT[verdicts.get(c.premise, "not tested by this run")]
        verdicts[c.id] = row["verdict"]
    from .rounds import evaluate_loop  # finding 8 reads the self-training rounds

    return out + evaluate_loop(store, roles, PREMISE_VERDICT)
