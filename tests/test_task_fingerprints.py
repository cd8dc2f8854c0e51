"""The task refactor is invisible in the outputs: fingerprints of every observable output of
the step-chain tasks (problems of every split, prompts, questions, gold solutions and
alternatives, flaws of every kind with their verdicts, plausible wrong answers, search
traces, the verdicts on junk completions) equal those the pre-refactor code wrote to
``tests/data/task_fingerprints.json``; and the shipped zoo bases' pretraining data
rebuilds to the hashes in their cards.

The validation partition is new: with ``validation_permille=0`` the train partition is the
old one; with the default only train changes (validation comes out of it)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest

from sparring.tasks import get_task, load_problem

DATA = Path(__file__).parent / "data" / "task_fingerprints.json"
ZOO = Path(__file__).resolve().parents[1] / "src" / "sparring" / "zoo"


def fingerprints(extra: dict) -> dict[str, str]:
    configs = [
        ("countdown", {}),
        ("countdown", {"unsolvable_fraction": 0.3}),
        ("countdown", {"n_numbers": 4}),
        ("arith", {}),
        ("arith", {"unsolvable_fraction": 0.3}),
        ("arith", {"n_ops": 5, "ops": "+-*"}),
    ]

    def safe(f):
        try:
            r = f()
            return r.to_dict() if hasattr(r, "to_dict") else (list(r) if isinstance(r, tuple) else r)
        except (ValueError, NotImplementedError) as e:
            return f"ERR {type(e).__name__}: {e}"

    out = {}
    for name, conf in configs:
        t = get_task(name, **conf, **extra)
        kinds = ["arithmetic_slip", "bad_operand", "dropped_step", "false_final", "swapped_steps"]
        splits = ["train", "test"] + [lv for lv in t.levels if lv != "id"]
        for split in splits:
            n = 120 if split == "train" else 60
            rows = []
            for seed in (0, 3):
                ps = t.problems(split, n=n, seed=seed)
                for i, p in enumerate(ps):
                    row = [
                        p.to_dict(),
                        [t.prompt(p, k) for k in range(len(t.templates))],
                        t.question(p),
                        t.solve(p),
                        t.solutions(p, limit=4),
                        t.gold_answer(p),
                        t.heldout(p),
                        load_problem(p.to_dict()).to_dict(),
                    ]
                    if i % 3 == 0:
                        row.append([safe(lambda s=s: t.flaw(p, seed=s)) for s in range(3)])
                        row.append([safe(lambda k=k: t.flaw(p, seed=1, kind=k)) for k in kinds])
                        fl = [safe(lambda s=s: t.flaw(p, seed=s)) for s in range(2)]
                        row.append([t.verify(p, f[0]).to_dict() if isinstance(f, list) else f for f in fl])
                        row.append([safe(lambda s=s: t.plausible_wrong_answer(p, seed=s)) for s in range(2)])
                    row.append(t.verify(p, t.solve(p)).to_dict())
                    if i % 10 == 0 and name == "countdown" and p.solvable:
                        tr = t.search_trace(p, "bfs", "mult", 2)
                        row.append([tr, t.verify(p, tr[0]).to_dict(), t.search_trace(p)])
                    rows.append(row)
            stream = list(itertools.islice(t.iter_problems("train", 5), 40)) if split == "train" else []
            rows.append([p.to_dict() for p in stream])
            blob = json.dumps(rows, sort_keys=True, default=str)
            out[f"{name}{json.dumps(conf, sort_keys=True)}/{split}"] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    # some hand-written completions
    t = get_task("countdown")
    p = t.problems("test", n=3)[0]
    junk = ["", "1+1=2", "No solution", "x" * 20000, "3+4=7\n7*5=35\nfoo", "Current State: 3:[1, 2]", "\x00"]
    out["junk-countdown"] = hashlib.sha256(json.dumps([t.verify(p, j).to_dict() for j in junk]).encode()).hexdigest()[
        :16
    ]
    t = get_task("arith")
    p = t.problems("test", n=3)[0]
    out["junk-arith"] = hashlib.sha256(json.dumps([t.verify(p, j).to_dict() for j in junk]).encode()).hexdigest()[:16]

    return out


def test_step_task_outputs_are_unchanged():
    want = json.loads(DATA.read_text())
    assert fingerprints({"validation_permille": 0}) == want


def test_default_partition_changes_only_train():
    want = json.loads(DATA.read_text())
    got = fingerprints({})
    changed = sorted(k for k in want if got[k] != want[k])
    assert changed and all(k.endswith("/train") for k in changed), changed


@pytest.mark.slow
def test_zoo_pretraining_data_rebuilds_to_its_card_hash():
    """102,400 rows per base, both bases at once (one process each: ~40 s on two cores)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sparring.train.pretrain import card_data_hash

    cards = [json.loads((ZOO / f"{name}-base/card.json").read_text()) for name in ("countdown", "arith")]
    assert [c["data"]["hash"] for c in cards] == ["71664e8c6ffb9d74", "328e953004b2a67b"]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert list(pool.map(card_data_hash, cards)) == ["71664e8c6ffb9d74", "328e953004b2a67b"]
