"""FLOP budgets (sparring.train.flops, docs/flops.md): the count run.json records after one
SFT, GRPO and RARO step on the `test` preset equals a hand count from the preset's config
and the batches that actually ran; a FLOP budget stops training; budgets parse.

The hand count is written out here from the rule in docs/flops.md, not taken from
``flops.py``: N from the config's layer shapes, F(L) = 2 N L + 2 layers d_attn L (L + 1).
The token counts come from spies on TRL's own methods (the batches as the model saw them).
"""

from __future__ import annotations

import pytest
import torch
from trl import GRPOTrainer

from sparring.models import make_model
from sparring.train import Budget, train
from sparring.train.budget import short_count
from sparring.train.pipeline import _share
from sparring.train.raro.sampling import CriticSampler
from sparring.train.trainers import SparringSFTTrainer

TINY = {"eval_problems": 0, "show_progress": False, "logging_steps": 1}
SFT = {**TINY, "n": 8, "learning_rate": 1e-2, "batch_size": 8, "bucket_by_length": False}
GRPO = {
    **TINY,
    "n": 8,
    "prompts_per_step": 2,
    "num_generations": 4,
    "max_completion_length": 8,
    "learning_rate": 1e-2,
    "rewards": ["format"],
    "loss": "grpo",
    "beta": 0.1,  # a reference-model pass too
}
RARO = {
    **TINY,
    "n": 16,
    "prompts_per_step": 2,
    "num_generations": 4,
    "max_completion_length": 8,
    "drop_truncated": False,
    "reasoning_tokens": 4,
    "critic_pairs": 4,
    "learning_rate": 1e-3,
    "monitor_every": 0,
}

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def hand_rule():
    """(N, F) for the `test` preset, written out from its config."""
    c = make_model("test")[0].config
    h, inter, vocab, layers = c.hidden_size, c.intermediate_size, c.vocab_size, c.num_hidden_layers
    q = c.num_attention_heads * c.head_dim
    kv = c.num_key_value_heads * c.head_dim
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * inter  # q, k, v, o; gate, up, down
    n = layers * per_layer + h * vocab  # + the (tied) LM head

    def forward(length: int) -> int:
        return 2 * n * length + 2 * layers * q * length * (length + 1)

    return n, forward


def test_hand_rule_on_the_test_preset():
    n, forward = hand_rule()
    # 2 layers x (4 x 48^2 + 3 x 48 x 96) + 100 x 48 (docs/flops.md works this example)
    assert n == 2 * (4 * 48 * 48 + 3 * 48 * 96) + 100 * 48 == 50_880
    assert forward(28) == 101_760 * 28 + 192 * 28 * 29 == 3_005_184
    from sparring.train.flops import FlopModel

    fm = FlopModel.of(make_model("test")[0])
    assert (fm.matmul_weights, fm.layers, fm.attn_width) == (50_880, 2, 48)


def test_docs_state_the_rule_the_module_states():
    import re
    from pathlib import Path

    from sparring.train import flops

    def words(text: str) -> str:
        return re.sub(r"\s+", " ", text.replace("``", "`")).strip()

    rule = flops.__doc__[flops.__doc__.index("**Model constants.**") :]
    doc = (Path(__file__).parents[1] / "docs" / "flops.md").read_text()
    for paragraph in rule.split("\n\n"):
        assert words(paragraph) in words(doc), paragraph[:60]


def _spy(monkeypatch, cls, name, record):
    original = getattr(cls, name)

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        record(self, args, out)
        return out

    monkeypatch.setattr(cls, name, spy)


def _lengths(*masks: torch.Tensor) -> list[int]:
    return [int(x) for x in sum(m.sum(1) for m in masks).tolist()]


