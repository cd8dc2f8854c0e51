"""Content keys: a study's units are keyed by what its base and datasets contain, not by
their names, so new weights behind the same path redo the units; and composite findings:
a claim whose premise failed reads "premise failed"."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from sparring.lab import parse_spec, run
from sparring.lab.findings import evaluate
from sparring.lab.spec import content_fingerprints
from sparring.lab.store import Store
from sparring.models import make_model, save_model
from sparring.models.fingerprint import _digests, model_fingerprint

pytestmark = pytest.mark.usefixtures("one_thread")

SFT = {"n": 32, "batch_size": 8}


def study(base: str) -> dict:
    return {
        "name": "keys",
        "task": {"name": "countdown"},
        "base": base,
        "budget": "2steps",
        "seeds": [0],
        "arms": [
            {"name": "base", "method": "none"},
            {"name": "sft", "method": "sft", "config": SFT},
            {  # two stages: a redone unit must not reuse a stage trained from the old weights
                "name": "p",
                "method": "pipeline",
                "config": {"stages": [{"method": "sft", "config": SFT}, {"method": "sft", "config": SFT}]},
            },
        ],
        "probes": {"names": ["accuracy"], "n": 4, "config": {"max_new_tokens": 8, "levels": [], "n_resamples": 50}},
    }


def finished(out: Path) -> dict[tuple[str, str], float]:
    db = sqlite3.connect(out / "lab.sqlite")
    rows = dict(((a, k), f) for a, k, f in db.execute("SELECT arm, kind, finished FROM units WHERE status='done'"))
    db.close()
    return rows


def save_preset(path: Path, seed: int) -> None:
    save_model(*make_model("test", seed=seed), path)


def test_new_weights_behind_a_base_path_redo_every_unit(tmp_path):
    base, out = tmp_path / "base", tmp_path / "run"
    save_preset(base, seed=0)
    spec = study(str(base))
    run(parse_spec(spec), out, quiet=True)
    first = finished(out)
    assert len(first) == 6
    stage_mark = out / "ckpt" / "p-s0.stages" / "01-sft" / "stage.json"
    stage_time = stage_mark.stat().st_mtime_ns

    run(parse_spec(spec), out, quiet=True)  # nothing changed: nothing is redone
    assert finished(out) == first

    save_preset(base, seed=1)  # other weights, same path, same config and tokenizer
    run(parse_spec(spec), out, quiet=True)
    again = finished(out)
    assert set(again) == set(first) and all(again[u] > first[u] for u in first)  # train and probe units
    assert stage_mark.stat().st_mtime_ns > stage_time  # the pipeline's stages were retrained too

    # a folder written before content keys (its stored spec has no fingerprints and its
    # keys hash the base's name) is redone: nothing says which weights that name meant
    store = Store(out)
    old = store.get_meta("spec")
    old.pop("fingerprints")
    store.set_meta("spec", old)
    for arm in old["arms"]:
        for kind in ("train", "probe"):
            store.db.execute(
                "UPDATE units SET key=? WHERE arm=? AND seed=0 AND kind=?",
                (_name_key(old, arm, kind), arm["name"], kind),
            )
    store.close()
    run(parse_spec(spec), out, quiet=True)
    assert all(finished(out)[u] > again[u] for u in again)


def _name_key(spec: dict, arm: dict, kind: str) -> str:
    """``Spec.unit_key`` as sparring computed it before content keys (hashing the base's name)."""
    d = {
        "task": spec["task"],
        "task_config": spec["task_config"],
        "base": spec["base"],
        "seed": 0,
        "method": arm["method"],
        "config": arm["config"],
    }
    if arm["method"] != "none":
        d["budget"] = spec["budget"]
    if kind == "probe":
        d = {"train": _name_key(spec, arm, "train"), "probes": spec["probes"], "n": spec["probe_n"]}
        d["config"] = spec["probe_config"]
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def test_the_fingerprint_is_the_weights_and_tokenizer_not_names_or_times(tmp_path):
    from safetensors.torch import load_file, save_file

    base = tmp_path / "m"
    save_preset(base, seed=0)
    fp = model_fingerprint(str(base))
    assert fp == model_fingerprint(str(base)) and len(fp) == 16

    cached = len(_digests)
    weights = base / "model.safetensors"
    os.utime(weights, ns=(1_000_000_000, 1_000_000_000))  # only the time changes: hashed again, same print
    assert model_fingerprint(str(base)) == fp
    assert len(_digests) == cached + 1
    model_fingerprint(str(base))
    assert len(_digests) == cached + 1  # the same stamps: not hashed again

    (base / "run.json").write_text('{"note": "a card is not content"}')
    assert model_fingerprint(str(base)) == fp

    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1.0  # one weight
    save_file(tensors, weights, metadata={"format": "pt"})
    changed = model_fingerprint(str(base))
    assert changed != fp

    tok = base / "tokenizer_config.json"
    cfg = json.loads(tok.read_text())
    tok.write_text(json.dumps({**cfg, "model_max_length": 77}))
    assert model_fingerprint(str(base)) not in (fp, changed)

    # a preset is its definition; a directory needs weights
    assert model_fingerprint("test") == model_fingerprint("test") != model_fingerprint("tiny")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no weights"):
        model_fingerprint(str(tmp_path / "empty"))


def test_a_local_dataset_is_keyed_by_its_rows(tmp_path):
    from datasets import Dataset

    data = tmp_path / "data"
    Dataset.from_dict({"prompt": ["1,2:3\n"], "completion": ["1+2=3"]}).save_to_disk(str(data))
    raw = study("test")
    raw["arms"][1]["config"] = {**SFT, "recipe": str(data)}
    spec = parse_spec(raw)
    spec.fingerprints = content_fingerprints(spec)
    assert set(spec.fingerprints) == {"base", f"dataset:{data}"}
    keys = {a.name: spec.unit_key(a, 0, "probe") for a in spec.arms}

    shutil.rmtree(data)
    Dataset.from_dict({"prompt": ["1,2:3\n"], "completion": ["2+1=3"]}).save_to_disk(str(data))
    spec.fingerprints = content_fingerprints(spec)
    now = {a.name: spec.unit_key(a, 0, "probe") for a in spec.arms}
    assert now["sft"] != keys["sft"]
    assert now["base"] == keys["base"] and now["p"] == keys["p"]  # arms that do not read it keep their keys

    raw["arms"][1]["config"]["recipe"] = str(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"spec.arms\[1\] \(sft\).recipe: no such directory"):
        content_fingerprints(parse_spec(raw))


# ---- composite findings ------------------------------------------------------------------


def _store_with_accuracy(tmp_path: Path, correct: dict[str, list[int]]) -> Store:
    """A store holding only per-problem accuracy records (ID level) for each arm."""
    store = Store(tmp_path)
    with store.transaction() as db:
        for arm, xs in correct.items():
            db.executemany(
                "INSERT INTO records VALUES (?, 0, 'accuracy', ?, ?)",
                [(arm, i, json.dumps({"id": f"p{i}", "level": "id", "correct": x})) for i, x in enumerate(xs)],
            )
    return store


def _verdicts(store: Store) -> dict[str, dict]:
    roles = {r: r for r in ("base", "grpo", "raro")}
    return {f["id"]: f for f in evaluate(store, roles)}


def test_a_claim_whose_premise_failed_reads_premise_failed(tmp_path):
    # RARO well below the base (5a fails) and GRPO as weak: RARO "within 10 points" of GRPO
    base = [1] * 100 + [0] * 100
    raro = [1] * 60 + [0] * 140
    grpo = [1] * 62 + [0] * 138
    f = _verdicts(_store_with_accuracy(tmp_path, {"base": base, "raro": raro, "grpo": grpo}))
    assert f["5a"]["verdict"] == "does not replicate"
    assert f["5b"]["interval_verdict"] == "replicates"  # the interval alone would say so
    assert f["5b"]["verdict"] == "premise failed"
    assert f["5b"]["effect"] is not None  # effect and interval are still shown
    assert f["5b"]["rule"] == "CI > -0.10, and 5a replicates"


def test_a_claim_whose_premise_holds_gets_its_interval_verdict(tmp_path):
    base = [1] * 40 + [0] * 160
    raro = [1] * 120 + [0] * 80
    grpo = [1] * 125 + [0] * 75
    f = _verdicts(_store_with_accuracy(tmp_path, {"base": base, "raro": raro, "grpo": grpo}))
    assert f["5a"]["verdict"] == "replicates"
    assert f["5b"]["verdict"] == f["5b"]["interval_verdict"] == "replicates"


def test_an_inconclusive_or_untested_premise_leaves_the_claim_undecided(tmp_path):
    base = [1, 0] * 10
    raro = [0, 1] * 10  # the same accuracy: 5a's interval straddles 0
    grpo = [1, 0] * 10
    f = _verdicts(_store_with_accuracy(tmp_path / "a", {"base": base, "raro": raro, "grpo": grpo}))
    assert f["5a"]["verdict"] == "inconclusive"
    assert f["5b"]["verdict"] == "premise inconclusive"
    store = _store_with_accuracy(tmp_path / "b", {"raro": raro, "grpo": grpo})
    f = {r["id"]: r for r in evaluate(store, {"raro": "raro", "grpo": "grpo"})}
    assert f["5a"]["verdict"] == "not tested by this run"
    assert f["5b"]["verdict"] == "premise not tested"


def test_a_pipeline_outside_the_lab_redoes_its_stages_when_its_base_changes(tmp_path):
    """The pipeline's own stage key starts from the base's content, not its path."""
    from sparring.models import make_model, save_model
    from sparring.train import train

    base = tmp_path / "base"
    save_model(*make_model("test", seed=0), base)
    stage = {"n": 8, "batch_size": 4, "eval_problems": 0, "show_progress": False, "warmup_steps": 0}
    cfg = {"stages": [{"method": "sft", "config": stage}], "eval_problems": 0, "show_progress": False}
    first = train("pipeline", str(base), "countdown", cfg, tmp_path / "p", "1steps")
    assert [s["skipped"] for s in first.get("stages")] == [False]
    again = train("pipeline", str(base), "countdown", cfg, tmp_path / "p", "1steps")
    assert [s["skipped"] for s in again.get("stages")] == [True]
    save_model(*make_model("test", seed=1), base)  # new weights behind the same path
    third = train("pipeline", str(base), "countdown", cfg, tmp_path / "p", "1steps")
    assert [s["skipped"] for s in third.get("stages")] == [False]
