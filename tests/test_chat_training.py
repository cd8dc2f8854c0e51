"""The chat style end to end (issue 22, item 2): recipes write TRL's conversational rows,
SFT rows and GRPO prompts go through the chat template, probes render through it, ``auto``
picks the style by the tokenizer, and bad input fails in one line before any training."""

from __future__ import annotations

import shutil

import pytest

from sparring import corpus
from sparring.models import make_tiny_real
from sparring.models.style import ChatFormat, resolve_style, style_of_model
from sparring.probes import ProbeConfig, run_probes
from sparring.rewards import as_problem, correct_reward
from sparring.tasks import get_task
from sparring.train import train
from sparring.train.data import prompt_dataset, tokenize_sft

pytestmark = pytest.mark.usefixtures("one_thread")

ARCHS = ("qwen2", "llama")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """arch -> (model, tokenizer, saved directory)."""
    out = {}
    for arch in ARCHS:
        d = tmp_path_factory.mktemp(f"chat-{arch}") / "model"
        out[arch] = (*make_tiny_real(arch, out_dir=d, seed=0), d)
    return out


@pytest.mark.parametrize("recipe", ["imitation", "critique", "one_shot_critique"])
def test_recipes_write_trl_conversational_rows(countdown, recipe):
    ds = corpus.build(recipe, countdown, 6, 0, style="chat")
    for row in ds:
        assert [m["role"] for m in row["prompt"]] == ["user"]
        assert [m["role"] for m in row["completion"]] == ["assistant"]
        assert row["prompt"][0]["content"] and row["completion"][0]["content"]
    if recipe == "imitation":  # the gold chat completion, which the verifier accepts
        problems = [as_problem(r["problem"]) for r in ds]
        assert all(countdown.verify(p, r["completion"][0]["content"]).correct for p, r in zip(problems, ds))
        assert "<answer>" in ds[0]["prompt"][0]["content"]
    char = corpus.build(recipe, countdown, 6, 0)
    assert isinstance(char[0]["prompt"], str)  # char stays the default, rows as before


def test_a_char_only_recipe_refuses_the_chat_style(countdown):
    with pytest.raises(ValueError, match=r"search\.style: .*no chat style .*imitation"):
        corpus.build("search", countdown, 4, 0, style="chat")
    with pytest.raises(ValueError, match=r"imitation\.style: must be one of"):
        corpus.build("imitation", countdown, 4, 0, style="prose")


@pytest.mark.parametrize("arch", ARCHS)
def test_sft_rows_go_through_the_chat_template(tiny, countdown, arch):
    _, tok, _ = tiny[arch]
    ds = corpus.build("imitation", countdown, 3, 0, style="chat")
    fmt = ChatFormat(system="Be brief.")
    rows = tokenize_sft(ds.select_columns(["prompt", "completion"]), tok, 1024, chat_format=fmt)
    for raw, row in zip(ds, rows):
        ids, labels = row["input_ids"], row["labels"]
        n_prompt = sum(1 for x in labels if x == -100)
        want = tok.apply_chat_template(fmt.apply(raw["prompt"]), tokenize=False, add_generation_prompt=True)
        assert tok.decode(ids[:n_prompt]) == want  # the rendered prompt, system message included
        trained = tok.decode(ids[n_prompt:])
        assert trained == raw["completion"][0]["content"] + tok.eos_token  # the answer and the end of turn only
        assert labels[n_prompt:] == ids[n_prompt:]
        if tok.bos_token is not None:  # Llama: the template writes BOS; encoding adds no second one
            assert ids.count(tok.bos_token_id) == 1


def test_grpo_prompts_are_conversations_and_rewards_read_chat_completions(countdown):
    fmt = ChatFormat(system="Be brief.")
    ds, card = prompt_dataset(countdown, 8, 0, style="chat", chat_format=fmt)
    assert card["options"] == {"style": "chat"}
    assert [m["role"] for m in ds[0]["prompt"]] == ["system", "user"]
    problems = [as_problem(j) for j in ds["problem"]]
    gold = [[{"role": "assistant", "content": countdown.gold_completion(p, "chat")}] for p in problems]
    assert correct_reward(gold, problem=ds["problem"]) == [1.0] * len(ds)
    wrong = [[{"role": "assistant", "content": "<answer>1+1</answer>"}]] * len(ds)
    assert correct_reward(wrong, problem=ds["problem"]) == [0.0] * len(ds)


