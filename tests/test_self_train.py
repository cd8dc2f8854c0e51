"""self-train and critique-loop (METHODS.md 1.9) and finding 8's rule (lab/rounds.py).

The ``test`` preset never writes a right Countdown answer, so the actor's answers are
planted (conftest's ``planted``): the real generator runs (its FLOPs counted), then its
texts are replaced: every even problem gets [gold, flaw], every odd one [flaw, flaw], and a
refine prompt gets the gold. So the rounds, the verifier, the programmatic critique, the
refine prompt, the rows, the SFT and the statistics all run for real and deterministically.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from transformers import AutoModelForCausalLM

from sparring.corpus.refine import REFINE_CUE
from sparring.train import train
from sparring.train.counted import CountingResponder

pytestmark = pytest.mark.usefixtures("one_thread")
CFG = {
    "n": 6,
    "samples": 2,
    "rounds": 2,
    "batch_size": 4,
    "learning_rate": 1e-2,
    "warmup_steps": 0,
    "eval_problems": 2,
    "eval_max_new_tokens": 4,
    "max_new_tokens": 4,
    "show_progress": False,
    "logging_steps": 1,
}


def _card(path, init_weights):
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)  # plain transformers
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, init_weights[k])]
    assert changed, "no weight changed"
    return json.loads((path / "run.json").read_text())


@pytest.mark.parametrize("method", ["self-train", "critique-loop"])
def test_rounds_train_save_and_measure(method, planted, tmp_path, init_weights):
    card = _card(train(method, "test", "countdown", CFG, tmp_path / method, "4steps").path, init_weights)
    t = card["metrics"]["train"]
    assert card["method"] == method and t["steps"] == 4 and len(t["history"]) == 2
    assert t["flops"] == sum(t["flops_by_kind"].values()) and t["flops_by_kind"]["sampling"] > 0
    assert t["flops_by_kind"]["train"] == sum(h["sft"]["flops"] for h in t["history"])
    assert t["problems"]["id"] == planted.pool
    n, half = len(planted.pool), len(planted.pool) - len(planted.pool) // 2
    for h in t["history"]:
        assert h["sft"]["steps"] == 2 and h["problems"] == n and h["samples"] == 2
        assert h["pass@k"] == round(half / n, 4) and h["sample_accuracy"] == round(half / (2 * n), 4)
        assert 0.0 <= h["hard_share"] <= 1.0 and h["distinct_per_problem"] == 1.0
        assert sum(v for k, v in h.items() if k.startswith("success_share[")) == pytest.approx(1.0, abs=1e-3)
        assert h["per_problem"]["correct"] == [1 if i % 2 == 0 else 0 for i in range(n)]
        if method == "self-train":
            assert h["data_rows"] == half and "refinements" not in h
        else:  # every odd problem is only in the data through its verified refinement
            assert h["data_rows"] == n and h["refined_rows"] == n - half
            assert h["problems_only_refined"] == n - half and h["critiques_used"] == n
            assert h["generation"]["flops_by_kind"]["refine"] > 0
    if method == "critique-loop":
        refine = [p for p in planted.prompts_seen if p.endswith(REFINE_CUE)]
        assert refine and all("Correctness: wrong" in p and "Conclusion: wrong [END]" in p for p in refine)
        assert card["data"]["critic"] == {"kind": "programmatic"}


def test_critique_loop_in_chat_style_trains_on_conversations(planted, tmp_path):
    from sparring.models import make_tiny_real

    model, _ = make_tiny_real("qwen2", out_dir=tmp_path / "qwen", seed=0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = {**CFG, "rounds": 1, "max_new_tokens": 8, "refine_rows": "both"}
    card = _card(train("critique-loop", str(tmp_path / "qwen"), "countdown", cfg, tmp_path / "cl", "2steps").path, init)
    h = card["metrics"]["train"]["history"][0]
    n = len(planted.pool)
    assert card["config"]["style"] == "chat" and h["refinements_correct"] == n
    assert h["data_rows"] == n + n  # every problem's solution row, plus each fix after its refine prompt
    refine = [p for p in planted.prompts_seen if p.endswith(REFINE_CUE)]
    assert refine and all("Question:\n" in p for p in refine)


def test_counted_generation_follows_the_flop_rule(tiny_model):
    from sparring.train.flops import FlopLedger

    model, tok = tiny_model
    ledger = FlopLedger()
    r = CountingResponder(model, tok, ledger, "sampling")
    r.generate(["1,2,3:6\n", "4,5:9\n"], n_samples=3, temperature=1.0, max_new_tokens=5, seed=1)
    prompts = [len(tok(p).input_ids) for p in ("1,2,3:6\n", "4,5:9\n")]
    assert r.tokens == 3 * sum(prompts) + r.stats["generated_tokens"]
    assert ledger.parts["sampling"] == ledger.total > 2 * ledger.model(model).matmul_weights * r.tokens


def test_a_checkpoint_critic_counts_its_flops_and_unparseable_critiques_refine_nothing(
    planted, tmp_path, init_weights, tiny_model
):
    model, tok = tiny_model
    model.save_pretrained(tmp_path / "critic")
    tok.save_pretrained(tmp_path / "critic")
    cfg = {**CFG, "rounds": 1, "critic": str(tmp_path / "critic"), "critic_max_new_tokens": 8}
    t = _card(train("critique-loop", "test", "countdown", cfg, tmp_path / "cl", "2steps").path, init_weights)
    h = t["metrics"]["train"]["history"][0]
    assert h["critiqued"] == len(planted.pool) and h["critiques_used"] == 0 and h["refinements"] == 0
    assert h["generation"]["flops_by_kind"]["critic"] > 0 and t["data"]["critic"]["kind"] == "checkpoint"


CRITIQUE = "Critique:\nStep 1: x\nCorrectness: wrong\nExplanation: not valid.\nConclusion: wrong"


@pytest.fixture
def teacher():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": CRITIQUE}}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_an_llm_teacher_critic_refines_through_its_critiques(planted, teacher, tmp_path, init_weights):
    critic = {"teachers": [{"url": teacher, "model": "m"}], "teacher_cache": str(tmp_path / "cache")}
    cfg = {**CFG, "rounds": 1, "critic": critic}
    t = _card(train("critique-loop", "test", "countdown", cfg, tmp_path / "cl", "2steps").path, init_weights)
    h = t["metrics"]["train"]["history"][0]
    assert h["critiques_used"] == len(planted.pool) and h["refinements_correct"] == len(planted.pool)
    assert h["teacher"]["kept"] == len(planted.pool) and t["data"]["critic"]["kind"] == "teacher"


@pytest.mark.parametrize(
    "method,options,budget,match",
    [
        ("self-train", {"rounds": 0}, "4steps", "self-train.rounds"),
        ("self-train", {"samples": 0}, "4steps", "self-train.samples"),
        ("self-train", {"temperature": 0}, "4steps", "self-train.temperature"),
        ("self-train", {"critic": "programmatic"}, "4steps", "unknown option"),
        ("self-train", {"rounds": 3}, "2steps", "rounds need a budget of at least 3 steps"),
        ("critique-loop", {"critic": "no/such/critic"}, "4steps", "critique-loop.critic"),
        ("critique-loop", {"critic": "test"}, "4steps", "untrained preset"),
        ("critique-loop", {"critic": {"teachers": []}}, "4steps", 'needs "teachers"'),
        ("critique-loop", {"critic": {"teachers": [{"url": "ftp://x", "model": "m"}]}}, "4steps", "url"),
        ("critique-loop", {"refine_rows": "all"}, "4steps", "critique-loop.refine_rows"),
        ("critique-loop", {"refine_per_problem": 0}, "4steps", "critique-loop.refine_per_problem"),
    ],
)
def test_bad_options_are_one_clear_error_before_training(method, options, budget, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        train(method, "test", "countdown", {**CFG, **options}, tmp_path / "x", budget)
    assert not (tmp_path / "x").exists()


def test_a_base_that_never_succeeds_is_one_clear_error(tmp_path):
    cfg = {**CFG, "rounds": 1, "n": 2}
    with pytest.raises(ValueError, match="no verified-correct answer"):
        train("self-train", "test", "countdown", cfg, tmp_path / "x", "2steps")


def test_round_budgets_split_every_limit_cumulatively():
    from sparring.train import Budget
    from sparring.train.self_train import round_budget

    b = Budget.parse("7steps,1000flops")
    assert round_budget(b, 1, 2, {"flops": 100}, "m") == Budget(steps=3, flops=400)
    assert round_budget(b, 2, 2, {"steps": 3, "flops": 600}, "m") == Budget(steps=4, flops=400)
    with pytest.raises(ValueError, match="m: after round 1's sampling nothing of its flops share"):
        round_budget(b, 1, 2, {"flops": 500}, "m")


def test_loop_spec_loads():
    from pathlib import Path

    from sparring.lab import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "loop.yaml")
    assert {a.role for a in spec.arms} >= {"self-train", "critique-loop"} and len(spec.seeds) == 3


def _history(rows1, rowsL, dist1, distL):
    """A two-round training history of 40 problems, every odd one labelled hard."""
    n = 40
    hard = [i % 2 == 1 for i in range(n)]

    def entry(r, rows, dist):
        rr = [rows(h) for h in hard]
        dd = [dist(h) if x else 0 for h, x in zip(hard, rr)]
        share = sum(x for x, h in zip(rr, hard) if h) / sum(rr)
        per = {"correct": rr, "rows": rr, "distinct": dd}
        return {"round": r, "hard_share": share, "distinct_per_problem": 2.0, "data_rows": sum(rr), "per_problem": per}

    return {
        "history": [entry(1, rows1, dist1), entry(2, rowsL, distL)],
        "problems": {"id": [f"p{i}" for i in range(n)], "difficulty": ["hard" if h else "easy" for h in hard]},
    }


def _study(tmp_path, self_train, critique_loop):
    from sparring.lab.store import Store

    store = Store(tmp_path)
    spec = {
        "name": "loop-test",
        "task": "countdown",
        "task_config": {},
        "base": "test",
        "budget": "1e9flops",
        "seeds": [0, 1],
        "probe_n": 10,
        "arms": [{"name": "st", "role": "self-train"}, {"name": "cl", "role": "critique-loop"}],
    }
    store.set_meta("spec", spec)
    for seed in (0, 1):
        for arm, train_m in (("st", self_train), ("cl", critique_loop)):
            store.finish_train(arm, seed, "x", 1.0, {"metrics": {"train": train_m}}, [])
    store.close()


def _verdicts(tmp_path):
    from sparring.lab import build_report

    d = build_report(tmp_path)
    return {f["id"]: f for f in d["findings"] if f["id"].startswith("8")}, d


def test_finding_8_rule_reads_the_rounds_and_the_report_plots_them(tmp_path):
    from sparring.lab import write_report

    narrowing = _history(lambda h: 1, lambda h: 0 if h else 2, lambda h: 3, lambda h: 1)
    kept = _history(lambda h: 1, lambda h: 1, lambda h: 2, lambda h: 2)
    _study(tmp_path, narrowing, kept)
    f, d = _verdicts(tmp_path)
    assert f["8a"]["verdict"] == "replicates" and f["8a"]["effect"] == pytest.approx(-0.5)
    assert f["8b"]["verdict"] == "replicates" and f["8b"]["effect"] == pytest.approx(0.5)
    assert f["8c"]["verdict"] == "replicates" and f["8c"]["effect"] == pytest.approx(2.0)
    assert f["8b"]["comparison"] == "cl vs st" and "80 (seed, problem) pairs" in f["8b"]["method"]
    report = write_report(tmp_path, d)
    assert (report / "rounds.png").is_file() and "![rounds.png](rounds.png)" in (report / "report.md").read_text()


def test_finding_8_without_narrowing_leaves_its_dependent_claims_undecided(tmp_path):
    flat = _history(lambda h: 1, lambda h: 1, lambda h: 1, lambda h: 1)
    _study(tmp_path, flat, flat)
    f, _ = _verdicts(tmp_path)
    assert f["8a"]["verdict"] == "inconclusive" and f["8a"]["effect"] == 0.0
    assert f["8b"]["verdict"] == f["8c"]["verdict"] == "premise inconclusive"


def test_self_train_is_a_pipeline_stage(planted, tmp_path, init_weights):
    stage = {k: v for k, v in CFG.items() if k not in ("eval_problems", "eval_max_new_tokens", "show_progress")}
    cfg = {"stages": [{"method": "self-train", "config": {**stage, "rounds": 1}}], "eval_problems": 0}
    card = _card(
        train("pipeline", "test", "countdown", {**cfg, "show_progress": False}, tmp_path / "p", "2steps").path,
        init_weights,
    )
    (stage1,) = card["metrics"]["train"]["stages"]
    assert stage1["steps"] == 2 and stage1["history"][0]["data_rows"] > 0
