"""The shared generator/scorer on real (tiny, random) HF models, loading, and the command."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from typer.testing import CliRunner

from sparring.cli.probe import probe_cmd
from sparring.models import cut_at_stop, make_model, save_model
from sparring.probes import PROBES, HFResponder, ProbeConfig, load_for_probes, run_probes

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models lose 10x on shared cores


@pytest.fixture(scope="module")
def model_tok(tiny_model):
    return tiny_model


@pytest.fixture(scope="module")
def task(countdown):
    return countdown


@pytest.fixture(scope="module")
def prompts(task):
    ps = task.problems("test", n=4, seed=0)
    return [task.prompt(p, t) for p in ps for t in range(len(task.templates))]  # mixed lengths


def _one_at_a_time(model, tok, text, max_new):
    ids = torch.tensor([tok(text).input_ids])
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
    )[0, ids.shape[1] :].tolist()
    if tok.eos_token_id in out:
        out = out[: out.index(tok.eos_token_id)]
    return tok.decode(out, skip_special_tokens=True)


def test_batched_bucketed_greedy_equals_one_at_a_time(model_tok, prompts):
    model, tok = model_tok
    r = HFResponder(model, tok, batch_size=5)  # several buckets of different widths
    got = [o[0] for o in r.generate(prompts, max_new_tokens=12)]
    want = [_one_at_a_time(model, tok, p, 12) for p in prompts]
    assert got == want
    dynamic = HFResponder(model, tok, batch_size=16, cache_implementation=None)
    assert [o[0] for o in dynamic.generate(prompts, max_new_tokens=12)] == want
    model.train()  # a model in the middle of training: evaluated in eval mode, then restored
    try:
        assert [o[0] for o in HFResponder(model, tok, cache=False).generate(prompts, max_new_tokens=12)] == want
        assert model.training
    finally:
        model.eval()


def test_cache_sampling_and_stop_strings(model_tok, prompts):
    model, tok = model_tok
    r = HFResponder(model, tok)
    a = r.generate(prompts, n_samples=3, temperature=1.0, max_new_tokens=10, seed=1)
    assert len(a) == len(prompts) and all(len(x) == 3 for x in a)
    assert r.generate(prompts, n_samples=3, temperature=1.0, max_new_tokens=10, seed=1) == a
    assert r.stats["cache_hits"] == len(prompts)
    fresh = HFResponder(model, tok, cache=False)
    assert fresh.generate(prompts, n_samples=3, temperature=1.0, max_new_tokens=10, seed=1) == a
    assert fresh.generate(prompts, n_samples=3, temperature=1.0, max_new_tokens=10, seed=2) != a
    greedy = r.generate(prompts[:3], max_new_tokens=10)
    first_chars = [g[0][:1] for g in greedy if g[0]]
    assert first_chars
    stopped = r.generate(prompts[:3], max_new_tokens=10, stop=[first_chars[0]])
    for g, s in zip(greedy, stopped):
        assert s[0] == cut_at_stop(g[0], [first_chars[0]])
    assert cut_at_stop("abc[END]def", ["[END]"]) == "abc" and cut_at_stop("abc", ["x", ""]) == "abc"


def test_multi_turn_formatting(model_tok):
    model, tok = model_tok
    conv = [
        {"role": "user", "content": "3,7,9:30"},
        {"role": "assistant", "content": "7*3=21"},
        {"role": "user", "content": "That is wrong."},
    ]
    r = HFResponder(model, tok)
    assert r.format(conv) == ("3,7,9:30\n7*3=21\nThat is wrong.\n", False)
    assert r.format("3,7,9:30\n") == ("3,7,9:30\n", True)
    assert r.plain_text
    no_template = make_model("test")[1]
    no_template.chat_template = None
    assert HFResponder(model, no_template).format(conv)[0] == "3,7,9:30\n7*3=21\nThat is wrong.\n"
    out = r.generate([conv], max_new_tokens=5)
    assert len(out) == 1 and isinstance(out[0][0], str)


def test_loglik_matches_a_plain_forward_pass(model_tok):
    model, tok = model_tok
    pairs = [("3,7,9:30\n", "7*3=21"), ("12,3,4:7\n12/4=3\n", "3+4=7"), ("1,2:3\n", "")]
    got = HFResponder(model, tok).loglik(pairs)
    for (ctx, cont), (lp, n) in zip(pairs, got):
        c, t = tok(ctx).input_ids, tok(cont).input_ids
        assert n == len(t)
        if not t:
            assert lp == 0.0
            continue
        with torch.no_grad():
            logits = model(torch.tensor([c + t])).logits[0]
        logp = torch.log_softmax(logits, -1)
        want = sum(float(logp[len(c) - 1 + i, tok_id]) for i, tok_id in enumerate(t))
        assert lp == pytest.approx(want, abs=1e-4)


def test_battery_on_a_real_model(model_tok, task):
    model, tok = model_tok
    cfg = ProbeConfig(n=6, n_resamples=100, passk_samples=4, passk_ks=(1, 4), critique_max_new_tokens=40)
    res = run_probes(model, tok, task, "all", config=cfg)
    assert list(res) == list(PROBES)
    for r in res.values():  # a probe that does not apply says so (the char style states no answer)
        assert (r.records or r.metrics.get("not_applicable") == 1.0) and r.seconds >= 0 and r.primary in r.metrics
    assert res["confidence"].metrics["not_applicable"] == 1.0
    assert res["accuracy"].metrics["accuracy"] == 0.0  # random weights solve nothing
    assert res["passk"].config["max_new_tokens_used"] <= 2 * 20 + 8  # a tight, task-derived cap
    assert res["infogain"].metrics["not_applicable"] == 1.0  # the char style states no answer


def test_loading_rejects_what_is_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_for_probes(tmp_path / "missing")
    with pytest.raises(ValueError, match="no config.json"):
        load_for_probes(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="has no tokenizer"):  # checked first: a clear line
        load_for_probes(tmp_path)
    from sparring.models import char_tokenizer

    char_tokenizer().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a valid JSON"):
        load_for_probes(tmp_path)
    with pytest.raises(ValueError, match="unknown zoo model"):
        load_for_probes("zoo:nope")


def test_a_foreign_local_causal_lm_directory(tmp_path, task):
    """Any local HF causal LM works: here a GPT-2 whose tokenizer has no chat template."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from sparring.models import char_tokenizer

    tok = char_tokenizer()
    tok.chat_template = None
    cfg = GPT2Config(
        vocab_size=100, n_layer=1, n_embd=32, n_head=2, n_positions=256, bos_token_id=1, eos_token_id=2, pad_token_id=0
    )
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model, tok2 = load_for_probes(tmp_path)
    r = HFResponder(model, tok2)
    cfg = ProbeConfig(n=4, n_resamples=50, answer_format="stated")
    res = run_probes(r, None, task, "accuracy,gaslight,infogain", config=cfg)
    assert res["accuracy"].metrics["accuracy"] == 0.0 and res["infogain"].metrics["infogain"] is not None
    assert r.format([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])[0] == "a\nb\n"


