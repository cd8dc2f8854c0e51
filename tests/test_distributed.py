"""Data-parallel training (docs/distributed.md) and training logs.

Three launches of ``sparring train ... --processes 2`` (torchrun over gloo on the CPU) on the
``test`` preset: SFT (its loss curve equals one process's at the same global batch), GRPO
and RARO (finite losses); each writes one checkpoint, evaluated and written by rank 0 alone.
The rest runs in this process: option checks, the spec's ``processes`` and ``tensorboard``
fields, TensorBoard logs of a run and a lab unit, and the report's link to them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sparring.train import train
from sparring.train.data import BucketBatchSampler
from sparring.train.distributed import launch_command, rank_file
from sparring.train.reporting import check_report_to

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--base", "test", "--task", "countdown", "-s", "show_progress=false", "-s", "logging_steps=1"]
ROLLOUT = {"n": 64, "prompts_per_step": 4, "num_generations": 4, "max_completion_length": 12}


def launch(method: str, out: Path, budget: str, options: dict) -> tuple[dict, str]:
    """``sparring train METHOD ... --processes 2`` as a user runs it; (run.json, its output)."""
    sets = [a for k, v in options.items() for a in ("-s", f"{k}={json.dumps(v)}")]
    cmd = [sys.executable, "-m", "sparring", "train", method, *TINY, "--budget", budget, "--out", str(out), *sets]
    env = {**os.environ, "SPARRING_THREADS": "1"}
    done = subprocess.run(cmd + ["--processes", "2"], capture_output=True, text=True, env=env, timeout=400)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return json.loads((out / "run.json").read_text()), output


def check_written_once(card: dict, out: Path, output: str, evaluations: tuple[str, ...]) -> None:
    """world_size 2 in run.json; rank 0 alone evaluated and wrote; nothing beside OUT."""
    assert card["metrics"]["train"]["world_size"] == 2
    assert [line for line in output.splitlines() if "evaluating" in line] == [
        f"[rank 0 of 2] evaluating {when} training" for when in evaluations
    ]
    assert output.count(f"wrote {out}") == 1
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no OUT.resume, no second copy
    assert (out / "model.safetensors").is_file() and card["metrics"]["after"] is not None


def losses(card: dict) -> list[float]:
    return [h["loss"] for h in card["metrics"]["train"]["log_history"]]


@pytest.mark.slow
def test_sft_two_processes_same_curve_as_one(tmp_path):
    options = {"n": 128, "batch_size": 16, "eval_problems": 4, "seed": 3}
    two, output = launch("sft", tmp_path / "two" / "sft", "4steps", options)
    check_written_once(two, tmp_path / "two" / "sft", output, evaluations=("before", "after"))
    cfg = {**options, "show_progress": False, "logging_steps": 1, "eval_problems": 0}
    one = train("sft", "test", "countdown", cfg, tmp_path / "one" / "sft", "4steps").metrics
    t1, t2 = one["train"], two["metrics"]["train"]
    assert t2["global_batch"] == t1["global_batch"] == 16 and t1["world_size"] == 1
    assert (t2["steps"], t2["tokens"], t2["flops"]) == (t1["steps"], t1["tokens"], t1["flops"])  # global budgets
    a, b = losses({"metrics": one}), losses(two)
    assert len(a) == len(b) == 4 and all(math.isfinite(x) for x in b)
    assert all(abs(x - y) <= 1e-4 * abs(x) for x, y in zip(a, b)), (a, b)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, options",
    [
        ("grpo", {**ROLLOUT, "rewards": ["format"], "checkpoint_every": "1steps"}),  # saves with two ranks
        ("raro", {**ROLLOUT, "critic_pairs": 3}),
    ],
)
def test_rollout_methods_two_processes(tmp_path, method, options):
    out = tmp_path / method
    card, output = launch(method, out, "2steps", {**options, "eval_problems": 4, "eval_before": False})
    check_written_once(card, out, output, evaluations=("after",))
    train_metrics = card["metrics"]["train"]
    assert train_metrics["steps"] == 2 and train_metrics["global_batch"] == 16  # 4 prompts x 4, 2 per rank
    assert len(losses(card)) == 2 and all(math.isfinite(x) for x in losses(card))
    assert train_metrics["flops"] == sum(train_metrics["flops_by_kind"].values()) > 0


def test_bad_process_options_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="batch_size: 9 does not split over 2 processes"):
        train("sft", "test", "countdown", {"batch_size": 9}, tmp_path / "x", "1steps", processes=2)
    with pytest.raises(ValueError, match="prompts_per_step"):
        train("grpo", "test", "countdown", {"prompts_per_step": 3}, tmp_path / "x", "1steps", processes=2)
    with pytest.raises(ValueError, match="processes: must be a positive integer"):
        train("sft", "test", "countdown", None, tmp_path / "x", "1steps", processes=0)
    assert not (tmp_path / "x").exists()


def test_launcher_and_rank_files():
    cmd = launch_command(3, ["train", "sft"])  # no GPU here: torchrun's module, gloo
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3", "-m"]
    assert cmd[-3:] == ["sparring", "train", "sft"]
    assert rank_file("sparring-trainer.json") == "sparring-trainer.json"  # rank 0: one process's name


def test_full_only_sampler_yields_whole_steps():
    lengths = [10] * 37 + [100] * 5  # two buckets, neither a multiple of 8
    s = BucketBatchSampler(lengths, 8, seed=0, full_only=True)
    order = list(s)
    assert len(order) == len(s) == 32 and len(set(order)) == 32
    assert len(list(BucketBatchSampler(lengths, 8, seed=0))) == 42  # one process: every row


def test_report_to_checks():
    assert check_report_to("tensorboard") == "tensorboard"
    with pytest.raises(ValueError, match="report_to: must be one of"):
        check_report_to("mlflow")
    for name in ("wandb", "trackio"):
        try:
            __import__(name)
        except ImportError:
            with pytest.raises(ValueError, match=f"{name} is not installed"):
                train("sft", "test", "countdown", {"report_to": name}, "/tmp/never", "1steps")


def _events(folder: Path) -> list[Path]:
    return list(folder.rglob("events.out.tfevents.*"))


def test_tensorboard_logs_of_a_run(tmp_path):
    cfg = {"n": 32, "batch_size": 8, "eval_problems": 0, "show_progress": False, "logging_steps": 1}
    train("sft", "test", "countdown", {**cfg, "report_to": "tensorboard"}, tmp_path / "sft", "2steps")
    logs = tmp_path / "sft.tensorboard"
    assert _events(logs), sorted(tmp_path.rglob("*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(_events(logs)[0].parent))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


def test_lab_tensorboard_per_unit_and_report_link(tmp_path):
    from sparring.lab import load_spec, run, write_report

    spec = {
        "name": "tb",
        "task": {"name": "countdown"},
        "base": "test",
        "budget": "2steps",
        "seeds": [0],
        "arms": [{"name": "base", "method": "none"}, {"name": "sft", "method": "sft", "config": {"n": 32}}],
        "probes": {
            "names": ["accuracy"],
            "n": 4,
            "config": {"max_new_tokens": 8, "levels": ["ood-n"], "n_resamples": 200},
        },
        "tensorboard": True,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**spec, "processes": 0}))
    with pytest.raises(ValueError, match="processes"):
        load_spec(path)
    path.write_text(
        yaml.safe_dump({**spec, "processes": 2, "arms": [{**spec["arms"][1], "config": {"batch_size": 5}}]})
    )
    with pytest.raises(ValueError, match="batch_size: 5 does not split over 2"):
        load_spec(path)
    path.write_text(yaml.safe_dump(spec))
    out = run(path, tmp_path / "run", quiet=True)
    assert _events(out / "tensorboard" / "sft-s0") and not (out / "tensorboard" / "base-s0").exists()
    html = (write_report(out) / "report.html").read_text()
    assert "<a href='../tensorboard/sft-s0/'>sft-s0</a>" in html
