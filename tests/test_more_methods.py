"""confidence-shaping and self-eval (METHODS.md 1.10, 1.11): their rewards on hand-made
completions, a few training steps each on the `test` preset, and the self-eval stop string
honoured at generation."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sparring.rewards import get_reward, register_reward
from sparring.rewards.confidence import ConfidenceShapingReward, shaping_score
from sparring.rewards.self_eval import (
    STOP,
    answer_only,
    component_score,
    evaluation_block,
    parse_self_reward,
    self_prediction_reward,
)
from sparring.tasks import get_task
from sparring.tasks.continuation import reasoning_lines
from sparring.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"eval_problems": 2, "eval_max_new_tokens": 8, "show_progress": False, "logging_steps": 1}
RL = {
    **TINY,
    "n": 8,
    "prompts_per_step": 2,
    "num_generations": 4,
    "max_completion_length": 8,
    "learning_rate": 1e-2,
    "rewards": ["_more_digits"],
}


@register_reward("_more_digits")
def _digits(completions, **_):
    """A dense reward a random model gets variance on."""
    return [sum(ch.isdigit() for ch in t) / max(1, len(t)) for t in completions]


def _rows(task, n=3):
    problems = [p for p in task.problems("train", n=12, seed=0) if p.solvable][:n]
    return problems, [json.dumps(p.to_dict()) for p in problems]


# ---- confidence shaping -------------------------------------------------------------------------


def test_rising_confidence_beats_flat_high_with_a_stub_scorer():
    task = get_task("linear")
    problems, cols = _rows(task)
    golds = [task.gold_completion(p, "chat") for p in problems]
    prompts = [task.prompt(p, 0, "chat") for p in problems]
    calls = []

    def rising(pairs):  # P(answer) = the share of the gold's reasoning lines already read
        calls.append(len(pairs))
        out = []
        for ctx, _ in pairs:
            i = next(i for i, prompt in enumerate(prompts) if ctx.startswith(prompt))
            lines = reasoning_lines(golds[i])
            share = sum(line in ctx[len(prompts[i]) :] for line in lines) / len(lines)
            out.append((math.log(max(1e-6, share)), 1))
        return out

    def flat_high(pairs):  # sure of the answer before any reasoning
        return [(0.0, 1)] * len(pairs)

    up = ConfidenceShapingReward(points=3).bind(str, rising)
    flat = ConfidenceShapingReward(points=3).bind(str, flat_high)
    r_up = up(golds, prompts=prompts, problem=cols)
    r_flat = flat(golds, prompts=prompts, problem=cols)
    assert all(a > b for a, b in zip(r_up, r_flat)), (r_up, r_flat)
    assert r_flat == [-1.0] * len(golds)  # no rise, the flat-high penalty
    assert calls == [3 * len(golds)]  # one batched call: 3 reads per rollout
    # only verified-correct rollouts are read; a wrong one scores 0 and costs no forward pass
    calls.clear()
    assert up(["<answer>nonsense</answer>"], prompts=prompts[:1], problem=cols[:1]) == [0.0] and not calls
    assert shaping_score([0.1, 0.5, 0.9]) == pytest.approx(0.8)
    assert shaping_score([0.9, 0.95], threshold=0.5, penalty=1.0) == pytest.approx(0.05 - 1.0)
    assert shaping_score([0.7]) == 0.0
    with pytest.raises(RuntimeError, match="bind"):
        ConfidenceShapingReward()(golds, prompts=prompts, problem=cols)


def test_the_probe_and_the_reward_read_confidence_with_one_function():
    import sparring.probes.confidence as probe
    import sparring.rewards.confidence as reward
    from sparring.tasks import continuation

    assert probe.confidence_trajectories is reward.confidence_trajectories is continuation.confidence_trajectories


def test_confidence_shaping_trains_and_counts_its_reads(tmp_path, init_weights):
    cfg = {**RL, "only_correct": False}  # a random model is never right: read every rollout
    card = train("confidence-shaping", "test", "linear", cfg, tmp_path / "cs", "2steps")
    kinds = card.metrics["train"]["flops_by_kind"]
    assert kinds["confidence"] > 0 and card.metrics["train"]["flops"] == sum(kinds.values())
    model = AutoModelForCausalLM.from_pretrained(card.path, local_files_only=True)
    assert any(not torch.equal(v, init_weights[k]) for k, v in model.state_dict().items())


def test_confidence_shaping_refuses_the_char_style_without_a_stated_answer(tmp_path):
    with pytest.raises(ValueError, match="confidence-shaping.answer_format: not applicable to task countdown"):
        train("confidence-shaping", "test", "countdown", RL, tmp_path / "x", "1steps")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="confidence-shaping.confidence_points"):
        train("confidence-shaping", "test", "linear", {"confidence_points": 20}, tmp_path / "x", "1steps")
    with pytest.raises(ValueError, match=r"pipeline.stages\[1\]: confidence-shaping.answer_format"):
        stages = [{"method": "sft"}, {"method": "confidence-shaping"}]
        train("pipeline", "test", "countdown", {"stages": stages}, tmp_path / "x", "2steps")


# ---- self-eval ------------------------------------------------------------------------------------


def test_self_prediction_reward_formula_and_malformed_blocks():
    assert component_score(0.0, 0.0) == 1.0
    assert component_score(0.5, 1.0) == 0.5 and component_score(0.3, 0.0) == 0.0
    task = get_task("countdown")
    problems, cols = _rows(task, 1)
    gold = task.solve(problems[0])
    block = "\n<evaluation>fine</evaluation><reward>[{}, {}]</reward>"
    got = self_prediction_reward(
        [gold + block.format(1, 1), gold + block.format(0.5, 1), gold + block.format(0, 0)], problem=cols * 3
    )
    assert got == [1.0, 0.75, 0.0]  # true (acc, fmt) = (1, 1): (1 + 1)/2, (0.5 + 1)/2, (0 + 0)/2
    wrong = "1+1=2"
    assert self_prediction_reward([wrong + block.format(0, 0)], problem=cols) == [0.5]  # acc right, fmt (1) wrong
    malformed = [
        gold,  # no block
        gold + "\n<evaluation>x</evaluation>",  # no reward
        gold + block.format(2, 1),  # outside [0, 1]
        gold + "\n<evaluation>x</evaluation><reward>[1, 1, 1]</reward>",
        gold + "\n<evaluation>x</evaluation><reward>[one, 1]</reward>",
        gold + "\n<evaluation>" + "x" * 100_000 + "</evaluation><reward>[1, 1]</reward>",
        gold + "\n<evaluation><evaluation></evaluation><reward>[1, 1]</reward>",
        "",
        None,
    ]
    t0 = time.perf_counter()
    assert self_prediction_reward(malformed, problem=cols * len(malformed)) == [0.0] * len(malformed)
    assert time.perf_counter() - t0 < 1.0
    assert parse_self_reward("<evaluation>ok</evaluation>\n<reward>[ .25 , 1.0 ]</reward>") == (0.25, 1.0)
    # the task's reward sees the answer alone
    correct = get_reward("correct")
    with_block = [gold + "\n" + evaluation_block(task.verify(problems[0], gold))]
    assert correct(with_block, problem=cols) == [0.0] and answer_only(correct)(with_block, problem=cols) == [1.0]
    chat = [[{"role": "assistant", "content": with_block[0]}]]
    assert answer_only(correct)(chat, problem=cols) == [1.0]


def test_self_eval_trains_and_saves_its_stop(tmp_path, init_weights):
    cfg = {**RL, "rewards": ["correct", "_more_digits"], "max_completion_length": 12, "warmup_n": 16}
    cfg["warmup"] = {"batch_size": 8, "learning_rate": 1e-2}
    card = train("self-eval", "test", "countdown", cfg, tmp_path / "se", "3steps")
    m = card.metrics
    assert m["train"]["steps"] == 3 and len(m["train"]["stages"]) == 2  # 1 warm-start step + 2 GRPO steps
    assert m["warmup"]["data"]["labelled_correct"] < 16  # both labels occur in the warm-start
    assert set(m["self_eval_after"]) >= {"parsed", "pred_acc", "true_acc", "correlation", "correlation_ci"}
    gc = json.loads((card.path / "generation_config.json").read_text())
    assert gc["stop_strings"] == [STOP]
    model = AutoModelForCausalLM.from_pretrained(card.path, local_files_only=True)
    assert any(not torch.equal(v, init_weights[k]) for k, v in model.state_dict().items())
    # the same run again finds its warm-start finished (a pipeline stage's key) and does not redo it
    warm_card = tmp_path / "se.stages" / "01-warmup" / "run.json"
    written = warm_card.stat().st_mtime_ns
    again = train("self-eval", "test", "countdown", cfg, tmp_path / "se", "3steps")
    assert warm_card.stat().st_mtime_ns == written and again.metrics["train"]["steps"] == 3


@pytest.fixture(scope="module")
def evaluating_model(tmp_path_factory):
    """A `test` model taught to write a self-evaluation block after every answer, saved with
    self-eval's stop string."""
    from datasets import Dataset

    from sparring.models import load_model, save_model

    task = get_task("countdown")
    problems = task.problems("train", n=64, seed=0)
    tail = "\n<evaluation>ok</evaluation><reward>[1, 1]</reward>"
    rows = Dataset.from_dict({"prompt": [task.prompt(p, 0) for p in problems], "completion": ["1+1=2" + tail] * 64})
    root = tmp_path_factory.mktemp("evaluating")
    rows.save_to_disk(str(root / "rows"))
    cfg = {**TINY, "eval_problems": 0, "recipe": str(root / "rows"), "batch_size": 16, "learning_rate": 1e-2}
    card = train("sft", "test", "countdown", {**cfg, "warmup_steps": 0, "min_lr_ratio": 1.0}, root / "sft", "40steps")
    model, tok = load_model(card.path)
    model.generation_config.stop_strings = [STOP]
    return save_model(model, tok, root / "model")


