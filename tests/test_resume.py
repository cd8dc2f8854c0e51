"""Resumable checkpoints (sparring.train.resume): a run killed with SIGKILL at a random step
and resumed ends with the weights of an uninterrupted run; a damaged newest checkpoint is
skipped with a warning and the previous one used."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file
from test_raro import FAST

from sparring.train import train
from sparring.train.resume import MARKER, CheckpointCallback, Checkpoints, last_complete, resume_dir, step_of

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"eval_problems": 2, "eval_max_new_tokens": 4, "show_progress": False, "logging_steps": 1}
# 26 rows in steps of 4 (two accumulation passes of 2): 7 steps an epoch, the last one short,
# so a 16-step run crosses two epoch boundaries and resumes mid-epoch.
CFG = {**TINY, "n": 26, "learning_rate": 1e-2, "batch_size": 4, "micro_batch_tokens": 50, "warmup_steps": 3}
EVERY = 3
BUDGET = "16steps"
# A reward that a quarter of all texts earn, whatever the model learns (the child registers it
# too): GRPO's groups have variance and a third of them all fail, which success replay refills.
REWARD = """
import zlib
from sparring.rewards import register_reward
@register_reward("_resume_lucky")
def _resume_lucky(completions, **kw):
    return [1.0 if zlib.crc32(str(c).encode()) % 4 == 0 else 0.0 for c in completions]
"""
exec(REWARD)
# The child sleeps in every training pass (numerics untouched) so that the kill lands mid-run.
CHILD = (
    REWARD
    + """
import json, sys, time
from sparring.train import train, trainers
from sparring.train.raro import trainer as raro_trainer
cls = getattr(trainers, sys.argv[2], None) or getattr(raro_trainer, sys.argv[2])
inner = cls.compute_loss
def slow(self, *args, **kwargs):
    time.sleep(float(sys.argv[3]))
    return inner(self, *args, **kwargs)
cls.compute_loss = slow
train(sys.argv[1], "test", "countdown", json.loads(sys.argv[4]), sys.argv[5], sys.argv[6])
"""
)


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def _max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def kill_during(method, cfg, out, budget, after: int, rng, trainer="SparringSFTTrainer", sleep=0.1):
    """Run ``train(method, ...)`` in a child process, SIGKILL it at a random moment after its
    checkpoint ``after`` is complete (up to the next one, or while that one is written);
    returns the step of the newest complete checkpoint it left."""
    child = [sys.executable, "-c", CHILD, method, trainer, str(sleep), json.dumps(cfg), str(out), budget]
    proc = subprocess.Popen(child, stderr=subprocess.PIPE)
    marker = resume_dir(out) / f"checkpoint-{after}" / MARKER
    deadline = time.monotonic() + 120
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.7))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.safetensors").exists()
    return step_of(last_complete(resume_dir(out)))


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """(reference weights, the resume folder of a run killed after a random checkpoint, the
    step of its newest complete checkpoint, the kill's seed)."""
    root = tmp_path_factory.mktemp("resume")
    ref = train("sft", "test", "countdown", CFG, root / "ref", BUDGET)  # no checkpoints at all
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    after = rng.choice([2 * EVERY, 3 * EVERY])  # at least two checkpoints on disk
    out = root / "run"
    step = kill_during("sft", {**CFG, "checkpoint_every": f"{EVERY}steps"}, out, BUDGET, after, rng)
    return _weights(ref.path), resume_dir(out), step, seed


RL = {
    **TINY,
    "n": 6,
    "prompts_per_step": 2,
    "num_generations": 4,
    "max_completion_length": 8,
    "learning_rate": 1e-2,
    "rewards": ["_resume_lucky"],
    "loss": "grpo",
    "beta": 0.1,
}


def test_a_killed_grpo_run_resumes_to_the_uninterrupted_weights(tmp_path, capfd):
    """GRPO with a KL reference and success replay: TRL's state (weights, Adam, schedule,
    RNG: the rollouts are sampled) and sparring's (budget, replay store, TRL's step counter)."""
    budget, every = "12steps", 3
    ref = train("grpo", "test", "countdown", RL, tmp_path / "ref", budget)
    filled = [h.get("replay/groups_filled", 0) for h in ref.metrics["train"]["log_history"]]
    assert max(filled) > 0  # success replay refilled groups: its store is state a resume must restore
    seed = random.randrange(10**6)
    cfg = {**RL, "checkpoint_every": f"{every}steps"}
    out = tmp_path / "run"
    step = kill_during("grpo", cfg, out, budget, 2 * every, random.Random(seed), "SparringGRPOTrainer", 0.2)
    capfd.readouterr()
    card = train("grpo", "test", "countdown", cfg, out, budget, resume=True)
    assert f"grpo: resuming from step {step}" in capfd.readouterr().err
    assert card.metrics["train"]["resumed_from_step"] == step and card.metrics["train"]["steps"] == 12
    assert _max_diff(_weights(ref.path), _weights(out)) < 1e-6, f"kill seed {seed}, resumed from step {step}"


RARO = {**FAST, **TINY, "eval_problems": 0, "n": 6, "learning_rate": 1e-2}  # test_raro.py's, on 6 questions


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param({}, id="shared-critic"),
        pytest.param({"shared_critic": False, "critic_warmup_steps": 2, "critic_learning_rate": 2e-2}, id="own-critic"),
    ],
)
def test_a_killed_raro_run_resumes_to_the_uninterrupted_weights(variant, tmp_path, capfd):
    """RARO: the critic replay buffer and the game's generators (a shared critic), and a
    separate critic's weights and Adam state, warmed up once before the first step."""
    from sparring.train.raro import CRITIC_DIR

    budget, every = "9steps", 3
    cfg = {**RARO, **variant}
    ref = train("raro", "test", "countdown", cfg, tmp_path / "ref", budget)
    seed = random.randrange(10**6)
    out = tmp_path / "run"
    cfg = {**cfg, "checkpoint_every": f"{every}steps"}
    step = kill_during("raro", cfg, out, budget, every, random.Random(seed), "RAROTrainer", 0.2)
    capfd.readouterr()
    card = train("raro", "test", "countdown", cfg, out, budget, resume=True)
    assert f"raro: resuming from step {step}" in capfd.readouterr().err
    train_ = card.metrics["train"]
    assert train_["resumed_from_step"] == step and train_["steps"] == 9
    assert [h["step"] for h in train_["history"]] == [h["step"] for h in ref.metrics["train"]["history"]]
    assert train_["history"][-1]["raro/replay_size"] == ref.metrics["train"]["history"][-1]["raro/replay_size"] > 0
    assert _max_diff(_weights(ref.path), _weights(out)) < 1e-6, f"kill seed {seed}, resumed from step {step}"
    if not cfg.get("shared_critic", True):
        assert _max_diff(_weights(ref.path / CRITIC_DIR), _weights(out / CRITIC_DIR)) < 1e-6, f"kill seed {seed}"


