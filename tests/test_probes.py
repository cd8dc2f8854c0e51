"""Probes validated against scripted responders whose answers are known."""

from __future__ import annotations

import json
import math
from math import comb

import pytest

from sparring.probes import (
    PROBES,
    ProbeConfig,
    ScriptedResponder,
    bootstrap_ci,
    gold_responder,
    pass_at_k,
    probe_names,
    prosa_s,
    run_probes,
)
from sparring.probes.confidence import cut_points
from sparring.probes.oracles import ProblemIndex, constant_loglik
from sparring.tasks import get_task
from sparring.tasks.base import seeded_rng

N = 40
CFG = ProbeConfig(n=N, seed=0, n_resamples=300)


@pytest.fixture(scope="module")
def task(countdown):
    return countdown


@pytest.fixture(scope="module")
def gold(task):
    r = gold_responder(task, config=CFG)
    r.loglik = constant_loglik(-0.01)
    return r


@pytest.fixture(scope="module")
def battery(task, gold):
    return run_probes(gold, None, task, "all", config=CFG)


def test_gold_scores_perfectly(battery):
    acc = battery["accuracy"].metrics
    assert acc["accuracy"] == 1.0
    assert acc["accuracy[ood-n]"] == 1.0 and acc["accuracy[ood-target]"] == 1.0
    assert battery["validity"].metrics["validity"] == 1.0
    assert battery["validity"].metrics["surface_rate"] == 0.0
    assert battery["sensitivity"].metrics["pss"] == 0.0
    ab = battery["abstain"].metrics
    assert ab["f1"] == 1.0 and ab["recall"] == 1.0 and ab["false_abstention"] == 0.0
    assert 0.2 < ab["unsolvable_share"] < 0.8  # really a mixed set
    assert battery["gaslight"].metrics["flip_rate"] == 0.0
    assert battery["passk"].metrics["pass@16"] == 1.0
    crit = battery["critique"].metrics  # the gold responder is a verifier-exact critic
    assert crit["verdict_accuracy"] == 1.0 and crit["first_error_accuracy"] == 1.0
    assert 0.0 < crit["flaw_recall"] and 0.0 < crit["right_recall"]


def test_every_result_is_complete_and_json_safe(battery):
    assert list(battery) == list(PROBES)
    for name, r in battery.items():
        applies = r.metrics.get("not_applicable") != 1.0  # else: n/a, no records (char style)
        assert r.probe == name and r.primary in r.metrics and (r.records or not applies), name
        for metric, ci in r.ci.items():
            assert ci[0] <= r.metrics[metric] + 1e-9 and r.metrics[metric] <= ci[1] + 1e-9, (name, metric)
        json.dumps(r.to_dict())


def test_flip_rates_of_scripted_responders(task):
    always = gold_responder(task, config=CFG, on_negation="flip")
    never = gold_responder(task, config=CFG, on_negation="keep")
    flip = run_probes(always, None, task, "gaslight", config=CFG)["gaslight"].metrics
    keep = run_probes(never, None, task, "gaslight", config=CFG)["gaslight"].metrics
    assert flip["flip_rate"] == 1.0 and flip["accuracy_drop"] == 1.0
    assert keep["flip_rate"] == 0.0 and keep["accuracy_drop"] == 0.0


def test_gaslight_control_counts_self_correction(task):
    """Wrong at turn 1, right after the push: correction rate 1, flip rate undefined."""
    index = ProblemIndex(task, task.problems("test", n=N, seed=0))

    def answer(prompt, j):
        p, _ = index.find(prompt)
        return task.solve(p) if isinstance(prompt, list) else "No solution"

    m = run_probes(ScriptedResponder(answer), None, task, "gaslight", config=CFG)["gaslight"].metrics
    assert m["correction_rate"] == 1.0 and m["flip_rate"] is None and m["accuracy_drop"] == -1.0


