"""Tests for RARO (sparring.train.raro): the verdict parser against hostile critic output,
the reward matrix, constrained critic decoding, the verifier-free training path, every
ablation switch, smoke training on the `test` preset, and the tournament reranker."""

from __future__ import annotations

import json
import random
import sys

import pytest
import torch

from sparring.models import load_model, make_model
from sparring.tasks import Countdown
from sparring.train import METHODS, train
from sparring.train.raro import RAROOptions
from sparring.train.raro.game import (
    PAIRWISE_LABELS,
    POINTWISE_LABELS,
    Game,
    ReplayBuffer,
    Triple,
    critic_reward,
    parse_verdict,
    policy_reward,
)
from sparring.train.raro.judging import CriticJudge
from sparring.train.raro.planning import CriticBatchPlanner
from sparring.train.raro.rerank import rerank, tournament
from sparring.train.raro.sampling import CriticSampler
from sparring.train.variants import get_advantage

dr_grpo_advantages = get_advantage("mean")  # RARO's default (loss dr_grpo), unscorable rows skipped

FAST = {
    "n": 16,
    "prompts_per_step": 2,
    "num_generations": 4,
    "max_completion_length": 8,
    "drop_truncated": False,
    "reasoning_tokens": 4,
    "critic_pairs": 4,
    "eval_problems": 0,
    "show_progress": False,
    "logging_steps": 1,
    "learning_rate": 1e-3,
}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


# ---- the verdict parser ----------------------------------------------------------------
@pytest.mark.parametrize(
    "text,label",
    [
        ("Verdict: 1", "1"),
        ("Verdict: 2", "2"),
        ("Verdict: tie", "tie"),
        ("Verdict:tie", "tie"),
        ("answer 2 skips a number\nVerdict: 1", "1"),
        ("thinking\n\nVerdict: 2\n\n", "2"),
        ("  Verdict: TIE  ", "tie"),
        ("answer 1 and answer 2 differ\nVerdict: 2", "2"),
    ],
)
def test_parse_accepts_one_final_verdict_line(text, label):
    assert parse_verdict(text) == label


@pytest.mark.parametrize(
    "text",
    [
        "answer 1 ... answer 2 ... Verdict: tie",  # verdict not alone on its line
        "answer 1 is right",  # no verdict
        "",
        "Verdict: 1\nVerdict: 2",  # two verdict lines
        "Verdict: 2\nVerdict: 2",
        "Verdict: 1\nbut on reflection answer 2",  # verdict in the middle
        "the verdict: 1 looks right\nVerdict: 1",  # a second verdict mention
        "Verdict: 3",
        "Verdict: 1 or 2",
        "Verdict: 1.",
        "Verdict: answer 1",
        "verdict: 1",
        "Verdict: expert",  # a pointwise label to a pairwise critic
        "Verdict: \n1",
        "x" * 10_000 + "\nVerdict: 1",
        "Verdict: 1\x00",
        None,
        7,
        ["Verdict: 1"],
    ],
)
def test_parse_rejects_hostile_critic_output(text):
    assert parse_verdict(text) is None


def test_parse_label_sets():
    assert parse_verdict("Verdict: tie", ("1", "2")) is None  # the no-tie ablation
    assert parse_verdict("Verdict: expert", POINTWISE_LABELS) == "expert"
    assert parse_verdict("Verdict: 1", POINTWISE_LABELS) is None


def test_reward_matrix():
    assert (critic_reward("1", "1", 0.55), policy_reward("1", "2", 0.6)) == (1.0, 0.0)
    assert (critic_reward("2", "1", 0.55), policy_reward("2", "2", 0.6)) == (0.0, 1.0)
    assert (critic_reward("tie", "1", 0.55), policy_reward("tie", "2", 0.6)) == (0.55, 0.6)
    assert (critic_reward(None, "1", 0.55), policy_reward(None, "2", 0.6)) == (0.0, 0.0)
    j = Game(tie=False).judgement(Triple("1,2:3\n", "1+2=3", "2+1=3"), random.Random(0))
    assert Game(tie=False).rewards("tie", j) == (0.0, 0.0)  # tie is no label without ties