def _copy(resume, tmp_path):
    """A copy of the killed run's checkpoints, as if the run had written ``tmp_path / 'run'``."""
    out = tmp_path / "run"
    shutil.copytree(resume, resume_dir(out))
    return out


def test_a_killed_run_resumes_to_the_uninterrupted_weights(killed, tmp_path, capfd):
    ref, resume, step, seed = killed
    out = _copy(resume, tmp_path)
    cfg = {**CFG, "checkpoint_every": f"{EVERY}steps"}
    card = train("sft", "test", "countdown", cfg, out, BUDGET, resume=True)
    assert f"resuming from step {step}" in capfd.readouterr().err
    spent = card.metrics["train"]
    assert spent["resumed_from_step"] == step and spent["steps"] == 16, seed
    assert [h["step"] for h in spent["log_history"]] == list(range(1, 17))  # the history before the kill too
    assert _max_diff(ref, _weights(out)) < 1e-6, f"kill seed {seed}, resumed from step {step}"
    assert json.loads((out / "run.json").read_text())["metrics"]["train"]["resumed_from_step"] == step
    assert not resume_dir(out).exists()  # the run is written: its checkpoints are gone


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(killed, tmp_path, capfd):
    ref, resume, step, seed = killed
    out = _copy(resume, tmp_path)
    newest = resume_dir(out) / f"checkpoint-{step}"
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    card = train("sft", "test", "countdown", {**CFG, "checkpoint_every": f"{EVERY}steps"}, out, BUDGET, resume=True)
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"checkpoint-{step}" in warnings[0] and "model.safetensors" in warnings[0]
    assert card.metrics["train"]["resumed_from_step"] == step - EVERY
    assert _max_diff(ref, _weights(out)) < 1e-6, f"kill seed {seed}"


def test_a_checkpoint_without_its_marker_or_with_a_missing_file_is_skipped(killed, tmp_path, capfd):
    _, resume, step, _ = killed
    root = resume_dir(_copy(resume, tmp_path))
    (root / f"checkpoint-{step}" / MARKER).unlink()  # killed before the marker: half-written
    assert last_complete(root) == root / f"checkpoint-{step - EVERY}"
    assert "half-written" in capfd.readouterr().err
    (root / f"checkpoint-{step - EVERY}" / "optimizer.pt").unlink()
    assert last_complete(root) is None
    assert "optimizer.pt is missing" in capfd.readouterr().err
    ckpts = Checkpoints(tmp_path / "run", None, {}, resume=True, what="sft")  # nothing left: from step 0
    assert ckpts.step is None and "starting from step 0" in capfd.readouterr().err