def test_one_sft_step_matches_the_hand_count(tmp_path, monkeypatch):
    rows: list[int] = []
    original = SparringSFTTrainer.compute_loss

    def spy(self, model, inputs, *args, **kwargs):
        rows.extend(_lengths(inputs["attention_mask"]))
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(SparringSFTTrainer, "compute_loss", spy)
    m = train("sft", "test", "countdown", SFT, tmp_path / "sft", "1steps").metrics["train"]
    _, forward = hand_rule()
    assert m["steps"] == 1 and len(rows) == 8 and sum(rows) == m["tokens"]
    assert m["flops"] == sum(3 * forward(L) for L in rows)  # forward + backward = 3 forwards
    assert m["flops_by_kind"] == {"train": m["flops"]}
    assert m["log_history"][0]["flops"] == m["flops"]


def test_one_grpo_step_matches_the_hand_count(tmp_path, monkeypatch):
    scored, trained = [], []

    def on_scored(self, args, out):  # TRL's batch: rollouts, and its reference log-probs
        scored.append((_lengths(out["prompt_mask"], out["completion_mask"]), out.get("ref_per_token_logps")))

    _spy(monkeypatch, GRPOTrainer, "_generate_and_score_completions", on_scored)
    _spy(
        monkeypatch,
        GRPOTrainer,
        "_compute_loss",
        lambda s, a, o: trained.append(_lengths(a[1]["prompt_mask"], a[1]["completion_mask"])),
    )
    m = train("grpo", "test", "countdown", GRPO, tmp_path / "grpo", "1steps").metrics["train"]
    _, forward = hand_rule()
    ((lengths, ref),) = scored
    assert m["steps"] == 1 and len(lengths) == 8 and sum(lengths) == m["tokens"] and ref is not None
    generation = sum(forward(L) for L in lengths)  # prompt + generated tokens per rollout
    reference = sum(forward(L) for L in lengths)  # beta > 0: the reference model's log-probs
    training = sum(3 * forward(L) for batch in trained for L in batch)
    assert len(trained) == 1
    assert m["flops"] == generation + reference + training
    assert m["flops_by_kind"] == {"rollouts": generation, "logprobs": reference, "train": training}


def test_one_raro_step_matches_the_hand_count(tmp_path, monkeypatch):
    policy, critic, trained = [], [], []
    _spy(
        monkeypatch,
        GRPOTrainer,
        "_generate_and_score_completions",
        lambda s, a, o: policy.extend(_lengths(o["prompt_mask"], o["completion_mask"])),
    )
    _spy(
        monkeypatch,
        CriticSampler,
        "sample",
        lambda s, a, o: critic.extend(len(r.prompt_ids) + len(r.completion_ids) for r in o),
    )
    _spy(
        monkeypatch,
        GRPOTrainer,
        "_compute_loss",
        lambda s, a, o: trained.append(_lengths(a[1]["prompt_mask"], a[1]["completion_mask"])),
    )
    m = train("raro", "test", "countdown", RARO, tmp_path / "raro", "1steps").metrics["train"]
    _, forward = hand_rule()
    assert m["steps"] == 1 and len(policy) == 8 and critic and len(trained) == 2  # policy rows, critic rows
    rollouts = sum(forward(L) for L in policy)
    verdicts = sum(forward(L) for L in critic)  # every critic rollout: prompt + completion
    policy_train = sum(3 * forward(L) for L in trained[0])
    critic_train = sum(3 * forward(L) for L in trained[1])
    assert m["flops"] == rollouts + verdicts + policy_train + critic_train
    assert m["flops_by_kind"] == {
        "critic_sampling": verdicts,
        "critic_train": critic_train,
        "rollouts": rollouts,
        "train": policy_train,
    }