def test_judgement_order_is_random_and_keyed():
    g, rng = Game(), random.Random(0)
    t = Triple("3,7,9:30\n", "7*3=21\n21+9=30", "9*3=27\n27+7=34")
    seen = set()
    for _ in range(40):
        j = g.judgement(t, rng)
        first = j.prompt.split("\n1:")[1].split("\n2:")[0]
        assert (first == t.expert) == (j.truth == "1") and {j.truth, j.fooled} == {"1", "2"}
        assert j.prompt.startswith("3,7,9:30?\n1:")
        seen.add(j.truth)
    assert seen == {"1", "2"}
    p = Game(pointwise=True)
    jp = p.judgement(t, rng)
    assert "\n2:" not in jp.prompt and t.answer in jp.prompt and (jp.truth, jp.fooled) == ("policy", "expert")
    je = p.judgement(Triple(t.question, t.expert, None), rng)
    assert t.expert in je.prompt and (je.truth, je.fooled) == ("expert", None)


def test_replay_buffer():
    buf = ReplayBuffer(3, seed=0)
    buf.add(Triple("q", "e", str(i)) for i in range(5))
    assert len(buf) == 3 and {t.answer for t in buf.items} == {"2", "3", "4"}
    assert len(buf.sample(2)) == 2 and len(buf.sample(10)) == 3
    off = ReplayBuffer(0)
    off.add([Triple("q", "e", "a")])
    assert len(off) == 0 and off.sample(4) == []


def test_dr_grpo_advantages_skip_unscorable():
    r = torch.tensor([1.0, 0.0, float("nan"), 0.5, 1.0, 1.0, 1.0, 1.0])
    adv = dr_grpo_advantages(r, 4)
    assert torch.allclose(adv, torch.tensor([0.5, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))


# ---- critic decoding ------------------------------------------------------------------
@pytest.fixture(scope="module")
def test_model(tiny_model):
    return tiny_model


def _prompts(n=6):
    g, rng = Game(), random.Random(1)
    return [
        g.judgement(Triple(f"{i},7,9:30\n", "7*3=21\n21+9=30", "9*3=27\n27+7=34"), rng).prompt for i in range(1, n + 1)
    ]


@pytest.mark.parametrize("reasoning,prefill_rows", [(0, 512), (5, 512), (5, 3)])
def test_constrained_critic_always_parses_and_matches_a_clean_forward(test_model, reasoning, prefill_rows):
    model, tok = test_model
    s = CriticSampler(tok, PAIRWISE_LABELS, reasoning, prefill_rows=prefill_rows)
    prompts = _prompts(12)  # lengths differ (1..12): chunks of 3 prefill different widths
    outs = s.sample(model, prompts)
    assert [o.prompt_ids for o in outs] == [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    for o in outs:
        assert o.verdict in PAIRWISE_LABELS and o.text.rstrip().endswith(f"Verdict: {o.verdict}")
        assert o.text.count("\n") == (1 if reasoning else 0)
        assert len(o.loss_mask) == len(o.completion_ids) and o.completion_ids[-1] == tok.eos_token_id
        sampled = [i for i, m in enumerate(o.loss_mask) if m]
        assert len(sampled) <= reasoning + 1  # reasoning tokens + the label's first token
        # the label distribution sampled from equals a clean (uncached, unpadded) forward pass
        with torch.no_grad():
            logits = model(torch.tensor([o.prompt_ids + o.completion_ids])).logits[0].float()
        at = len(o.prompt_ids) - 1 + sampled[-1]
        probs = torch.softmax(logits[at, s.first_ids], -1)
        assert probs[PAIRWISE_LABELS.index(o.verdict)].item() == pytest.approx(o.label_probs[o.verdict], abs=1e-5)


def test_free_critic_is_judged_by_the_strict_parser(test_model):
    model, tok = test_model
    outs = CriticSampler(tok, PAIRWISE_LABELS, 4, constrained=False).sample(model, _prompts())
    for o in outs:
        assert o.verdict == (None if o.truncated else parse_verdict(o.text))
        assert all(o.loss_mask)


def test_no_tie_sampler_never_ties(test_model):
    model, tok = test_model
    s = CriticSampler(tok, ("1", "2"), 0)
    assert {o.verdict for o in s.sample(model, _prompts(16))} <= {"1", "2"}


def test_judge_drops_truncated_answers_and_shares_duplicate_verdicts(test_model):
    model, tok = test_model
    eos = tok.eos_token_id
    judge = CriticJudge(Game(), CriticSampler(tok, PAIRWISE_LABELS, 2), k=2)
    prompts, expert = ["1,2:3\n"] * 4, ["1+2=3"] * 4
    texts = ["1+2=3", "2+1=3", "1+2=3", "1+2="]
    ids = [tok(t)["input_ids"] + [eos] for t in texts[:3]] + [tok(texts[3])["input_ids"]]  # last: truncated
    rnd = judge.judge(model, prompts, texts, ids, expert, stop_ids=[eos, tok.pad_token_id])
    r = rnd.policy_rewards
    assert r[3] is None and r[0] == r[2] and all(0.0 <= x <= 1.0 for x in r[:3])
    assert len(rnd.judgements) == 2 and len(rnd.rollouts) == 4  # 2 distinct answers x k=2
    judge.drop_truncated = False
    assert (
        judge.judge(model, prompts, texts, ids, expert, stop_ids=[eos, tok.pad_token_id]).policy_rewards[3] is not None
    )


# ---- training --------------------------------------------------------------------------
def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a)


def _run(tmp_path, name, task="countdown", steps=2, **over):
    card = train("raro", "test", task, {**FAST, **over}, tmp_path / name, f"{steps}steps")
    return card.path, card.to_dict()


@pytest.fixture(scope="module")
def base_weights():
    return _weights(make_model("test")[0])


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("raro"), "default", steps=3)


