"""The v2 pretraining mix (corpus/web.py, docs/base-v2.md) and the two measures the size
choice reads: the ``compare`` probe and critique recall per flaw kind."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sparring import corpus
from sparring.corpus.compare_format import compare_prompt, parse_compare
from sparring.corpus.web import V2_HELDOUT_FLAWS, V2_SHARES
from sparring.probes import run_probes
from sparring.probes.gaslight import NEGATIONS
from sparring.probes.oracles import ScriptedResponder, gold_responder
from sparring.tasks import get_task

KINDS = ("solution", "search", "critique", "prose_critique", "comparison", "conversation", "refinement", "unsolvable")


@pytest.fixture(scope="module")
def v2():
    return corpus.build("pretrain", get_task("countdown"), 1500, 0, mix="v2")


def _kind(label: str) -> str:
    head = label.split(":")[0]
    return {"gold": "solution", "flawed": "solution", "abstain": "unsolvable"}.get(head, head)


def test_v2_writes_every_kind_near_its_share_and_is_deterministic(v2):
    assert set(V2_SHARES) == set(KINDS)
    got = Counter(_kind(lb) for lb in v2["label"])
    assert set(got) == set(KINDS)
    for kind, share in V2_SHARES.items():
        if kind not in ("solution", "unsolvable", "search"):  # those absorb the fallbacks
            assert abs(got[kind] / len(v2) - share) < 0.04, (kind, got[kind])
    again = corpus.build("pretrain", get_task("countdown"), 1500, 0, mix="v2")
    assert corpus.fingerprint(again) == corpus.fingerprint(v2)
    assert corpus.fingerprint(corpus.build("pretrain", get_task("countdown"), 1500, 1, mix="v2")) != corpus.fingerprint(
        v2
    )


def test_v2_keeps_out_the_held_out_flaw_kind_and_the_probe_wordings(v2, monkeypatch):
    task = get_task("countdown")
    asked = []
    real = type(task).flaw

    def spy(self, problem, seed=0, kind=None):
        asked.append(kind)
        return real(self, problem, seed=seed, kind=kind)

    monkeypatch.setattr(type(task), "flaw", spy)
    corpus.build("pretrain", task, 400, 3, mix="v2")
    assert len(asked) > 100 and None not in asked  # every flaw the mix plants names its kind
    assert not set(asked) & set(V2_HELDOUT_FLAWS) and set(asked) == set(task.flaw_kinds()) - set(V2_HELDOUT_FLAWS)
    assert not any(k in lb for lb in set(v2["label"]) for k in V2_HELDOUT_FLAWS)
    stems = [n.split("{")[0].strip() for n in NEGATIONS]
    assert not any(stem in prompt for stem in stems for prompt in v2["prompt"])
    for lb, prompt, completion in zip(v2["label"], v2["prompt"], v2["completion"]):
        if lb == "conversation:hold":
            assert prompt.split("\n")[1] == completion.split("\n")[0]  # holds its first answer


def test_v2_options_fail_clearly_before_building():
    task = get_task("countdown")
    bad = [
        ({"mix": "v3"}, "pretrain.mix"),
        ({"shares": {"solution": 1.0}}, "pretrain.shares: is a v2 option"),
        ({"mix": "v2", "shares": {"solution": 0.5}}, "must sum to 1"),
        ({"mix": "v2", "shares": {"essay": 1.0}}, "unknown document kind"),
        ({"mix": "v2", "noise": {"cave_rate": 2}}, "pretrain.noise"),
        ({"mix": "v2", "noise": {"typo_rate": 0.1}}, "unknown rate"),
        ({"mix": "v2", "search_fraction": 0.1}, "pretrain.search_fraction"),
        ({"mix": "v2", "heldout_flaws": ["nope"]}, "pretrain.heldout_flaws"),
    ]
    for options, msg in bad:
        with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
            corpus.build("pretrain", task, 20, 0, **options)


def test_compare_format_parses_untrusted_text():
    assert parse_compare("Verdict: 2") == "2" and parse_compare("junk\nverdict:none") == "none"
    assert parse_compare(None) is None and parse_compare("Verdict: 3") is None
    assert parse_compare("x" * 5000 + "Verdict: 1") is None  # bounded read
    assert compare_prompt(" 3,7,9:30\n", "a\n", "b") == "3,7,9:30?\n1:a\n2:b\n"


def test_compare_probe_separates_a_perfect_judge_from_a_constant_one():
    task = get_task("countdown")
    cfg = {"n": 120, "n_resamples": 200}
    perfect = run_probes(gold_responder(task, config=cfg), None, task, "compare", config=cfg)["compare"]
    constant = run_probes(ScriptedResponder(lambda p, j: "Verdict: 1"), None, task, "compare", config=cfg)["compare"]
    junk = run_probes(ScriptedResponder(lambda p, j: "\x00" * 50), None, task, "compare", config=cfg)["compare"]
    assert perfect.metrics["accuracy"] == 1.0 and perfect.metrics["none_recall"] == 1.0
    assert constant.metrics["accuracy"] < 0.5 and constant.metrics["none_recall"] == 0.0
    assert perfect.ci["accuracy"][0] > constant.ci["accuracy"][1]
    assert junk.metrics["accuracy"] == 0.0 and junk.metrics["parse_rate"] == 0.0


def test_probes_can_read_the_validation_partition():
    task = get_task("countdown")
    cfg = {"n": 40, "n_resamples": 100, "split": "validation"}
    res = run_probes(gold_responder(task, config=cfg), None, task, "compare,critique", config=cfg)
    ids = {r["id"] for r in res["compare"].records}
    assert ids <= {p.id for p in task.problems("validation", n=40, seed=0)}
    assert any(k.startswith("flaw_recall[") for k in res["critique"].metrics)
    with pytest.raises(ValueError, match="probe config split"):
        run_probes(gold_responder(task, config=cfg), None, task, "compare", config={**cfg, "split": "train"})


def test_pretrain_function_trains_a_v2_base(tmp_path):
    from sparring.train.pretrain import pretrain

    cfg = {
        "preset": "test",
        "n": 64,
        "batch_size": 16,
        "recipe_options": {"mix": "v2"},
        "eval_problems": 8,
        "pass_problems": 0,
        "show_progress": False,
    }
    run = pretrain("countdown", tmp_path / "b", cfg, "2steps")
    card = json.loads((tmp_path / "b" / "card.json").read_text())
    assert run.metrics["train"]["steps"] == 2 and card["data"]["options"]["mix"] == "v2"
    assert "mix" in card["command"]
