"""self-train and critique-loop resume round by round (train/self_train_resume.py): a run
stopped inside round 3 and resumed runs round 3 alone and ends with the history, the spend
and (on CPU) the weights of an uninterrupted run; another run's checkpoints are refused in
one ValueError; a damaged newest round is skipped for the previous one.

The actor's answers are planted (conftest's ``planted``), so every round has data."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from test_self_train import CFG

from sparring.tasks import get_task
from sparring.train import Budget, resume, train
from sparring.train import self_train_resume as sr
from sparring.train import self_train_rounds as rounds_mod
from sparring.train.resume import resume_dir, resume_requested
from sparring.train.self_train import SelfTrainOptions

pytestmark = pytest.mark.usefixtures("one_thread", "planted")

RUN = {**CFG, "rounds": 3}
BUDGET = "6steps"  # two SFT steps a round


class Crash(RuntimeError):
    pass


@pytest.fixture
def rounds(monkeypatch):
    """Counts the rounds run (``run_round`` calls) and keeps the torch RNG state each starts
    from (``rounds.states``); ``rounds.crash_at = r`` makes the r-th raise."""
    real = rounds_mod.run_round

    class Counter:
        calls, crash_at, states = 0, None, []

        @staticmethod
        def run_round(*args, **kwargs):
            Counter.calls += 1
            Counter.states.append(torch.random.get_rng_state().clone())
            if Counter.calls == Counter.crash_at:
                raise Crash(f"killed in round {Counter.calls}")
            return real(*args, **kwargs)

    monkeypatch.setattr(rounds_mod, "run_round", Counter.run_round)
    return Counter


def _weights(path):
    name = "adapter_model.safetensors" if (path / "adapter_model.safetensors").is_file() else "model.safetensors"
    return load_file(str(path / name))


def _max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _timeless(obj):
    """``obj`` without its wall-clock numbers (seconds and rates differ between runs)."""
    if isinstance(obj, dict):
        return {k: _timeless(v) for k, v in obj.items() if k not in ("seconds", "tokens_per_second")}
    if isinstance(obj, list):
        return [_timeless(v) for v in obj]
    return obj


def _interrupted_then_resumed(method, cfg, tmp_path, rounds):
    """An uninterrupted run, and the same run stopped in round 3 then resumed: both cards."""
    ref = train(method, "test", "countdown", cfg, tmp_path / "ref", BUDGET)
    assert rounds.calls == 3
    rounds.calls, rounds.crash_at = 0, 3
    out = tmp_path / "run"
    with pytest.raises(Crash):
        train(method, "test", "countdown", cfg, out, BUDGET)
    left = sorted(p.name for p in resume_dir(out).iterdir())
    assert left == ["round-1", "round-2"] and not out.exists()  # complete rounds only, no output
    weights = "adapter_model.safetensors" if cfg.get("lora") else "model.safetensors"
    assert (resume_dir(out) / "round-2" / weights).is_file() and (resume_dir(out) / "round-2" / sr.STATE).is_file()
    rounds.calls, rounds.crash_at = 0, None
    card = train(method, "test", "countdown", cfg, out, BUDGET, resume=True)
    assert rounds.calls == 1  # rounds 1 and 2 were not redone
    assert not resume_dir(out).exists()  # removed once OUT is written
    return ref, card


def test_a_resumed_self_train_ends_as_an_uninterrupted_run(tmp_path, rounds, capsys):
    ref, card = _interrupted_then_resumed("self-train", RUN, tmp_path, rounds)
    a, b = ref.metrics["train"], card.metrics["train"]
    assert len(b["history"]) == 3 and b["resumed_from_round"] == 2 and "resumed_from_round" not in a
    assert _timeless(b["history"]) == _timeless(a["history"])  # data sizes, per-round stats, SFT losses
    assert [h["data_rows"] for h in b["history"]] == [3, 3, 3] and b["history"][2]["sft"]["steps"] == 2
    for key in ("steps", "tokens", "flops", "flops_by_kind", "log_history", "problems"):
        assert b[key] == a[key], key
    assert _timeless(card.metrics["before"]) == _timeless(ref.metrics["before"])  # saved, not redone
    assert _max_diff(_weights(card.path), _weights(ref.path)) < 1e-6
    assert "self-train: resuming after round 2" in capsys.readouterr().err


def test_critique_loop_resumes_and_a_different_run_is_refused(tmp_path, rounds, monkeypatch):
    """critique-loop with the programmatic critic, restarting each round from the base with
    a fresh LoRA adapter (its initialisation seeded by the run's seed); round 3 resumed starts
    from the torch RNG state an uninterrupted run's round 3 starts from (sampling draws from
    it), and without the restore it does not (the control below)."""
    cfg = {**RUN, "restart": True, "lora": {"r": 4}, "learning_rate": 5e-2}
    ref, card = _interrupted_then_resumed("critique-loop", cfg, tmp_path, rounds)
    ref_round3, resumed_round3 = rounds.states[2], rounds.states[-1]
    assert torch.equal(resumed_round3, ref_round3)
    a, b = ref.metrics["train"], card.metrics["train"]
    assert _timeless(b["history"]) == _timeless(a["history"]) and b["history"][0]["refined_rows"] == 3
    assert b["flops"] == a["flops"] and (card.path / "adapter_config.json").is_file()
    assert _max_diff(_weights(card.path), _weights(ref.path)) < 1e-6

    out = tmp_path / "run"
    rounds.calls, rounds.crash_at = 0, 3
    with pytest.raises(Crash):
        train("critique-loop", "test", "countdown", cfg, out, BUDGET)
    with pytest.raises(ValueError, match=r"critique-loop: --resume: .*round-2 was written by a different run "):
        train("critique-loop", "test", "countdown", {**cfg, "samples": 1}, out, BUDGET, resume=True)
    with pytest.raises(ValueError, match=r"\(budget differ\)"):
        train("critique-loop", "test", "countdown", cfg, out, "9steps", resume=True)
    assert rounds.calls == 3  # the two refused resumes ran no round (the third call was the crash)

    monkeypatch.setattr(sr.RoundCheckpoints, "restore_rng", lambda self: None)  # the control
    rounds.calls, rounds.crash_at = 0, None
    stale = train("critique-loop", "test", "countdown", cfg, out, BUDGET, resume=True)
    assert _timeless(stale.metrics["train"]["history"][:2]) == _timeless(a["history"][:2])
    assert not torch.equal(rounds.states[-1], ref_round3)


def test_checkpoint_every_resumes_inside_a_rounds_sft(tmp_path, rounds, monkeypatch, capsys):
    """Stopped after the step-1 checkpoint of round 3's SFT: the resume redoes round 3's
    sampling (the same rows) and continues its SFT from step 1."""
    cfg = {**RUN, "checkpoint_every": "1steps"}
    ref = train("self-train", "test", "countdown", cfg, tmp_path / "ref", BUDGET)
    real = resume.Checkpoints.finish

    def finish(self, step, *args, **kwargs):
        done = real(self, step, *args, **kwargs)
        if self.what == "self-train round 3":
            raise Crash("killed after the checkpoint")
        return done

    monkeypatch.setattr(resume.Checkpoints, "finish", finish)
    out = tmp_path / "run"
    with pytest.raises(Crash):
        train("self-train", "test", "countdown", cfg, out, BUDGET)
    root = resume_dir(out)
    assert sorted(p.name for p in root.iterdir()) == ["round-1", "round-2", "sft-3.resume"]  # rounds' SFT ones gone
    assert [p.name for p in (root / "sft-3.resume").iterdir()] == ["checkpoint-1"]
    monkeypatch.setattr(resume.Checkpoints, "finish", real)
    rounds.calls = 0
    card = train("self-train", "test", "countdown", cfg, out, BUDGET, resume=True)
    err = capsys.readouterr().err
    assert "resuming after round 2" in err and "self-train round 3: resuming from step 1" in err
    assert rounds.calls == 1 and not root.exists()
    a, b = ref.metrics["train"], card.metrics["train"]
    # transformers' train_loss summary averages the steps of the last process only (docs/resume.md)
    assert b["history"][2]["sft"].pop("train_loss") != a["history"][2]["sft"].pop("train_loss")
    assert _timeless(b["history"]) == _timeless(a["history"]) and b["log_history"] == a["log_history"]
    assert _max_diff(_weights(card.path), _weights(ref.path)) < 1e-6


def _fake_round(root, r: int, key: dict) -> None:
    d = root / f"round-{r}"
    d.mkdir(parents=True)
    (d / "model.safetensors").write_bytes(b"x" * 10)
    state = {"format": sr.FORMAT, "key": key, "round": r, "files": {"model.safetensors": 10}}
    (d / sr.STATE).write_text(json.dumps(state))


def test_a_damaged_round_is_skipped_and_a_fresh_start_clears_old_rounds(tmp_path, capsys):
    cfg, task, budget = SelfTrainOptions.from_any({"n": 6}), get_task("countdown"), Budget.parse("6steps")
    out = tmp_path / "o"
    key = sr.run_key("self-train", cfg, budget, "test", task, {"hash": "h"})
    root = resume_dir(out)
    for r in (1, 2, 3):
        _fake_round(root, r, key)
    (root / "round-3" / "model.safetensors").write_bytes(b"x")  # cut short
    (root / "round-2" / sr.STATE).write_text("{")  # unreadable
    (root / ".round-4.tmp-1-abcd").mkdir()  # what a killed process was writing
    with resume_requested(True):
        ck = sr.RoundCheckpoints("self-train", cfg, budget, "test", task, {"hash": "h"}, out)
    err = capsys.readouterr().err
    assert ck.round == 1 and ck.weights("test") == str(root / "round-1")
    assert "skipping" in err and "model.safetensors has 1 bytes, 10 were written" in err
    assert f"unreadable {sr.STATE}" in err and not (root / ".round-4.tmp-1-abcd").exists()
    sr.RoundCheckpoints("self-train", cfg, budget, "test", task, {"hash": "h"}, out)  # no --resume
    assert not root.exists() and "starting over" in capsys.readouterr().err
    with resume_requested(True):  # nothing to resume: round 1, said in one line
        assert sr.RoundCheckpoints("self-train", cfg, budget, "test", task, {"hash": "h"}, out).round == 0
    assert "no complete round checkpoint" in capsys.readouterr().err
    off = SelfTrainOptions.from_any({"n": 6, "checkpoint_every": "off"})
    sr.RoundCheckpoints("self-train", off, budget, "test", task, {"hash": "h"}, out).save(1, None, None, "test", {})
    assert not root.exists()  # off: no round checkpoints