def test_smoke_training_changes_weights_and_logs_every_step(default_run, base_weights):
    ck, card = default_run
    assert "raro" in METHODS and card["method"] == "raro"
    assert _changed(base_weights, _weights(load_model(ck)[0]))
    hist = card["metrics"]["train"]["history"]
    assert [h["step"] for h in hist] == [1, 2, 3]
    for key in (
        "raro/critic_accuracy",
        "raro/tie_rate",
        "raro/policy_win_rate",
        "raro/unparseable_rate",
        "monitor/verified_accuracy",
    ):
        assert all(0.0 <= h[key] <= 1.0 for h in hist), key
    assert hist[-1]["raro/replay_size"] > 0 and card["metrics"]["train"]["tokens"] > 0


class NeverVerify(Countdown):
    """A task whose verifier must never be needed: it always raises."""

    def verify(self, problem, completion):
        raise AssertionError("the verifier was called")


REWARD_PATH = {
    "_generate_and_score_completions",
    "_calculate_rewards",
    "compute_loss",
    "_compute_loss",
    "training_step",
    "_critic_rows",
}


class GuardedVerify(Countdown):
    """A task whose verifier raises when called from the reward path (the step's scoring,
    the critic judge, the loss), and counts the calls it allows (monitoring)."""

    calls = 0

    def verify(self, problem, completion):
        f = sys._getframe(1)
        while f is not None:
            name, file = f.f_code.co_name, f.f_code.co_filename
            if name in REWARD_PATH or (name == "__call__" and "raro" in file):
                raise AssertionError(f"verifier called from the reward path ({name})")
            f = f.f_back
        GuardedVerify.calls += 1
        return super().verify(problem, completion)


def test_training_never_calls_the_verifier(tmp_path, base_weights):
    ck, card = _run(tmp_path, "never", task=NeverVerify(), monitor_every=0)
    assert _changed(base_weights, _weights(load_model(ck)[0]))
    assert all("monitor/verified_accuracy" not in h for h in card["metrics"]["train"]["history"])


def test_verifier_only_monitors_beside_training(tmp_path):
    GuardedVerify.calls = 0
    _, card = _run(tmp_path, "guarded", task=GuardedVerify(), monitor_every=1, eval_problems=4)
    assert GuardedVerify.calls > 0  # monitoring (and the before/after eval) did call it
    assert all("monitor/verified_accuracy" in h for h in card["metrics"]["train"]["history"])


# ---- every ablation switch changes behaviour ---------------------------------------------
def test_no_tie_switch(tmp_path, default_run):
    _, card = _run(tmp_path, "notie", tie=False, steps=3)
    assert all(h["raro/tie_rate"] == 0.0 for h in card["metrics"]["train"]["history"])
    assert any(h["raro/tie_rate"] > 0 for h in default_run[1]["metrics"]["train"]["history"])
    assert card["raro"]["labels"] == ["1", "2"]