def test_the_saved_stop_keeps_the_evaluation_out_of_the_answer(evaluating_model):
    from sparring.models import HFResponder, load_for_inference
    from sparring.train.self_eval_reading import self_eval_checkpoint

    task = get_task("countdown")
    prompts = [task.prompt(p, 0) for p in task.problems("test", n=3, seed=0)]
    model, tok = load_for_inference(evaluating_model)
    whole = HFResponder(model, tok, saved_stops=False).generate(prompts, max_new_tokens=64)
    assert all(STOP in row[0] for row in whole), whole  # the model does write the block
    stopped = HFResponder(model, tok).generate(prompts, max_new_tokens=64)
    assert all(STOP not in row[0] and row[0].startswith("1+1=2") for row in stopped), stopped
    # plain transformers honours the saved stop too
    plain = AutoModelForCausalLM.from_pretrained(evaluating_model, local_files_only=True)
    ptok = AutoTokenizer.from_pretrained(evaluating_model, local_files_only=True)
    ids = ptok(prompts[0], return_tensors="pt")
    out = ptok.decode(plain.generate(**ids, max_new_tokens=64, do_sample=False, tokenizer=ptok)[0])
    assert out.endswith(STOP) and out.count("<evaluation>") == 1
    # the probes see the answer alone
    from sparring.probes import run_probes

    acc = run_probes(evaluating_model, None, task, "accuracy", n=3)["accuracy"]
    assert all(STOP not in str(r) for r in acc.records)
    # the self-prediction read past the stop
    metrics = self_eval_checkpoint(evaluating_model, task, 3)  # `sparring self-eval`
    assert len(metrics["records"]) == 3 and metrics["style"] == "char"
    from typer.testing import CliRunner

    from sparring.cli import app

    out = evaluating_model.parent / "self-eval.json"
    res = CliRunner().invoke(app, ["self-eval", str(evaluating_model), "--n", "3", "--out", str(out)])
    assert res.exit_code == 0 and "correlation" in res.output
    assert json.loads(out.read_text())["parsed"] == 1.0
    assert metrics["parsed"] == 1.0 and metrics["pred_acc"] == 1.0 and metrics["true_acc"] == 0.0
    # "1+1=2" is a well-formed step with operands not in the pool: true (acc, fmt) = (0, 1),
    # predicted (1, 1): 0 on acc, 1 on fmt
    assert metrics["self_reward"] == pytest.approx(0.5)


def test_self_eval_correlation_has_a_bootstrap_interval():
    from sparring.train.self_eval_reading import self_eval_metrics

    records = [
        {"pred_acc": p, "pred_fmt": 1.0, "true_acc": t, "true_fmt": 1.0}
        for p, t in [(0.9, 1), (0.8, 1), (0.2, 0), (0.1, 0), (0.7, 1), (0.3, 0), (0.6, 0), (0.4, 1)] * 4
    ] + [{"pred_acc": None, "pred_fmt": None, "true_acc": 0.0, "true_fmt": 1.0}]
    m = self_eval_metrics(records, seed=0, n_resamples=200)
    assert m["parsed"] == pytest.approx(32 / 33) and 0.5 < m["correlation"] < 1.0
    lo, hi = m["correlation_ci"]
    assert lo < m["correlation"] < hi <= 1.0
