"""Chat-style pretraining (issue 23, item 2: ``zoo:countdown-chat``): the v1 mix as
conversations, a chat preset whose BPE tokenizer is trained on that corpus, a checkpoint
that plain transformers, ``sparring probe --style chat`` and the zoo load, and the bad
inputs refused before any training."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from sparring import corpus
from sparring.cli import app
from sparring.models import loading
from sparring.models.style import style_of_model
from sparring.tasks import load_problem
from sparring.train import pretrain
from sparring.train.pretrain import card_data_hash

pytestmark = pytest.mark.usefixtures("one_thread")

OPTIONS = {
    "preset": "chat-test",
    "style": "chat",
    "recipe_options": {"mix": "v1", "error_rate": 0.4, "search_fraction": 0.1},
    "n": 48,
    "batch_size": 8,
    "warmup_steps": 1,
    "learning_rate": 1e-2,
    "eval_problems": 2,
    "eval_max_new_tokens": 8,
    "pass_problems": 0,
    "show_progress": False,
    "checkpoint_every": "off",
}


@pytest.fixture(scope="module")
def chat_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("chat-pretrain") / "countdown-chat"
    return pretrain("countdown", out, OPTIONS, "3steps")


def test_the_v1_mix_in_chat_style_keeps_its_draws_and_its_quality(countdown):
    chat = corpus.build("pretrain", countdown, 200, 0, style="chat")
    char = corpus.build("pretrain", countdown, 200, 0)
    assert chat["label"] == char["label"] and chat["problem_id"] == char["problem_id"]
    kinds = set()
    for row in chat:
        p = load_problem(json.loads(row["problem"]))
        text = row["completion"][0]["content"]
        assert [m["role"] for m in row["prompt"]] == ["user"] and "<answer>" in row["prompt"][0]["content"]
        kind = row["label"].split(":")[0]
        kinds.add(kind)
        assert countdown.verify(p, text).correct == (kind != "flawed"), row["label"]  # flawed rows stay wrong
        if kind == "gold":
            assert text == countdown.gold_completion(p, "chat")  # what `train --style chat` imitates
    assert kinds == {"gold", "flawed", "search"}
    with pytest.raises(ValueError, match="pretrain.style: chat is for mix v1 only"):
        corpus.build("pretrain", countdown, 4, 0, style="chat", mix="v2")


def test_chat_pretraining_writes_a_checkpoint_plain_transformers_loads(chat_ckpt, tmp_path):
    path = chat_ckpt.path
    card = json.loads((path / "card.json").read_text())
    assert card["style"] == "chat" and card["mix"] == "v1" and card["preset"] == "chat-test"
    assert "--style chat" in card["command"] and card["data"]["options"]["style"] == "chat"
    assert card_data_hash(card) == card["data"]["hash"]  # the card rebuilds its corpus
    train_m = card["metrics"]["train"]
    assert train_m["steps"] == 3 and train_m["flops"] > 0
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.vocab_size == len(tok)
    assert 256 < len(tok) <= 1024  # byte-level BPE: 256 bytes + merges from the corpus, under the target
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    # the tokenizer was trained on the corpus: its words are single tokens
    assert tok.tokenize(" equation") == ["Ġequation"] and tok.tokenize("16") == ["1", "6"]
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Numbers: 1 3 16."}], tokenize=False, add_generation_prompt=True
    )
    assert text.startswith("<|begin_of_text|><|start_header_id|>user") and text.endswith(
        "assistant<|end_header_id|>\n\n"
    )
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt")
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] == ids.shape[1] + 3

    # the zoo plumbing: a folder in sparring/zoo loads as zoo:NAME, style auto -> chat
    zoo = tmp_path / "zoo"
    shutil.copytree(path, zoo / "countdown-chat")
    mp = pytest.MonkeyPatch()
    mp.setattr(loading, "_zoo_root", lambda: zoo)
    try:
        m, t = loading.load_model("zoo:countdown-chat", device="cpu")
        assert t.chat_template == tok.chat_template and style_of_model("auto", "zoo:countdown-chat") == "chat"
    finally:
        mp.undo()

    res = CliRunner().invoke(
        app,
        [
            "probe",
            str(path),
            "--task",
            "countdown",
            "--style",
            "chat",
            "--probes",
            "accuracy",
            "--n",
            "2",
            "--max-new-tokens",
            "8",
        ],
        terminal_width=200,
    )
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output and "well_formed" in res.output


@pytest.mark.parametrize(
    "args,match",
    [
        (["--style", "chat", "--preset", "tiny"], "pretrain.style: chat needs a chat preset"),
        (["--style", "char", "--preset", "chat-test"], "pretrain.style: 'chat-test' is a chat preset"),
        (["--style", "prose", "--preset", "chat-test"], "pretrain.style: must be one of"),
        (["--preset", "huge"], "pretrain.preset"),
    ],
)
def test_bad_style_or_preset_is_one_error_before_training(args, match, tmp_path):
    res = CliRunner().invoke(
        app, ["pretrain", "--task", "countdown", *args, "--out", str(tmp_path / "o")], terminal_width=400
    )
    assert res.exit_code == 2, res.output
    assert match in " ".join(res.output.split())
    assert not (tmp_path / "o").exists()


def test_a_chat_preset_is_built_only_by_pretraining():
    with pytest.raises(ValueError, match="chat preset: its byte-level BPE tokenizer is trained"):
        loading.load_model("chat-small")
    with pytest.raises(ValueError, match="chat preset"):
        loading.load_tokenizer("chat-test")
    assert style_of_model("auto", "chat-small") == "chat"
