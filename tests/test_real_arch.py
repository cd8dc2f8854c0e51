"""Tiny real-architecture fixtures (issue 22, item 3): a random Qwen2 and a random Llama
with byte-level BPE tokenizers and chat templates, built offline; what works on them today.

Each fixture is built once per module (about 0.1 s each after the imports)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM, Qwen2ForCausalLM

from sparring.models import TINY_ARCHS, HFResponder, load_model, make_tiny_real, tiny_real_tokenizer
from sparring.probes import PROBES, ProbeConfig, run_probes
from sparring.tasks import get_task
from sparring.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

END_OF_TURN = {"qwen2": "<|im_end|>", "llama": "<|eot_id|>"}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """arch -> (arch, model, tokenizer, saved directory), each built once."""
    out = {}
    for arch in TINY_ARCHS:
        d = tmp_path_factory.mktemp(f"tiny-{arch}") / "model"
        out[arch] = (arch, *make_tiny_real(arch, out_dir=d, seed=0), d)
    return out


@pytest.fixture(params=TINY_ARCHS)
def built(request, fixtures):
    return fixtures[request.param]


@pytest.fixture(scope="module")
def task_texts():
    """Prompts (every template) and gold solutions of the three tasks."""
    texts = []
    for name in ("countdown", "arith", "linear"):
        task = get_task(name)
        for p in task.problems("test", n=5, seed=0):
            texts += [task.prompt(p, t) for t in range(len(task.templates))] + [task.solve(p)]
    return texts


def test_shapes_special_tokens_and_ids(built):
    arch, model, tok, _ = built
    assert isinstance(model, Qwen2ForCausalLM if arch == "qwen2" else LlamaForCausalLM)
    c = model.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads) == (2, 64, 4)
    assert c.num_key_value_heads == (2 if arch == "qwen2" else 4)  # GQA on qwen2
    assert 400 <= len(tok) <= 512 and c.vocab_size >= len(tok) and c.vocab_size % 64 == 0
    eot = tok.convert_tokens_to_ids(END_OF_TURN[arch])
    assert tok.eos_token == END_OF_TURN[arch] and tok.eos_token_id == eot
    assert tok.pad_token is not None and tok.pad_token_id != eot and tok.padding_side == "left"
    assert c.pad_token_id == tok.pad_token_id == model.generation_config.pad_token_id
    gen_eos = model.generation_config.eos_token_id
    assert gen_eos[0] == eot
    if arch == "qwen2":
        assert tok.bos_token is None and c.eos_token_id == eot
        assert tok("12+3").input_ids == tok("12+3", add_special_tokens=False).input_ids  # no BOS
    else:
        assert tok.bos_token == "<|begin_of_text|>" and c.bos_token_id == tok.bos_token_id
        assert eot in c.eos_token_id
        assert tok("12+3").input_ids[0] == tok.bos_token_id
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_byte_level_tokenizer_round_trips_task_text(built, task_texts):
    _, _, tok, _ = built
    n_tokens = n_bytes = 0
    for text in task_texts + ["héllo wörld ✓ 12345678901234 ×÷ <answer>-7</answer>\n\n"]:
        ids = tok(text, add_special_tokens=False).input_ids
        assert tok.decode(ids) == text  # byte level: anything round-trips
        n_tokens, n_bytes = n_tokens + len(ids), n_bytes + len(text.encode())
    assert n_tokens < 0.75 * n_bytes  # merges learned on the task formats


def test_chat_template_renders_and_round_trips(built):
    arch, _, tok, _ = built
    conv = [{"role": "user", "content": "4,11,17:10\n"}]
    text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    if arch == "qwen2":
        assert text == (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\n4,11,17:10\n<|im_end|>\n<|im_start|>assistant\n"
        )
    else:
        assert text == (
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n4,11,17:10<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
        )
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(ids) == text
    special = {tok.convert_tokens_to_ids(t) for t in tok.all_special_tokens}
    assert sum(i in special for i in ids) == text.count("<|")  # each marker is one token
    assert not tok.apply_chat_template(conv, tokenize=False).endswith("assistant\n")
    multi = conv + [{"role": "assistant", "content": "17-11=6"}, {"role": "user", "content": "Sure?"}]
    rendered = tok.apply_chat_template(multi, tokenize=False, add_generation_prompt=True)
    assert rendered.count(END_OF_TURN[arch]) == 3 + (arch == "qwen2")


def test_saved_directory_loads_with_plain_transformers_and_sparring(built):
    arch, model, tok, out = built
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
        p.name for p in out.iterdir()
    }
    plain = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    plain_tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert type(plain) is type(model)
    for k, v in model.state_dict().items():
        assert torch.equal(plain.state_dict()[k], v), k
    conv = [{"role": "user", "content": "Use 1, 3 and 16 to make 12.\n"}]
    assert plain_tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True) == tok.apply_chat_template(
        conv, tokenize=False, add_generation_prompt=True
    )
    assert (plain_tok.eos_token, plain_tok.pad_token, plain_tok.bos_token) == (
        tok.eos_token,
        tok.pad_token,
        tok.bos_token,
    )
    assert plain_tok("3*x + 7 = 22").input_ids == tok("3*x + 7 = 22").input_ids
    m2, t2 = load_model(out, device="cpu")
    assert type(m2) is type(model) and t2.pad_token == tok.pad_token and t2.chat_template == tok.chat_template
    assert m2.generation_config.eos_token_id == model.generation_config.eos_token_id
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["eos_token_id"][0] == tok.eos_token_id


def test_deterministic_for_a_seed(built, tmp_path):
    arch, model, tok, out = built
    again, tok2 = make_tiny_real(arch, out_dir=tmp_path / "again", seed=0)
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    other, _ = make_tiny_real(arch, seed=1)
    assert not torch.equal(other.model.embed_tokens.weight, model.model.embed_tokens.weight)
    assert tiny_real_tokenizer(arch).get_vocab() == tok.get_vocab()


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown tiny architecture"):
        make_tiny_real("gpt2")
    with pytest.raises(ValueError, match="seed"):
        make_tiny_real("qwen2", seed=-1)


def _one_at_a_time(model, tok, text, special, max_new):
    ids = torch.tensor([tok(text, add_special_tokens=special).input_ids])
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
        eos_token_id=model.generation_config.eos_token_id,
    )[0, ids.shape[1] :].tolist()
    eos = set(model.generation_config.eos_token_id)
    cut = next((i for i, t in enumerate(out) if t in eos), len(out))
    return tok.decode(out[:cut], skip_special_tokens=True)


@pytest.mark.parametrize("chat", [False, True])
def test_batched_left_padded_greedy_equals_one_at_a_time(built, chat):
    _, model, tok, _ = built
    task = get_task("countdown")
    prompts = [task.prompt(p, t) for p in task.problems("test", n=2, seed=0) for t in range(len(task.templates))]
    r = HFResponder(model, tok, batch_size=3, chat=chat)  # several buckets, mixed widths: left padding
    got = [o[0] for o in r.generate(prompts, max_new_tokens=10)]
    want = []
    for p in prompts:
        text, special = r.format(p)
        assert (special is not chat) and (text != p) is chat
        want.append(_one_at_a_time(model, tok, text, special, 10))
    assert got == want
    assert len(set(got)) > 2  # each prompt its own continuation: the comparison means something


# ---- what runs on a real architecture (docs/real-models.md) --------------------------------


@pytest.mark.parametrize("style", ["char", "auto"])
def test_every_probe_runs(built, style):
    _, model, tok, _ = built
    cfg = ProbeConfig(n=6, n_resamples=100, passk_samples=4, passk_ks=(1, 4), style=style)
    res = run_probes(model, tok, "countdown", "all", config=cfg)
    assert list(res) == list(PROBES)
    for r in res.values():
        assert r.primary in r.metrics
        # char style: infogain and confidence do not apply to Countdown (docs/probes.md), n/a
        na = style == "char" and r.probe in ("infogain", "confidence")
        assert (r.metrics.get("not_applicable") == 1.0) is na and bool(r.records) is not na
        assert r.config["style"] == ("char" if style == "char" else "chat")  # auto: chat for a BPE tokenizer
    assert res["accuracy"].metrics["accuracy"] == 0.0  # random weights solve nothing


class _Recorder(HFResponder):
    """An HFResponder that keeps the text of every prompt and scoring context it is given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated: list[str] = []
        self.scored: list[str] = []

    def generate(self, prompts, **kwargs):
        self.generated += [self.format(p)[0] for p in prompts]
        return super().generate(prompts, **kwargs)

    def loglik(self, pairs):
        self.scored += [ctx for ctx, _ in pairs]
        return super().loglik(pairs)


