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

from sparring.train import train
from sparring.train.resume import MARKER, CheckpointCallback, Checkpoints, last_complete, resume_dir, step_of

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"eval_problems": 2, "eval_max_new_tokens": 4, "show_progress": False, "logging_steps": 1}
# 26 rows in steps of 4 (two accumulation passes of 2): 7 steps an epoch, the last one short,
# so a 16-step run crosses two epoch boundaries and resumes mid-epoch.
CFG = {**TINY, "n": 26, "learning_rate": 1e-2, "batch_size": 4, "micro_batch_tokens": 50, "warmup_steps": 3}
EVERY = 3
BUDGET = "16steps"
# The child sleeps in every training pass (numerics untouched) so that the kill lands mid-run.
CHILD = """
import json, sys, time
from sparring.train import train, trainers
inner = trainers.SparringSFTTrainer.compute_loss
def slow(self, *args, **kwargs):
    time.sleep(0.1)
    return inner(self, *args, **kwargs)
trainers.SparringSFTTrainer.compute_loss = slow
train("sft", "test", "countdown", json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])
"""


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def _max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


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
    cfg = {**CFG, "checkpoint_every": f"{EVERY}steps"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg), str(out), BUDGET], stderr=subprocess.PIPE)
    marker = resume_dir(out) / f"checkpoint-{after}" / MARKER
    deadline = time.monotonic() + 120
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.7))  # any step up to the next checkpoint, or while it is written
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.safetensors").exists()
    newest = last_complete(resume_dir(out))
    return _weights(ref.path), resume_dir(out), step_of(newest), seed


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
    from transformers import TrainerControl

    cb = CheckpointCallback(None, None, {}, seconds=0.0)  # due at every step
    control = TrainerControl()
    assert cb.on_step_end(None, None, control).should_save
    control = TrainerControl(should_training_stop=True, should_save=True)  # e.g. save_steps at the end
    assert not cb.on_step_end(None, None, control).should_save
    ckpts = Checkpoints(tmp_path / "run", "5min", {}, resume=False, what="sft")
    assert ckpts.trainer_args()["save_strategy"] == "no" and ckpts.every == ("seconds", 300.0)
    assert Checkpoints(tmp_path / "run", "50steps", {}, resume=False, what="sft").trainer_args()["save_steps"] == 50


@pytest.mark.parametrize("bad", ["2Mtokens", "soon", "10steps,5min", 5])
def test_checkpoint_every_is_validated(bad):
    from sparring.train.sft import SFTOptions

    with pytest.raises(ValueError, match="sft.checkpoint_every"):
        SFTOptions.from_any({"checkpoint_every": bad})
    assert SFTOptions.from_any({"checkpoint_every": "5min"}).checkpoint_every == "5min"


def test_methods_without_resumable_checkpoints_refuse_them(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_every: grpo does not write resumable checkpoints"):
        train("grpo", "test", "countdown", {"checkpoint_every": "5steps"}, tmp_path / "g", "2steps")
    with pytest.raises(ValueError, match="resume: grpo does not"):
        train("grpo", "test", "countdown", None, tmp_path / "g", "2steps", resume=True)


def test_the_bucketed_order_of_an_epoch_depends_on_the_epoch_alone():
    from sparring.train.data import BucketBatchSampler

    lengths = [random.Random(i).randrange(5, 300) for i in range(50)]
    walk = BucketBatchSampler(lengths, 4, seed=1)
    epochs = [list(walk) for _ in range(3)]  # iterated without set_epoch: one epoch after another
    jump = BucketBatchSampler(lengths, 4, seed=1)
    jump.set_epoch(2)  # what the Trainer does when it resumes in the third epoch
    assert list(jump) == epochs[2] != epochs[1]