def _app():
    app = typer.Typer()
    app.command("probe")(probe_cmd)
    app.command("noop")(lambda: None)  # keep typer in multi-command mode
    return app


def test_command_errors_and_success(tmp_path, model_tok, monkeypatch):
    monkeypatch.setenv("SPARRING_THREADS", "1")  # the command sets torch threads itself
    runner, app = CliRunner(), _app()
    bad = [
        ["probe", "test", "--probes", "accuracy,nope"],
        ["probe", "test", "--n", "0"],
        ["probe", str(tmp_path)],
        ["probe", "test", "--set", "n_numbers=99"],
    ]
    for args in bad:
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and "error:" in res.output, (args, res.output)
    model, tok = model_tok
    ckpt = save_model(model, tok, tmp_path / "ckpt")  # a checkpoint sparring wrote
    out = tmp_path / "res.json"
    res = runner.invoke(app, ["probe", str(ckpt), "--probes", "accuracy,validity", "--n", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "accuracy[ood-n]" in res.output and "95% CI" in res.output  # brackets not eaten as markup
    data = json.loads(out.read_text())
    assert set(data["probes"]) == {"accuracy", "validity"} and data["n"] == 4
    assert len(data["probes"]["accuracy"]["records"]) == 4 * 3  # id + 2 OOD levels