def test_negation_prompt_quotes_a_plausible_wrong_answer(task):
    seen = []

    def answer(prompt, j):
        if isinstance(prompt, list):
            seen.append(prompt)
        return ""

    run_probes(ScriptedResponder(answer), None, task, "gaslight", config=ProbeConfig(n=12))
    templates = {conv[2]["content"].split(" ")[0] for conv in seen}
    assert len(seen) == 12 and len(templates) >= 2
    assert all([m["role"] for m in conv] == ["user", "assistant", "user"] for conv in seen)


def test_pass_at_k_hand_cases():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - comb(3, 2) / comb(4, 2))  # 0.5
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)
    assert pass_at_k(16, 0, 4) == 0.0 and pass_at_k(16, 16, 16) == 1.0
    assert pass_at_k(16, 3, 16) == 1.0
    for n, c, k in [(16, 3, 4), (20, 7, 5), (10, 1, 10)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_passk_probe_matches_hand_computation(task):
    """Problem i is solved by the first c_i = i % 5 of 8 samples."""
    problems = task.problems("test", n=20, seed=0)
    index = ProblemIndex(task, problems)
    order = {p.id: i for i, p in enumerate(problems)}

    def answer(prompt, j):
        p, _ = index.find(prompt)
        return task.solve(p) if j < order[p.id] % 5 else "1+1=2"

    cfg = ProbeConfig(n=20, passk_samples=8, passk_ks=(1, 4, 8), n_resamples=200)
    m = run_probes(ScriptedResponder(answer), None, task, "passk", config=cfg)["passk"].metrics
    for k in (1, 4, 8):
        expected = sum(pass_at_k(8, i % 5, k) for i in range(20)) / 20
        assert m[f"pass@{k}"] == pytest.approx(expected)
    assert m["distinct_correct"] == pytest.approx(sum(1 for i in range(20) if i % 5) / 20)
    shares = [v for k, v in m.items() if k.startswith("success_share[")]
    assert sum(shares) == pytest.approx(1.0)


def test_prosa_hand_cases(task):
    assert prosa_s([1, 0, 0, 1]) == pytest.approx(4 / 6)
    assert prosa_s([1, 1, 1, 1]) == 0.0 and prosa_s([0, 0, 0, 0]) == 0.0
    assert prosa_s([1, 0]) == 1.0
    assert prosa_s([1, 0, 0, 0]) == pytest.approx(3 / 6)
    sensitive = gold_responder(task, config=CFG, templates=[0, 3])  # right on 2 of 4 templates
    m = run_probes(sensitive, None, task, "sensitivity", config=CFG)["sensitivity"].metrics
    assert m["pss"] == pytest.approx(4 / 6)
    assert m["accuracy[t0]"] == 1.0 and m["accuracy[t1]"] == 0.0 and m["consistent"] == 0.0


def _coin(task, seed=0):
    """Right on a pseudo-random half of the problems (fixed per problem)."""
    index = ProblemIndex(task, task.problems("test", n=400, seed=0))

    def answer(prompt, j):
        p, _ = index.find(prompt)
        return task.solve(p) if seeded_rng("coin", p.id, seed).random() < 0.5 else "No solution"

    return ScriptedResponder(answer)


def test_ci_width_shrinks_as_n_grows(task):
    coin = _coin(task)
    widths = []
    for n in (25, 100, 400):
        r = run_probes(coin, None, task, "accuracy", config=ProbeConfig(n=n, levels=()))["accuracy"]
        assert 0.2 < r.metrics["accuracy"] < 0.8
        widths.append(r.width("accuracy"))
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[0] / widths[2] > 2.5  # ~ sqrt(16) = 4 in theory


def test_bootstrap_is_seeded():
    vals = [0.13, 0.91, 0.42, 0.07, 0.66, 0.35, 0.28, 0.84, 0.59, 0.71, 0.02, 0.49]
    a = bootstrap_ci(vals, seed=3, name="m")
    assert a == bootstrap_ci(vals, seed=3, name="m")
    assert a != bootstrap_ci(vals, seed=4, name="m")
    assert bootstrap_ci([], seed=0) is None
    lo, hi = bootstrap_ci([1.0] * 10)
    assert lo == hi == 1.0


def test_infogain_hand_case(task):
    """PPL 10 after the prompt, 4 after a step: gain = (10 - 4) / 3 per problem (N = 2 steps).
    The char style states no answer: by default the probe reports n/a, never a number."""

    def loglik(pairs):
        out = []
        for ctx, cont in pairs:
            assert ctx.endswith("<answer>") and cont.endswith("</answer>")
            steps = ctx.count("\n") - 1  # the prompt ends with one newline
            ppl = 10.0 if steps == 0 else 4.0
            out.append((-math.log(ppl) * len(cont), len(cont)))
        return out

    r = ScriptedResponder(lambda p, j: "", loglik=loglik)
    m = run_probes(r, None, task, "infogain", config=ProbeConfig(n=20, n_resamples=100, answer_format="stated"))
    m = m["infogain"]
    assert m.config["answer_read"] == "char"
    assert m.metrics["infogain"] == pytest.approx((10 - 4) / 3)
    assert m.metrics["ppl[step=0]"] == pytest.approx(10.0) and m.metrics["ppl[step=1]"] == pytest.approx(4.0)
    na = run_probes(r, None, task, "infogain", config=ProbeConfig(n=20))["infogain"]
    assert na.metrics == {"infogain": None, "not_applicable": 1.0} and "char style" in na.config["not_applicable"]


def test_confidence_flat_high_threshold(task, gold):
    sure = ScriptedResponder(gold.answer, loglik=constant_loglik(0.0))  # probability 1 everywhere
    unsure = ScriptedResponder(gold.answer, loglik=constant_loglik(-1.0))
    cfg = ProbeConfig(n=20, n_resamples=100, answer_format="stated")
    hi = run_probes(sure, None, task, "confidence", config=cfg)["confidence"].metrics
    lo = run_probes(unsure, None, task, "confidence", config=cfg)["confidence"].metrics
    assert hi["flat_high_share"] == 1.0 and hi["rise"] == 0.0
    assert lo["flat_high_share"] == 0.0
    assert cut_points(4, 5) == [0, 1, 2, 3, 4] and cut_points(1, 5) == [0, 1] and cut_points(0, 5) == [0]
    na = run_probes(sure, None, task, "confidence", config=ProbeConfig(n=20))["confidence"]
    assert na.metrics["flat_high_share"] is None and na.metrics["not_applicable"] == 1.0


class _Raw:
    """Returns whatever objects it is given, not even strings (model output is untrusted)."""

    junk = ["9" * 20_000, "\x00", "1/0=1\n" * 600, "No solution.\n" * 3, None, 42, "", ["x"]]

    def generate(self, prompts, *, n_samples=1, temperature=0.0, max_new_tokens=64, seed=0, stop=()):
        return [[self.junk[(i + j) % len(self.junk)] for j in range(n_samples)] for i in range(len(prompts))]


def test_hostile_outputs_score_zero_and_never_raise(task):
    res = run_probes(
        _Raw(),
        None,
        task,
        "accuracy,validity,abstain,passk,critique",
        config=ProbeConfig(n=10, passk_samples=4, passk_ks=(1, 4)),
    )
    assert res["accuracy"].metrics["accuracy"] == 0.0
    assert res["critique"].metrics["parse_rate"] == 0.0


def test_bad_input_is_one_clear_error(task, gold):
    with pytest.raises(ValueError, match="unknown probe 'nope'"):
        run_probes(gold, None, task, "accuracy,nope")
    for n in (0, -3):
        with pytest.raises(ValueError, match="n: must be a positive integer"):
            run_probes(gold, None, task, "accuracy", n=n)
    with pytest.raises(ValueError, match="unknown field"):
        run_probes(gold, None, task, "accuracy", config={"bogus": 1})
    with pytest.raises(ValueError, match="passk_ks"):
        ProbeConfig(passk_samples=4, passk_ks=(1, 8)).validate()
    with pytest.raises(ValueError, match="answer_format"):
        run_probes(gold, None, task, "infogain", config=ProbeConfig(n=5, answer_format="{final_line}"))
    with pytest.raises(ValueError, match="Responder"):
        run_probes(object(), None, task, "accuracy", n=5)
    assert probe_names("all") == list(PROBES) and probe_names("passk, accuracy") == ["passk", "accuracy"]


def test_arith_task_runs_the_battery():
    arith = get_task("arith")
    cfg = ProbeConfig(n=15, n_resamples=100, passk_samples=4, passk_ks=(1, 4))
    r = gold_responder(arith, config=cfg)
    r.loglik = constant_loglik(-0.1)
    res = run_probes(r, None, arith, "all", config=cfg)
    assert res["accuracy"].metrics["accuracy"] == 1.0 and res["sensitivity"].metrics["pss"] == 0.0
    assert res["abstain"].metrics["f1"] == 1.0 and res["critique"].metrics["verdict_accuracy"] == 1.0


def test_linear_task_runs_the_probes_its_capabilities_allow():
    """A task without steps: "all" leaves out the step probes, the critique probe reports
    verdicts only, and the scripted controls score as they must."""
    import re

    lin = get_task("linear")
    cfg = ProbeConfig(n=15, n_resamples=100, passk_samples=4, passk_ks=(1, 4))
    res = run_probes(gold_responder(lin, config=cfg), None, lin, "all", config=cfg)
    assert not {"validity", "infogain", "confidence"} & set(res)
    assert res["accuracy"].metrics["accuracy"] == 1.0 and res["accuracy"].metrics["accuracy[ood-both]"] == 1.0
    assert res["sensitivity"].metrics["pss"] == 0.0 and res["abstain"].metrics["f1"] == 1.0
    crit = res["critique"]
    assert crit.primary == "verdict_accuracy" and crit.metrics["verdict_accuracy"] == 1.0
    assert not any(m.startswith("first_error") for m in crit.metrics)
    assert res["gaslight"].metrics["flip_rate"] == 0.0
    with pytest.raises(ValueError, match="probe 'validity' needs the 'steps' capability, which task 'linear'"):
        run_probes(gold_responder(lin, config=cfg), None, lin, "accuracy,validity", config=cfg)

    index = ProblemIndex(lin, lin.problems("test", n=cfg.n, seed=0))

    def adopts(prompt, j):  # right at turn 1, then writes exactly the suggested wrong answer
        p, _ = index.find(prompt)
        if isinstance(prompt, list) and len(prompt) > 1:
            suggested = re.search(r"(-?[0-9]+)[.]$", prompt[-1]["content"])[1]
            return f"<answer>{suggested}</answer>"
        return lin.solve(p)

    m = run_probes(ScriptedResponder(adopts), None, lin, "gaslight", config=cfg)["gaslight"].metrics
    assert m["flip_rate"] == 1.0 and m["adopt_rate"] == 1.0


def test_run_json_critique_numbers_are_the_critique_probes(task):
    """CFT's run card (train.evaluate.critique_accuracy) and the critique probe are one
    evaluation: the same items and metrics for the same model, n and seed. The model here
    calls every solution wrong at step 1, so the metrics are neither all 0 nor all 1."""
    from sparring.train.evaluate import critique_accuracy

    says_wrong = ScriptedResponder(lambda p, j: "Step 1: ?\nCorrectness: wrong\nConclusion: wrong\n[END]")
    card = critique_accuracy(says_wrong, None, task, n=60, seed=3)
    probe = run_probes(says_wrong, None, task, "critique", n=60, seed=3)["critique"]
    assert {k: card[k] for k in probe.metrics} == pytest.approx(probe.metrics)
    assert card["n"] == probe.n == 60 and card["flaw_recall"] == 1.0 and card["right_recall"] == 0.0
    assert 0 < card["verdict_accuracy"] < 1 and 0 < card["first_error_accuracy"] < 1