def test_resuming_a_different_run_is_refused(killed, tmp_path):
    _, resume, _, _ = killed
    out = _copy(resume, tmp_path)
    cfg = {**CFG, "checkpoint_every": f"{EVERY}steps", "learning_rate": 2e-2}
    with pytest.raises(ValueError, match=r"different run \(config.learning_rate differ"):
        train("sft", "test", "countdown", cfg, out, BUDGET, resume=True)


def test_a_time_interval_asks_for_a_checkpoint_but_never_at_the_last_step(tmp_path):
    from transformers import TrainerControl, TrainerState

    cb = CheckpointCallback(None, None, None, {}, seconds=0.0, align=1)  # due at every step
    control = TrainerControl()
    assert cb.on_step_end(None, TrainerState(global_step=1), control).should_save
    control = TrainerControl(should_training_stop=True, should_save=True)  # e.g. save_steps at the end
    assert not cb.on_step_end(None, TrainerState(global_step=2), control).should_save
    ckpts = Checkpoints(tmp_path / "run", "5min", {}, resume=False, what="sft")
    assert ckpts.trainer_args()["save_strategy"] == "no" and ckpts.every == ("seconds", 300.0)
    assert Checkpoints(tmp_path / "run", "50steps", {}, resume=False, what="sft").trainer_args()["save_steps"] == 50


def test_a_checkpoint_asked_for_between_aligned_steps_waits_for_the_next_one():
    from transformers import TrainerControl, TrainerState

    cb = CheckpointCallback(None, None, None, {}, seconds=None, align=3)  # e.g. GRPO's num_iterations=3
    asked = [
        cb.on_step_end(None, TrainerState(global_step=s), TrainerControl(should_save=s == 4)).should_save
        for s in range(1, 10)
    ]
    assert asked == [False] * 5 + [True] + [False] * 3  # asked at 4, saved at 6, then nothing pending


@pytest.mark.parametrize("bad", ["2Mtokens", "soon", "10steps,5min", 5])
def test_checkpoint_every_is_validated(bad):
    from sparring.train.sft import SFTOptions

    with pytest.raises(ValueError, match="sft.checkpoint_every"):
        SFTOptions.from_any({"checkpoint_every": bad})
    assert SFTOptions.from_any({"checkpoint_every": "5min"}).checkpoint_every == "5min"


def test_methods_are_resumable_and_one_that_is_not_refuses_the_options(tmp_path):
    from sparring.train import METHODS, register_method
    from sparring.train.sft import SFTOptions

    assert all(m.resumable for m in METHODS.values())  # self-training round by round (test_self_train_resume.py)
    register_method("_plain", SFTOptions)(lambda *args: None)  # a plug-in method without checkpoints
    try:
        with pytest.raises(ValueError, match="checkpoint_every: _plain does not write resumable checkpoints"):
            train("_plain", "test", "countdown", {"checkpoint_every": "5steps"}, tmp_path / "g", "2steps")
        with pytest.raises(ValueError, match="resume: _plain does not"):
            train("_plain", "test", "countdown", None, tmp_path / "g", "2steps", resume=True)
    finally:
        del METHODS["_plain"]


def test_auto_checkpoints_every_ten_minutes_and_off_writes_none():
    from sparring.train.budget import parse_every
    from sparring.train.sft import SFTOptions

    assert SFTOptions().checkpoint_every == "auto" and parse_every("auto") == ("seconds", 600.0)
    assert parse_every("off") is None and parse_every(None) is None


def test_the_bucketed_order_of_an_epoch_depends_on_the_epoch_alone():
    from sparring.train.data import BucketBatchSampler

    lengths = [random.Random(i).randrange(5, 300) for i in range(50)]
    walk = BucketBatchSampler(lengths, 4, seed=1)
    epochs = [list(walk) for _ in range(3)]  # iterated without set_epoch: one epoch after another
    jump = BucketBatchSampler(lengths, 4, seed=1)
    jump.set_epoch(2)  # what the Trainer does when it resumes in the third epoch
    assert list(jump) == epochs[2] != epochs[1]


def test_a_pipeline_shares_checkpoint_every_with_its_stages_and_keeps_it_out_of_stage_keys():
    from sparring.train.pipeline import PipelineOptions

    cfg = PipelineOptions.from_any({"preset": "sft-grpo", "checkpoint_every": "3steps"})
    assert [c.checkpoint_every for _, c, _ in cfg.stage_plans()] == ["3steps", "3steps"]
    own = PipelineOptions.from_any({"stages": [{"method": "sft", "config": {"checkpoint_every": "off"}}]})
    assert own.stage_plans()[0][1].checkpoint_every == "off"  # a stage's own setting wins
