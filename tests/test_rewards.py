"""sparring.rewards: verifier-based reward functions in TRL's signature."""

from __future__ import annotations

import json

import pytest
import torch

from sparring.rewards import (
    REWARDS,
    answer_reward,
    compute_score,
    correct_reward,
    format_reward,
    get_reward,
    step_similarity_reward,
    step_validity_reward,
)
from sparring.tasks import get_task

TASK = get_task("countdown")
P = TASK.problems("test", n=1, seed=0)[0]  # numbers [4, 11, 17], target 10
PJ = json.dumps(P.to_dict())
GOLD = TASK.solve(P)


def test_rewards_on_gold_flawed_and_garbage():
    flawed = TASK.flaw(P, seed=1, kind="arithmetic_slip").text
    sloppy = "17-11=6\n6+4=11"  # valid first step, wrong arithmetic at the end
    lucky = "17-11=7\n7+3=10"  # right final claim through invalid steps
    comps = [GOLD, flawed, sloppy, lucky, "", "hello\x00", "9" * 20000]
    probs = [PJ] * len(comps)
    assert correct_reward(comps, problem=probs) == [1.0, 0, 0, 0, 0, 0, 0]
    assert answer_reward(comps, problem=probs)[:4] == [1.0, 0.0, 0.0, 1.0]
    assert format_reward(comps, problem=probs)[0] == 1.0 and format_reward(comps, problem=probs)[4:] == [0, 0, 0]
    sv = step_validity_reward(comps, problem=probs)
    assert sv[0] == 1.0 and sv[2] == 0.5 and sv[4] == 0.0


def test_problem_column_forms_and_chat_completions():
    chat = [[{"role": "assistant", "content": GOLD}]]
    assert correct_reward(chat, problem=[P.to_dict()]) == [1.0]
    assert correct_reward([GOLD], problem=[P]) == [1.0]
    assert correct_reward([GOLD], problem=[PJ], prompts=["x"], trainer_state=None) == [1.0]


def test_missing_or_bad_problem_column_is_a_clear_error():
    with pytest.raises(ValueError, match="column 'problem'"):
        correct_reward([GOLD])
    with pytest.raises(ValueError, match="not valid JSON"):
        correct_reward([GOLD], problem=["{nope"])
    with pytest.raises(ValueError, match="unknown reward"):
        get_reward("nope")
    with pytest.raises(ValueError, match="next_step"):
        step_similarity_reward(["1+2=3"])


def test_step_similarity_is_the_difflib_ratio_on_the_first_line():
    r = step_similarity_reward(["7*3=21\n21+9=30", "", "7*3=22"], next_step=["7*3=21"] * 3)
    assert r[0] == 1.0 and r[1] == 0.0 and 0.8 < r[2] < 1.0


def test_compute_score_verl_signature():
    assert compute_score("countdown", GOLD, PJ) == 1.0
    assert compute_score("countdown", GOLD, P.data) == 1.0  # bare data dict + data_source
    assert compute_score("countdown", "17-11=7\n7+3=10", PJ, {"reward": "answer"}) == 1.0
    assert compute_score("countdown", "garbage", PJ, None) == 0.0


def test_rewards_run_inside_vanilla_trl_grpo(tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from sparring.models import make_model, trl_args_overrides

    problems = TASK.problems("train", n=4, seed=0)
    ds = Dataset.from_list([{"prompt": TASK.prompt(p), "problem": json.dumps(p.to_dict())} for p in problems])
    model, tok = make_model("test", seed=0)
    seen = []

    def spy(completions, problem, **kw):
        seen.append((len(completions), len(problem)))
        return [0.0] * len(completions)

    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        **trl_args_overrides(),
    )
    funcs = [REWARDS[name] for name in ("correct", "answer", "format", "step_validity")] + [spy]
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=ds, processing_class=tok)
    trainer.train()
    logged = {k for h in trainer.state.log_history for k in h}
    assert "rewards/correct_reward/mean" in logged and "rewards/format_reward/mean" in logged
    assert seen == [(4, 4)]
    assert all(torch.isfinite(p).all() for p in model.parameters())