def test_no_replay_switch(tmp_path, default_run):
    _, card = _run(tmp_path, "noreplay", replay_ratio=0.0)
    hist = card["metrics"]["train"]["history"]
    assert all(h["raro/replay_size"] == 0 and "raro/replay_critic_accuracy" not in h for h in hist)
    d = default_run[1]["metrics"]["train"]["history"]
    assert "raro/replay_critic_accuracy" in d[-1]
    assert d[-1]["raro/critic_rows"] > hist[-1]["raro/critic_rows"]


def test_no_reasoning_switch(tmp_path, default_run):
    _, card = _run(tmp_path, "noreason", reasoning_tokens=0)
    # "Verdict: 1" + EOS is 11 tokens, "Verdict: tie" + EOS 13: nothing else is generated
    assert all(11 <= h["raro/critic_length"] <= 13 for h in card["metrics"]["train"]["history"])
    assert all(h["raro/critic_length"] > 13 for h in default_run[1]["metrics"]["train"]["history"])


def test_pointwise_switch(tmp_path):
    _, card = _run(tmp_path, "pointwise", pointwise=True)
    assert card["raro"]["labels"] == list(POINTWISE_LABELS)
    assert all(h["raro/unparseable_rate"] == 0.0 for h in card["metrics"]["train"]["history"])


def test_separate_critic_switch(tmp_path, base_weights):
    ck, card = _run(tmp_path, "separate", shared_critic=False)
    policy, critic = _weights(load_model(ck)[0]), _weights(load_model(ck / "critic")[0])
    assert _changed(base_weights, policy) and _changed(base_weights, critic) and _changed(policy, critic)
    assert card["raro"]["shared_critic"] is False
    # a faster separate critic (critic_learning_rate) moves further from the base in the same steps
    ck2, _ = _run(
        tmp_path,
        "separate-fast",
        shared_critic=False,
        critic_learning_rate=10 * RAROOptions.from_any(FAST).learning_rate,
    )
    fast = _weights(load_model(ck2 / "critic")[0])

    def moved(w):
        return sum((w[k] - base_weights[k]).abs().sum().item() for k in w)

    assert moved(fast) > 3 * moved(critic)
    with pytest.raises(ValueError, match="raro.critic_learning_rate: needs shared_critic: false"):
        RAROOptions.from_any({"critic_learning_rate": 1e-3})


def test_critic_warmup_trains_the_critic_before_the_game(tmp_path, base_weights):
    ck, card = _run(tmp_path, "warmup", shared_critic=False, critic_warmup_steps=3, task=NeverVerify(), monitor_every=0)
    hist = card["metrics"]["train"]["history"]
    assert hist[0]["step"] == 0 and hist[0]["raro/warmup_pairs"] > 0 and len(hist) == 3  # warm-up + 2 steps
    assert 0.0 <= hist[0]["raro/warmup_accuracy_after"] <= 1.0
    plain, _ = _run(tmp_path, "no-warmup", shared_critic=False)
    moved = [
        sum((w[k] - base_weights[k]).abs().sum().item() for k in w)
        for w in (_weights(load_model(ck / "critic")[0]), _weights(load_model(plain / "critic")[0]))
    ]
    assert moved[0] > 1.3 * moved[1]  # 3 warm-up steps on top of the same 2 game steps
    with pytest.raises(ValueError, match="raro.critic_warmup_steps"):
        RAROOptions.from_any({"critic_warmup_steps": 2, "verdict_decoding": "free"})


def test_warmup_pool_balances_pointwise_labels():
    from sparring.train.raro.warmup import judgement_pool

    prompts, experts = [f"{i},7,9:30\n" for i in range(20)], ["7*3=21\n21+9=30"] * 20
    answers = [["9*3=27\n27+7=34", "7*3=21\n21+9=30", None, "9+7=16\n16+3=19"]] * 20
    for game, labels in ((Game(), {"1", "2"}), (Game(pointwise=True), {"expert", "policy"})):
        train, test = judgement_pool(game, prompts, experts, answers, random.Random(0))
        assert len(test) and not {j.triple.question for j in train} & {j.triple.question for j in test}
        truths = [j.truth for j in train + test]
        assert set(truths) == labels  # identical and unfinished answers are not shown
        if game.pointwise:
            assert truths.count("expert") == truths.count("policy") == 2 * 20


def test_free_decoding_switch(tmp_path):
    _, card = _run(tmp_path, "free", verdict_decoding="free", steps=1)
    assert card["metrics"]["train"]["history"][0]["raro/unparseable_rate"] > 0.5  # untrained model