def test_old_policy_log_probs_and_every_optimisation_pass_count(tmp_path, monkeypatch):
    scored, trained = [], []

    def on_scored(self, args, out):
        assert out.get("old_per_token_logps") is not None  # TRL computes them for num_iterations > 1
        scored.extend(_lengths(out["prompt_mask"], out["completion_mask"]))

    _spy(monkeypatch, GRPOTrainer, "_generate_and_score_completions", on_scored)
    _spy(
        monkeypatch,
        GRPOTrainer,
        "_compute_loss",
        lambda s, a, o: trained.append(_lengths(a[1]["prompt_mask"], a[1]["completion_mask"])),
    )
    cfg = {**GRPO, "num_iterations": 2, "replay_successes": False}
    m = train("grpo", "test", "countdown", cfg, tmp_path / "g", "2steps").metrics["train"]
    _, forward = hand_rule()
    once = sum(forward(L) for L in scored)  # one generation for both steps
    assert m["steps"] == 2 and len(scored) == 8 and len(trained) == 2
    assert m["flops_by_kind"]["rollouts"] == once and m["flops_by_kind"]["logprobs"] == 2 * once  # old + reference
    assert m["flops_by_kind"]["train"] == sum(3 * forward(L) for batch in trained for L in batch)
    assert m["flops"] == sum(m["flops_by_kind"].values())


def test_raro_counts_its_warm_up_and_a_separate_critic(tmp_path):
    cfg = {**RARO, "shared_critic": False, "critic_warmup_steps": 1, "beta": 0.1}
    m = train("raro", "test", "countdown", cfg, tmp_path / "r", "1steps").metrics["train"]
    kinds = m["flops_by_kind"]
    assert set(kinds) == {
        "rollouts",
        "logprobs",
        "train",
        "critic_sampling",
        "critic_logprobs",
        "critic_train",
        "warmup",
    }
    assert all(v > 0 for v in kinds.values()) and m["flops"] == sum(kinds.values())


def test_a_flop_budget_stops_training(tmp_path):
    budget = 3 * 10**8  # about 4 SFT steps of 8 rows
    m = train("sft", "test", "countdown", {**SFT, "n": 64}, tmp_path / "b", f"{budget:.0e}flops,1000steps").metrics[
        "train"
    ]
    at = [h["flops"] for h in m["log_history"]]
    assert 1 < m["steps"] < 1000 and len(at) == m["steps"] and at[-1] == m["flops"]
    assert m["flops"] >= budget > at[-2]  # stopped at the end of the first step that reached it


def test_pipeline_stages_stop_on_their_share_and_sum(tmp_path):
    stages = [{"method": "sft", "config": SFT}, {"method": "grpo", "config": {**GRPO, "beta": 0.0}}]
    card = train("pipeline", "test", "countdown", {**TINY, "stages": stages}, tmp_path / "p", "2e8flops,1000steps")
    m = card.metrics["train"]
    assert [r["budget"] for r in card.get("stages")] == [{"steps": 500, "flops": 10**8}] * 2
    for st in m["stages"]:
        assert st["flops"] >= 10**8 and st["steps"] < 500
    for key in ("steps", "tokens", "flops"):
        assert m[key] == sum(st[key] for st in m["stages"])


def test_budget_parsing():
    assert Budget.parse("2e13flops") == Budget(flops=20 * 10**12)
    assert Budget.parse("2e13 flops") == Budget.parse("20Tflops") == Budget.parse("2e+13 FLOPs")
    assert Budget.parse("2Pflops").flops == 2 * 10**15 and Budget.parse("5GFLOP").flops == 5 * 10**9
    assert Budget.parse("300s,2e10flops") == Budget(seconds=300.0, flops=2 * 10**10)
    assert Budget.parse({"flops": 2.0e13}) == Budget(flops=2 * 10**13)  # YAML's float
    b = Budget.parse("25e9flops,100steps")
    assert Budget.parse(b.text()) == b and b.to_dict() == {"steps": 100, "flops": 25 * 10**9}
    assert str(Budget(flops=25 * 10**9)) == "2.5e10 FLOPs" and short_count(123) == "123"
    assert Budget.parse("2Mtokens") == Budget(tokens=2_000_000)  # the other units unchanged
    for bad, match in (("0flops", "budget.flops"), ("flops", "cannot read"), ({"flops": 1.5}, "budget.flops")):
        with pytest.raises(ValueError, match=match):
            Budget.parse(bad)


def test_pipeline_share_splits_flops():
    assert [_share(Budget(flops=10**10, steps=7), 2, i) for i in range(2)] == [
        Budget(steps=4, flops=5 * 10**9),
        Budget(steps=3, flops=5 * 10**9),
    ]
