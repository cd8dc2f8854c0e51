"""Tests for sparring.models: tokenizer, presets, loading/saving, device defaults."""

from __future__ import annotations

import json
import os
import string

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

from sparring.models import (
    PRESETS,
    atomic_dir,
    char_tokenizer,
    configure_threads,
    count_parameters,
    device_defaults,
    list_zoo,
    load_model,
    make_model,
    save_model,
    trl_args_overrides,
)

PRINTABLE = "".join(chr(c) for c in range(32, 127))
TRICKY = [
    "3,7,9:30\n7*3=21\n21+9=30",
    "",
    " ",
    "   leading and trailing   ",
    "a , b . c 's n't ? !",
    "\n\n two\n\nnewlines \n",
    PRINTABLE,
    PRINTABLE + "\n" + PRINTABLE[::-1],
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A test-preset model saved with save_model, and the in-memory original.

    The weights get large seeded noise so that greedy outputs depend on the prompt
    (a fresh init answers every prompt with the same character)."""
    model, tok = make_model("test", seed=3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.5)
    out = tmp_path_factory.mktemp("ckpt") / "model"
    save_model(model, tok, out, card={"method": "unit-test", "seed": 3, "path": out})
    return model, tok, out


# --- tokenizer ---------------------------------------------------------------------


def test_tokenizer_vocabulary_and_special_ids():
    tok = char_tokenizer()
    assert len(tok) == 100
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.padding_side == "right"
    assert tok.convert_ids_to_tokens(4) == "\n"
    assert tok.convert_ids_to_tokens(5) == " "


@pytest.mark.parametrize("text", TRICKY)
def test_tokenizer_round_trip_one_token_per_char(text):
    tok = char_tokenizer()
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text)  # one token per character, nothing added
    assert tok.decode(ids) == text


def test_tokenizer_special_tokens_and_unknowns():
    tok = char_tokenizer()
    assert tok("ab<eos>")["input_ids"][-1] == tok.eos_token_id  # TRL appends "<eos>" as text
    assert tok.decode(tok("x<eos>")["input_ids"], skip_special_tokens=True) == "x"
    assert tok("é\t")["input_ids"] == [tok.unk_token_id] * 2
    with pytest.raises(ValueError, match="padding_side"):
        char_tokenizer(padding_side="middle")


def test_tokenizer_save_load_round_trip(tmp_path):
    tok = char_tokenizer()
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded.special_tokens_map == tok.special_tokens_map
    assert loaded.chat_template == tok.chat_template
    assert loaded.padding_side == "right"
    for text in TRICKY:
        assert loaded(text)["input_ids"] == tok(text)["input_ids"]
        assert loaded.decode(loaded(text)["input_ids"]) == text
    left = AutoTokenizer.from_pretrained(tmp_path, padding_side="left")
    batch = left(["ab", "abcd"], padding=True)
    assert batch["input_ids"][0][:2] == [0, 0]
    assert batch["attention_mask"][0] == [0, 0, 1, 1]


def test_chat_template_concatenates_contents():
    tok = char_tokenizer()
    msgs = [
        {"role": "user", "content": "1,2:3"},
        {"role": "assistant", "content": "1+2=3"},
        {"role": "user", "content": "again"},
    ]
    assert tok.apply_chat_template(msgs, tokenize=False) == "1,2:3\n1+2=3\nagain\n"
    prompt = tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "1,2:3\n"
    out = tok.apply_chat_template(msgs[:2], return_assistant_tokens_mask=True, return_dict=True)
    assert out["assistant_masks"] == [0] * 6 + [1] * 6


# --- presets -----------------------------------------------------------------------


@pytest.mark.parametrize("preset,low,high", [("test", 40_000, 60_000), ("tiny", 1.0e6, 1.1e6), ("small", 4.1e6, 4.3e6)])
def test_preset_param_counts(preset, low, high):
    model, tok = make_model(preset)
    assert low <= count_parameters(model) <= high
    assert model.config.vocab_size == len(tok)
    assert model.config.max_position_embeddings == 1024
    assert model.lm_head.weight is model.model.embed_tokens.weight
    for cfg in (model.config, model.generation_config):
        assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (0, 1, 2)


def test_make_model_deterministic_and_keeps_global_rng():
    state = torch.random.get_rng_state()
    a, _ = make_model("test", seed=1)
    b, _ = make_model("test", seed=1)
    c, _ = make_model("test", seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (list(m.state_dict().values()) for m in (a, b, c))
    assert all(torch.equal(x, y) for x, y in zip(pa, pb))
    assert not all(torch.equal(x, y) for x, y in zip(pa, pc))
    assert set(PRESETS) == {"test", "tiny", "small", "chat-test", "chat-small"}  # chat: BPE, built by pretrain
    with pytest.raises(ValueError, match="presets are chat-small, chat-test, small, test, tiny"):
        make_model("huge")
    with pytest.raises(ValueError, match="seed"):
        make_model("test", seed=-1)


# --- saving and loading ------------------------------------------------------------


def test_saved_model_loads_with_plain_transformers(saved):
    model, tok, out = saved
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    card = json.loads((out / "run.json").read_text())
    assert card["method"] == "unit-test" and card["path"] == str(out)
    plain = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    plain_tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    ids = plain_tok(["3,7,9:30\n"], return_tensors="pt")["input_ids"]
    assert ids.tolist() == tok(["3,7,9:30\n"], return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        assert torch.equal(plain(ids).logits, model(ids).logits)
    ours, ours_tok = load_model(out, device="cpu")
    assert not ours.training and ours_tok.get_vocab() == tok.get_vocab()
    with torch.no_grad():
        assert torch.equal(ours(ids).logits, model(ids).logits)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_generate_left_padded_batch_matches_single(saved):
    _, _, out = saved
    model, tok = load_model(str(out), device="cpu")
    tok.padding_side = "left"
    prompts = ["3,7,9:30\n", "1,2:3\n"]
    kw = dict(max_new_tokens=6, do_sample=False)
    batch = tok(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        outs = model.generate(**batch, **kw)
    width = batch["input_ids"].shape[1]
    assert outs.shape[0] == 2 and outs.shape[1] <= width + 6
    texts = []
    for i, p in enumerate(prompts):
        single = tok([p], return_tensors="pt")
        with torch.no_grad():
            one = model.generate(**single, **kw)[0, single["input_ids"].shape[1] :].tolist()
        row = outs[i, width:].tolist()
        assert row[: len(one)] == one  # same tokens as unpadded generation
        assert all(t == tok.pad_token_id for t in row[len(one) :])  # padded after EOS
        texts.append(tok.decode(one, skip_special_tokens=True))
    assert texts[0] != texts[1]  # the check above is not vacuous


def test_load_preset_and_errors(tmp_path):
    model, tok = load_model("test", device="cpu")
    assert count_parameters(model) == count_parameters(make_model("test")[0])
    with pytest.raises(ValueError, match="does not exist: .*nowhere"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="does not exist: .*nowhere"):
        load_model(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"not a model directory: .* \(no config.json, nor adapter_config.json\)"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="unknown model 'huge'.*presets are chat-small, chat-test, small, test, tiny"):
        load_model("huge")
    with pytest.raises(ValueError, match="unknown zoo model zoo:nope: available zoo models"):
        load_model("zoo:nope")
    assert isinstance(list_zoo(), list)


def test_zoo_lookup(tmp_path, monkeypatch, saved):
    import sparring.models.loading as loading

    _, _, out = saved
    monkeypatch.setattr(loading, "_zoo_root", lambda: tmp_path / "zoo")
    assert list_zoo() == []
    with pytest.raises(ValueError, match="none are installed"):
        load_model("zoo:countdown-sft")
    (tmp_path / "zoo" / "empty").mkdir(parents=True)
    save_model(*load_model(out, device="cpu"), tmp_path / "zoo" / "countdown-sft")
    assert list_zoo() == ["countdown-sft"]
    model, _ = load_model("zoo:countdown-sft", device="cpu")
    assert model.config.hidden_size == PRESETS["test"].hidden_size
    with pytest.raises(ValueError, match="available zoo models: countdown-sft$"):
        load_model("zoo:empty")


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_dir(out) as tmp:
            (tmp / "partial.bin").write_bytes(b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    # success, then a failed replacement keeps the old contents, then a good replacement
    with atomic_dir(out) as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "v").write_text("2")
            raise RuntimeError("boom")
    assert (out / "v").read_text() == "1"
    with atomic_dir(out) as tmp:
        (tmp / "w").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["w"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        with atomic_dir(tmp_path / "file"):
            pass


# --- device defaults ---------------------------------------------------------------


def test_cpu_defaults_and_training_args(tmp_path, monkeypatch):
    dd = device_defaults("cpu")
    assert (dd.device, dd.dtype, dd.use_cpu, dd.bf16, dd.fp16) == ("cpu", torch.float32, True, False, False)
    assert dd.gradient_checkpointing is False
    kw = trl_args_overrides(dd)
    args = TrainingArguments(output_dir=str(tmp_path), **kw)
    assert args.use_cpu and not args.bf16 and not args.fp16
    assert args.gradient_checkpointing is False and args.report_to in ("none", [])
    with pytest.raises(ValueError, match="device"):
        device_defaults("tpu-ish")
    monkeypatch.setenv("SPARRING_THREADS", "1")
    before = torch.get_num_threads()
    try:
        assert configure_threads(dd) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("SPARRING_THREADS", "zero")
        with pytest.raises(ValueError, match="SPARRING_THREADS"):
            configure_threads(dd)
        monkeypatch.delenv("SPARRING_THREADS")
        assert configure_threads(dd) == len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)


def test_overrides_are_valid_trl_config_fields(tmp_path):
    trl = pytest.importorskip("trl")
    kw = trl_args_overrides(device_defaults("cpu"))
    for cls in (trl.SFTConfig, trl.GRPOConfig):
        cfg = cls(output_dir=str(tmp_path), **kw)
        # TRL defaults both to True; the overrides must win.
        assert cfg.bf16 is False and cfg.gradient_checkpointing is False and cfg.use_cpu


def test_string_constants():
    assert set(PRINTABLE) == set(string.printable) - set("\t\n\r\x0b\x0c")


def test_run_card_reads_every_card_written_so_far(tmp_path):
    """RunCard reads the shipped zoo cards (run.json of format /1, card.json), round-trips
    a /2 card with its method-specific keys, and refuses a format it does not know."""
    import json

    import pytest

    from sparring.models import RunCard
    from sparring.models.loading import resolve_model_source

    zoo = resolve_model_source("zoo:countdown-base")[1]
    old = RunCard.read(zoo)  # run.json without "format"
    assert old.format == "sparring.run/1" and old.method == "pretrain" and old.metrics["after"]["n"]
    zoo_card = RunCard.read(zoo / "card.json")  # no "method": a pretraining card
    assert zoo_card.method == "pretrain" and zoo_card.get("command").startswith("sparring pretrain")
    card = RunCard("pipeline", metrics={"after": {"accuracy": 0.5}}, extra={"stages": [{"stage": 1}]})
    again = RunCard.read(card.write(tmp_path).path)
    assert again.to_dict() == card.to_dict() and again.get("stages") == [{"stage": 1}]
    assert json.loads((tmp_path / "run.json").read_text())["format"] == "sparring.run/2"
    (tmp_path / "run.json").write_text(json.dumps({"format": "sparring.run/9", "method": "sft"}))
    with pytest.raises(ValueError, match="format 'sparring.run/9'"):
        RunCard.read(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable run card"):
        RunCard.read(tmp_path)