def test_options_validate():
    with pytest.raises(ValueError, match="raro.replay_ratio"):
        RAROOptions.from_any({"replay_ratio": 1.0})
    with pytest.raises(ValueError, match="raro.policy_reward"):
        RAROOptions.from_any({"policy_reward": "expected", "verdict_decoding": "free"})
    with pytest.raises(ValueError, match="raro.critic_template"):
        RAROOptions.from_any({"critic_template": "{question} {answer1}"})
    with pytest.raises(ValueError, match="unknown option"):
        RAROOptions.from_any({"rewards": ["correct"]})  # no verifier rewards in RARO


# ---- reranking ---------------------------------------------------------------------------
def test_tournament_returns_the_judges_favourite():
    cands = [["a", "bbbb", "cc", "ddd", "e"], ["xx", "y"], ["same", "same"]]
    judge = lambda matches: [1.0 if len(a) > len(b) else 0.0 for _, a, b in matches]  # noqa: E731
    for seed in range(5):
        assert tournament(["q1", "q2", "q3"], cands, judge, seed=seed)[:2] == [1, 0]


def test_rerank_end_to_end(default_run):
    import typer
    from typer.testing import CliRunner

    from sparring.cli.train import rerank_cmd

    ck, _ = default_run
    res = rerank(ck, "countdown", k=3, n=4, max_new_tokens=12)
    for key in ("greedy_accuracy", "sample_accuracy", "majority_accuracy", "reranked_accuracy", "pass_at_k"):
        assert 0.0 <= res[key] <= 1.0 and len(res[f"{key}_ci"]) == 2
    app = typer.Typer()
    app.command()(rerank_cmd)
    out = CliRunner().invoke(
        app, [str(ck), "--task", "countdown", "--k", "2", "--n", "2", "--max-new-tokens", "8", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["k"] == 2
    bad = CliRunner().invoke(app, [str(ck), "--k", "1"])
    assert bad.exit_code == 2


def test_pointwise_critic_batch_shows_as_many_expert_as_policy_answers():
    game = Game(pointwise=True)
    fresh = [
        game.judgement(Triple(f"{i % 3},7,9:30\n", "7*3=21\n21+9=30", f"9+7=1{i}", None), random.Random(i))
        for i in range(10)
    ]
    replay = ReplayBuffer(64, seed=0)
    replay.add(Triple(f"{i},2,9:30\n", "2*9=18\n18+12=30", f"2+9=1{i}", None) for i in range(20))
    planner = CriticBatchPlanner(game, critic_pairs=6, replay_ratio=0.5, replay=replay, rng=random.Random(0))
    plan = planner.plan(fresh)
    chosen, extra = plan.chosen, plan.extra
    truths = [fresh[n].truth for n in chosen] + [j.truth for j in extra]
    assert len(chosen) == 6 and plan.n_replayed == 6
    assert truths.count("expert") == truths.count("policy") == 12
    assert all(j.truth == "policy" for j in extra[-plan.n_replayed :])  # replayed rows come last


# ---- the critic's exact-expectation objective (critic_objective: expected) ----------------
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_expected_reward_gradient_is_the_closed_form(temperature):
    from sparring.train.raro.objectives import expected_reward, expected_reward_grad

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    R = torch.tensor([[1.0, 0.0, 0.55], [0.0, 1.0, 0.55], [1.0, 0.0, 0.0], [0.3, 0.3, 0.3]], dtype=torch.float64)
    expected_reward(z, R, temperature).sum().backward()
    closed = expected_reward_grad(z.detach(), R, temperature)
    assert torch.allclose(z.grad, closed, atol=1e-12)
    # by hand: p_l (R_l - E) / T, and the last row (every label pays alike) has no gradient
    p = torch.softmax(z.detach() / temperature, -1)
    e = (p * R).sum(-1, keepdim=True)
    assert torch.allclose(closed, p * (R - e) / temperature) and torch.allclose(
        closed[3], torch.zeros(3, dtype=R.dtype)
    )
    # it is the expectation over the label of the sampled term's gradient (R_l - b) d log p_l, any baseline b
    for b in (0.0, 0.7):
        eye = torch.eye(3, dtype=R.dtype)
        dlogp = (eye[None] - p[:, None, :]) / temperature  # d log p_l / d z: rows x label l x logit
        sampled = (p[:, :, None] * (R - b)[:, :, None] * dlogp).sum(1)
        assert torch.allclose(sampled, closed, atol=1e-12)


def test_expected_critic_objective_trains_the_label_without_sampled_advantages(tmp_path, base_weights):
    # no reasoning, no KL: the critic's GRPO term is skipped, so all it learns comes from the exact term
    ck, card = _run(
        tmp_path,
        "expected",
        shared_critic=False,
        critic_objective="expected",
        reasoning_tokens=0,
        task=NeverVerify(),
        monitor_every=0,
    )
    critic = _weights(load_model(ck / "critic")[0])
    assert _changed(base_weights, critic)
    hist = card["metrics"]["train"]["history"]
    for h in hist:
        assert 0.0 <= h["raro/critic_objective_reward"] <= 1.0
        assert abs(sum(h[f"raro/label_prob/{lb}"] for lb in PAIRWISE_LABELS) - 1.0) < 1e-3
    with pytest.raises(ValueError, match="raro.critic_objective"):
        RAROOptions.from_any({"critic_objective": "expected", "verdict_decoding": "free"})
    with pytest.raises(ValueError, match="raro.critic_objective"):
        RAROOptions.from_any({"critic_objective": "best"})


def test_label_distribution_is_logged_every_step(default_run):
    hist = default_run[1]["metrics"]["train"]["history"]
    for h in hist:
        shares = [h[f"raro/label_share/{lb}"] for lb in PAIRWISE_LABELS]
        assert abs(sum(shares) - 1.0) < 1e-3 and h["raro/majority_label_share"] == max(shares)
        assert 0.5 <= h["raro/truth_majority_share"] <= 1.0  # pairwise: "1" and "2" about equally often


# ---- the remaining ablation switches ------------------------------------------------------
def test_drop_truncated_switch(tmp_path, default_run):
    _, card = _run(tmp_path, "drop", drop_truncated=True)  # 8-token answers of an untrained model: most truncated
    assert any(h["raro/dropped_rate"] > 0 for h in card["metrics"]["train"]["history"])
    assert all(h["raro/dropped_rate"] == 0 for h in default_run[1]["metrics"]["train"]["history"])  # FAST: off


def test_loss_switch(tmp_path, default_run):
    from sparring.train.budget import Budget
    from sparring.train.raro.options import trainer_args

    cfg = RAROOptions.from_any({**FAST, "loss": "grpo"})
    assert cfg.advantage_name() == "group" and RAROOptions.from_any(FAST).advantage_name() == "mean"
    assert trainer_args(cfg, Budget(steps=1), str(tmp_path / "x"), None).loss_type == "grpo"
    ck, card = _run(tmp_path, "grpo-loss", loss="grpo", steps=3)
    assert card["config"]["loss"] == "grpo"
    assert _changed(_weights(load_model(ck)[0]), _weights(load_model(default_run[0])[0]))
    with pytest.raises(ValueError, match="raro.loss"):
        RAROOptions.from_any({"loss": "ppo"})


@pytest.mark.parametrize(
    "over",
    [{"critic_objective": "expected"}, {"loss": "grpo", "drop_truncated": True}, {"pointwise": True, "tie": False}],
    ids=["expected-critic", "grpo-loss-drop", "pointwise-notie"],
)
def test_new_options_never_call_the_verifier(tmp_path, over):
    _, card = _run(tmp_path, "never", task=NeverVerify(), monitor_every=0, **over)
    assert card["metrics"]["train"]["steps"] == 2


@pytest.mark.parametrize("reasoning", [0, 5])
def test_exact_term_reads_the_distribution_the_label_was_sampled_from(test_model, reasoning):
    from sparring.train.raro.batches import critic_tensors, label_logits

    model, tok = test_model
    s = CriticSampler(tok, PAIRWISE_LABELS, reasoning, temperature=0.7)
    rows = s.sample(model, _prompts(8))  # prompts and reasoning of different lengths: padded both sides
    t = critic_tensors(rows, tok.pad_token_id, "cpu")
    with torch.no_grad():
        p = torch.softmax(label_logits(model, t, rows, s.first_ids).float() / 0.7, -1)
    want = torch.tensor([[r.label_probs[lb] for lb in PAIRWISE_LABELS] for r in rows])
    assert torch.allclose(p, want, atol=1e-5)