def test_auto_style_follows_the_tokenizer_and_bad_styles_fail(tiny, tmp_path):
    _, tok, d = tiny["qwen2"]
    assert style_of_model("auto", "test") == "char" and style_of_model("auto", d) == "chat"
    assert resolve_style("char", tok) == "char"  # a user may still ask for the char format
    with pytest.raises(ValueError, match="char models"):
        style_of_model("chat", "test")
    with pytest.raises(ValueError, match="must be one of"):
        style_of_model("prose", d)
    no_template = shutil.copytree(d, tmp_path / "no-template")
    (no_template / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        style_of_model("chat", no_template)
    no_tok = tmp_path / "no-tokenizer"
    no_tok.mkdir()
    for f in d.iterdir():
        if "token" not in f.name and f.name != "chat_template.jinja":
            shutil.copy(f, no_tok / f.name)
    with pytest.raises(ValueError, match="has no tokenizer"):
        train("sft", str(no_tok), "countdown", {"eval_problems": 0}, tmp_path / "x", "1steps")
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        train("sft", str(no_template), "countdown", {"style": "chat"}, tmp_path / "y", "1steps")
    with pytest.raises(ValueError, match="srl has no chat style"):
        train("srl", str(d), "countdown", {"eval_problems": 0}, tmp_path / "z", "1steps")
    assert not any((tmp_path / n).exists() for n in ("x", "y", "z"))  # nothing trained, nothing written


def test_probes_render_every_prompt_through_the_template(tiny):
    model, tok, _ = tiny["qwen2"]
    from sparring.models import HFResponder

    seen = []

    class Recorder(HFResponder):
        def generate(self, prompts, **kw):
            seen.extend(self.format(p)[0] for p in prompts)
            return super().generate(prompts, **kw)

    cfg = ProbeConfig(n=3, n_resamples=50, passk_samples=2, passk_ks=(1, 2), system_prompt="Be brief.")
    names = "accuracy,validity,passk,sensitivity,gaslight,abstain,critique"
    res = run_probes(Recorder(model, tok), None, "countdown", names, config=cfg)
    assert all(r.config["style"] == "chat" for r in res.values())
    assert seen and all(t.startswith("<|im_start|>system\nBe brief.<|im_end|>") for t in seen)
    assert any("<answer>" in t for t in seen) and not any("\n4," in t for t in seen)
    assert res["sensitivity"].config["templates_used"] == list(range(len(get_task("countdown").chat_templates)))


def test_grpo_in_chat_style_learns_from_a_reward_with_variance(tiny, tmp_path):
    """A random model never writes <answer>, so the verifier's reward is flat; a reward
    with variance (the share of digits in the answer) shows the chat-style GRPO path
    produces real gradients, and that rewards get the assistant messages."""
    import torch

    from sparring.rewards import REWARDS, completion_text, register_reward

    seen = []

    @register_reward("test_digit_share")
    def digit_share(completions, **_):
        seen.extend(completions)
        texts = [completion_text(c) for c in completions]
        return [sum(ch.isdigit() for ch in t) / max(1, len(t)) for t in texts]

    model, _, d = tiny["qwen2"]
    cfg = {
        "rewards": ["test_digit_share"],
        "n": 16,
        "prompts_per_step": 2,
        "num_generations": 4,
        "max_completion_length": 16,
        "eval_problems": 0,
        "learning_rate": 1e-3,
        "show_progress": False,
    }
    try:
        card = train("grpo", str(d), "countdown", cfg, tmp_path / "g", "2steps")
    finally:
        REWARDS.pop("test_digit_share", None)
    assert card.config["style"] == "chat"
    assert seen and all(isinstance(c, list) and c[-1]["role"] == "assistant" for c in seen)
    from transformers import AutoModelForCausalLM

    out = AutoModelForCausalLM.from_pretrained(card.path, local_files_only=True)
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in out.state_dict().items())