def test_chat_probes_score_through_the_chat_template(fixtures):
    _, model, tok, _ = fixtures["qwen2"]
    r = _Recorder(model, tok)
    run_probes(r, None, "countdown", "infogain,confidence", config=ProbeConfig(n=4, n_resamples=50, style="chat"))
    assert r.generated and all(t.startswith("<|im_start|>") for t in r.generated)
    assert r.scored and all(c.startswith("<|im_start|>") for c in r.scored)


@pytest.mark.parametrize(
    "method, config",
    [
        ("sft", {"n": 200}),
        ("cft", {"n": 200}),
        ("grpo", {"n": 64, "prompts_per_step": 4, "num_generations": 4}),
        ("raro", {"n": 64}),
    ],
)
def test_methods_run_and_the_checkpoint_loads_with_plain_transformers(fixtures, tmp_path, method, config):
    _, model, tok, base = fixtures["qwen2"]
    card = train(method, str(base), "countdown", {**config, "eval_problems": 4}, tmp_path / method, "3steps")
    assert card.metrics["train"]["steps"] == 3
    assert card.config["style"] == "chat" and card.metrics["after"]["style"] == "chat"  # auto on a BPE tokenizer
    out = AutoModelForCausalLM.from_pretrained(tmp_path / method, local_files_only=True)
    out_tok = AutoTokenizer.from_pretrained(tmp_path / method, local_files_only=True)
    assert isinstance(out, Qwen2ForCausalLM)
    assert out_tok.chat_template == tok.chat_template and out_tok.eos_token == "<|im_end|>"
    assert out.generation_config.eos_token_id == model.generation_config.eos_token_id
    changed = any(not torch.equal(v, model.state_dict()[k]) for k, v in out.state_dict().items())
    # grpo: every rollout of a random model scores 0, every group has zero variance and is
    # dropped, so the 3 steps update nothing (docs/real-models.md)
    assert changed is (method != "grpo")
