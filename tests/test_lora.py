"""LoRA through peft (issue 23, item 1): adapters for every method on a tiny Qwen2 in chat
style, saved with their run card, loaded onto their base by probes, merged by ``sparring
merge`` into a model whose outputs match; LoRA's FLOPs; bad input fails before training."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from sparring.models import HFResponder, load_model, make_tiny_real
from sparring.probes import ProbeConfig, run_probes
from sparring.settings import merged, parse_settings
from sparring.tasks import get_task
from sparring.train import train
from sparring.train.lora import LoraOptions, merge_adapter
from sparring.train.raro.rerank import load_critic

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = {"eval_problems": 2, "show_progress": False, "lora": {"r": 4}}
ROLLOUT = {**QUICK, "n": 16, "prompts_per_step": 2, "num_generations": 2, "max_completion_length": 8}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("lora-base") / "qwen2"
    make_tiny_real("qwen2", out_dir=d, seed=0)
    return d


def test_dotted_settings_nest_and_merge():
    got = parse_settings(["lora.r=16", 'lora.target_modules=["q_proj"]', "n=3"])
    assert got == {"lora": {"r": 16, "target_modules": ["q_proj"]}, "n": 3}
    assert merged({"lora": {"r": 8, "alpha": 4}}, {"lora": {"r": 16}}) == {"lora": {"r": 16, "alpha": 4}}
    with pytest.raises(ValueError, match="not a mapping"):
        parse_settings(["n=3", "n.x=1"])
    assert LoraOptions.parse({}, "sft.lora") is None
    for bad, msg in (({"rank": 8}, "unknown key"), ({"r": 0}, r"lora\.r"), ({"target_modules": []}, "target_modules")):
        with pytest.raises(ValueError, match=msg):
            LoraOptions.parse(bad, "sft.lora")


def test_sft_adapter_loads_on_its_base_and_merges_to_the_same_outputs(base, tmp_path):
    card = train("sft", str(base), "countdown", {**QUICK, "n": 64}, tmp_path / "sft", "2steps")
    out = card.path
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["lora_base"] == str(base) and run["config"]["lora"] == {"r": 4} and run["config"]["style"] == "chat"
    adapted, tok = load_model(out)  # the adapter merged onto its base
    plain, _ = load_model(base)
    assert any(not torch.equal(v, plain.state_dict()[k]) for k, v in adapted.state_dict().items())
    merged_dir = merge_adapter(out, tmp_path / "merged")
    m = AutoModelForCausalLM.from_pretrained(merged_dir, local_files_only=True)  # a plain checkpoint
    task = get_task("countdown")
    prompts = [[{"role": "user", "content": task.prompt(p, 0, "chat")}] for p in task.problems("test", n=3, seed=0)]
    want = HFResponder(adapted, tok).generate(prompts, max_new_tokens=12)
    assert HFResponder(m, tok).generate(prompts, max_new_tokens=12) == want
    assert json.loads((merged_dir / "run.json").read_text())["merged_from"]["base"] == str(base)
    res = run_probes(str(out), None, task, "accuracy", config=ProbeConfig(n=2, n_resamples=20))
    assert res["accuracy"].config["style"] == "chat"  # probes load an adapter directory directly


def test_lora_flops_leave_out_the_frozen_weight_gradients(base, tmp_path):
    full = train("sft", str(base), "countdown", {**QUICK, "n": 64, "lora": {}}, tmp_path / "full", "2steps")
    lora = train("sft", str(base), "countdown", {**QUICK, "n": 64}, tmp_path / "lora", "2steps")
    f, lo = full.metrics["train"], lora.metrics["train"]
    assert f["tokens"] == lo["tokens"]  # the same rows
    from sparring.train.flops import matmul_weights
    from sparring.train.lora import add_adapter

    model, _ = load_model(base)
    frozen = matmul_weights(model)  # under the adapter every base matmul is frozen
    adapter = matmul_weights(add_adapter(model, LoraOptions(r=4))) - frozen  # the A and B matrices
    # rule (flops.py): full 3 F(L) with N; LoRA 3 F(L) with N + adapter, less 2 N_frozen L
    assert f["flops_by_kind"]["train"] - lo["flops_by_kind"]["train"] == (2 * frozen - 6 * adapter) * f["tokens"]
    assert lo["flops_by_kind"]["train"] < f["flops_by_kind"]["train"]  # 0.80x here: attention-heavy tiny model


@pytest.mark.parametrize(
    "method, config",
    [
        ("cft", {"n": 32}),
        ("grpo", ROLLOUT),
        ("raro", {**ROLLOUT, "shared_critic": False}),
        ("pipeline", {"stages": [{"method": "sft", "config": {"n": 32}}, {"method": "grpo", "config": ROLLOUT}]}),
    ],
)
def test_every_method_writes_an_adapter(base, tmp_path, method, config):
    card = train(method, str(base), "countdown", {**QUICK, **config}, tmp_path / method, "2steps")
    assert (card.path / "adapter_config.json").is_file()
    assert json.loads((card.path / "run.json").read_text())["lora_base"] == str(base)  # pipelines: the first base
    load_model(card.path)
    if method == "raro":  # the separate critic: an adapter of its own on the same base
        assert (card.path / "critic" / "adapter_config.json").is_file()
        load_critic(card.path)


def test_bad_lora_input_fails_before_training(base, tmp_path):
    with pytest.raises(ValueError, match=r"lora\.target_modules: \['nope'\] match no module .*q_proj"):
        train("sft", str(base), "countdown", {**QUICK, "lora": {"target_modules": ["nope"]}}, tmp_path / "x", "1steps")
    assert not (tmp_path / "x").exists()
    card = train("sft", str(base), "countdown", {**QUICK, "n": 16}, tmp_path / "a", "1steps")
    moved = tmp_path / "moved-base"
    base.rename(moved)  # the adapter's base is gone
    try:
        with pytest.raises(ValueError, match="its base model .* cannot be loaded"):
            load_model(card.path)
    finally:
        moved.rename(base)
