"""The lab and resumable checkpoints: a study's ``checkpoint_every`` reaches every resumable
arm, is not part of any unit key, and a train unit killed with SIGKILL mid-way continues
from its last checkpoint on the next ``sparring run``, ending with the weights of an
uninterrupted run."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from sparring.lab import load_spec, parse_spec
from sparring.lab.spec import Spec
from sparring.train import METHODS, train
from sparring.train.resume import MARKER, resume_dir

pytestmark = pytest.mark.usefixtures("one_thread")

# as tests/test_resume.py: 26 rows in steps of 4, so the run crosses epochs and resumes mid-epoch
CFG = {"n": 26, "learning_rate": 1e-2, "batch_size": 4, "micro_batch_tokens": 50, "warmup_steps": 3}
BUDGET = "40steps"
STUDY = {
    "name": "lab-resume",
    "task": {"name": "countdown"},
    "base": "test",
    "budget": BUDGET,
    "seeds": [0],
    "checkpoint_every": "10steps",
    "arms": [{"name": "sft", "method": "sft", "config": {**CFG, "show_progress": False, "logging_steps": 1}}],
    "probes": {"names": ["accuracy"], "n": 2, "config": {"max_new_tokens": 4, "levels": [], "n_resamples": 50}},
}
# `sparring run`, sleeping in every training pass (numerics untouched) so the kill lands mid-run
SLOW_RUN = """
import sys, time
from sparring.train import trainers
inner = trainers.SparringSFTTrainer.compute_loss
def slow(self, *args, **kwargs):
    time.sleep(0.05)
    return inner(self, *args, **kwargs)
trainers.SparringSFTTrainer.compute_loss = slow
from sparring.cli import main
sys.argv = ["sparring", *sys.argv[1:]]
main()
"""


def _max_diff(a: Path, b: Path) -> float:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def test_a_train_unit_killed_mid_way_resumes_from_its_checkpoint(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(STUDY))
    out = tmp_path / "run"
    args = ["run", str(spec_path), "--out", str(out), "--no-report"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, *args], env=env, stderr=subprocess.PIPE, start_new_session=True
    )
    marker = resume_dir(out / "ckpt" / "sft-s0") / "checkpoint-20" / MARKER
    deadline = time.monotonic() + 180
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "ckpt" / "sft-s0" / "run.json").exists(), "the kill landed after training"

    # meanwhile, the same training uninterrupted (the lab's config for the arm and seed)
    ref = train(
        "sft",
        "test",
        "countdown",
        {"eval_problems": 0, **STUDY["arms"][0]["config"], "seed": 0},
        tmp_path / "ref",
        BUDGET,
    )

    r = subprocess.run([sys.executable, "-m", "sparring", *args], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    err = " ".join(r.stderr.split())
    assert "train sft (seed 0): resuming the interrupted run from its last checkpoint" in err
    assert "sft: resuming from step" in err
    ckpt = out / "ckpt" / "sft-s0"
    spent = json.loads((ckpt / "run.json").read_text())["metrics"]["train"]
    assert spent["resumed_from_step"] >= 20 and spent["steps"] == 40
    assert _max_diff(ref.path, ckpt) < 1e-6, f"resumed from step {spent['resumed_from_step']}"
    assert not resume_dir(ckpt).exists()  # written: its checkpoints are gone
    db = sqlite3.connect(out / "lab.sqlite")
    assert db.execute("SELECT COUNT(*) FROM units WHERE status='done'").fetchone()[0] == 2
    db.close()


@pytest.fixture
def grpo_not_resumable(monkeypatch):
    """grpo as a method without resumable checkpoints (whichever methods have them today)."""
    monkeypatch.setitem(METHODS, "grpo", dataclasses.replace(METHODS["grpo"], resumable=False))


def _study(**top) -> dict:
    base_arm = {"name": "base", "method": "none"}
    sft = {"name": "sft", "method": "sft", "config": {"n": 32}}
    grpo = {"name": "grpo", "method": "grpo", "config": {}}
    pipe = {
        "name": "p",
        "method": "pipeline",
        "config": {"stages": [{"method": "sft", "config": {"n": 8}}, {"method": "grpo"}]},
    }
    return {**STUDY, "arms": [base_arm, sft, grpo, pipe], **top}


def _keys(raw: dict) -> dict[tuple[str, str], str]:
    spec = parse_spec(raw)
    return {(a.name, kind): spec.unit_key(a, 0, kind) for a in spec.arms for kind in ("train", "probe")}


def test_checkpoint_every_is_not_part_of_any_unit_key():
    keys = _keys(_study(checkpoint_every=None))
    assert _keys(_study(checkpoint_every="10steps")) == keys
    assert _keys(_study(checkpoint_every="5min")) == keys
    edited = _study()
    edited["arms"][1]["config"].update(checkpoint_every="3steps", show_progress=False)
    edited["arms"][3]["config"]["stages"][0]["config"].update(checkpoint_every="2steps", show_progress=False)
    edited["arms"][3]["config"]["show_progress"] = False
    assert _keys(edited) == keys

    def cached(folder: str) -> dict:  # where an LLM teacher's replies are cached does not change them
        raw = _study()
        raw["arms"][1]["config"]["recipe_options"] = {"teacher_cache": folder}
        raw["arms"][3]["config"]["stages"][0]["config"]["recipe_options"] = {"teacher_cache": folder}
        return _keys(raw)

    assert cached("/a") == cached("/b")
    edited["arms"][1]["config"]["n"] = 33  # a real change still changes the key
    changed = _keys(edited)
    assert changed[("sft", "train")] != keys[("sft", "train")] and changed[("base", "train")] == keys[("base", "train")]


def test_checkpoint_every_reaches_the_resumable_arms_that_do_not_set_their_own(grpo_not_resumable):
    raw = _study(checkpoint_every="10steps")
    raw["arms"].append({"name": "own", "method": "sft", "config": {"checkpoint_every": "5min"}})
    spec = parse_spec(raw)
    got = {a.name: spec.arm_config(a).get("checkpoint_every") for a in spec.arms}
    pipeline = "10steps" if METHODS["pipeline"].resumable else None  # pipelines: not yet
    assert got == {"base": None, "sft": "10steps", "grpo": None, "p": pipeline, "own": "5min"}
    assert spec.arm("sft").config == {"n": 32}  # the arm itself (and its key) is untouched
    # a spec stored before the field existed still reads
    d = spec.to_dict()
    del d["checkpoint_every"]
    assert Spec.from_dict(d).checkpoint_every is None


@pytest.mark.parametrize("bad", ["2Mtokens", "soon", "10steps,5min", 5])
def test_a_bad_checkpoint_every_fails_at_load_naming_the_field(tmp_path, bad):
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump({**STUDY, "checkpoint_every": bad}))
    with pytest.raises(ValueError, match=r"^spec\.checkpoint_every: "):
        load_spec(p)


def test_the_spec_field_is_valid_and_an_arm_that_cannot_checkpoint_is_refused(tmp_path, grpo_not_resumable):
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(_study(checkpoint_every="5min")))
    assert load_spec(p).checkpoint_every == "5min"  # grpo and the pipeline simply do not get it
    raw = _study()
    raw["arms"][2]["config"]["checkpoint_every"] = "5steps"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"arms\[2\] \(grpo\): checkpoint_every: grpo does not"):
        load_spec(p)
