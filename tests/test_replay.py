"""GRPO success replay: all-failed groups get the prompt's earlier success back."""

from __future__ import annotations

import pytest
import torch

from sparring.rewards import register_reward
from sparring.train import train
from sparring.train.replay import SuccessReplay

TINY = {"eval_problems": 2, "eval_max_new_tokens": 8, "show_progress": False, "logging_steps": 1}


def _batch(rows: list[list[int]], width: int):
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def test_replay_fills_only_failed_groups_of_solved_prompts():
    replay = SuccessReplay(min_reward=1.0)
    keys = ["a", "a", "b", "b"]
    ids, mask = _batch([[5, 6, 7], [8], [9], [3, 3]], 3)
    r, ids2, mask2, replaced = replay(keys, torch.tensor([1.0, 0.0, 0.0, 0.0]), ids, mask, 2)
    assert replaced == [] and torch.equal(r, torch.tensor([1.0, 0.0, 0.0, 0.0]))  # nothing stored yet
    # next batch: "a" fails everywhere -> its last rollout becomes the stored success;
    # "b" was never solved -> untouched
    ids, mask = _batch([[1], [2], [4], [4]], 1)
    r, ids2, mask2, replaced = replay(keys, torch.zeros(4), ids, mask, 2)
    assert replaced == [1]
    assert torch.equal(r, torch.tensor([0.0, 1.0, 0.0, 0.0]))
    assert ids2.shape == (4, 3)  # widened to the replayed completion
    assert ids2[1].tolist() == [5, 6, 7] and mask2[1].tolist() == [1, 1, 1]
    assert ids2[0].tolist() == [1, 0, 0] and mask2[0].tolist() == [1, 0, 0]
    assert ids.shape == (4, 1)  # the caller's tensors are not modified
    # a group that has its own success is never refilled
    ids, mask = _batch([[5, 6, 7], [2]], 3)
    assert replay(["a", "a"], torch.tensor([1.0, 0.0]), ids, mask, 2)[3] == []


def test_replay_rejects_rows_that_do_not_form_groups():
    with pytest.raises(ValueError, match="groups of 2"):
        SuccessReplay()(["a"] * 3, torch.zeros(3), *_batch([[1]] * 3, 1), 2)


@register_reward("_test_first_is_digit")
def _first_is_digit(completions, **_):
    """1 when the completion starts with a digit: a random test model hits it now and then."""
    return [1.0 if t[:1].isdigit() else 0.0 for t in completions]


def test_grpo_with_replay_trains_with_kl_and_several_iterations(tmp_path):
    cfg = {
        **TINY,
        "n": 4,
        "prompts_per_step": 4,
        "num_generations": 4,
        "max_completion_length": 6,
        "learning_rate": 1e-2,
        "rewards": ["_test_first_is_digit"],
        "replay_successes": True,
        "beta": 0.1,
        "num_iterations": 2,
        "temperature": 1.5,
    }
    card = train("grpo", "test", "countdown", cfg, tmp_path / "g", "6steps").to_dict()
    assert card["config"]["replay_successes"] is True
    train_m = card["metrics"]["train"]
    assert train_m["steps"] == 6
    assert any(h.get("replay/groups_filled", 0) > 0 for h in train_m["log_history"]), "nothing was replayed"


def test_replay_option_is_validated():
    from sparring.train.grpo import GRPOOptions

    with pytest.raises(ValueError, match="replay_successes"):
        GRPOOptions.from_any({"replay_successes": "yes"})


def test_replay_is_on_for_grpo_only():
    from sparring.train.grpo import GRPOOptions
    from sparring.train.roc import RoCOptions
    from sparring.train.srl import SRLOptions

    assert GRPOOptions().replay_successes is True
    # RoC's lenient reward would replay sloppy successes; SRL's reward is a similarity
    assert RoCOptions().replay_successes is False and SRLOptions().replay_successes is False
