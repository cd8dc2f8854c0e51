"""Tests for sparring.corpus: recipes, critique format and parser, leak guard, cards."""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter

import pytest
from datasets import Dataset

from sparring.corpus import (
    COLUMNS,
    CRITIQUE_INSTRUCTION,
    OPTIONS,
    PERTURB_KINDS,
    PHRASINGS,
    RECIPES,
    build,
    card,
    check_no_heldout,
    content_hash,
    load,
    parse_critique,
    programmatic_critique,
    recipe_needs,
    save,
)
from sparring.tasks import get_task, list_tasks, load_problem

TASKS = list_tasks()
SEARCH_TASKS = [t for t in TASKS if get_task(t).has("search")]
UNSOLVABLE_TASKS = [t for t in TASKS if get_task(t).has("unsolvable")]  # math has none
N = 40
PUBLISHED = "Please critique whether the following solution to the question is correct.\n\nQuestion:\n"


def opts_for(recipe: str) -> dict:
    return {"kind": "shuffle_steps"} if recipe == "perturbed" else {}


def applicable(task_name: str) -> list[str]:
    """The recipes whose needed capabilities the task declares."""
    task = get_task(task_name)
    return [r for r in RECIPES if all(task.has(c) for c in recipe_needs(r, opts_for(r)))]


def test_a_recipe_the_task_cannot_feed_fails_in_one_line():
    refused = [(t, r) for t in TASKS for r in RECIPES if r not in applicable(t)]
    assert ("linear", "perturbed") in refused and ("linear", "search") in refused
    for t, r in refused:
        with pytest.raises(ValueError, match=f"recipe '{r}' needs the '[a-z_]+' capability, which task '{t}'"):
            build(r, get_task(t), N, 0, **opts_for(r))


CASES = [(t, r) for t in TASKS for r in applicable(t)]


@pytest.fixture(scope="module")
def built():
    """Every applicable (task, recipe) built once at N rows, seed 0."""
    return {(t, r): build(r, get_task(t), N, 0, **opts_for(r)) for t, r in CASES}


@pytest.fixture(scope="module")
def heldout_ids():
    out = {}
    for name in TASKS:
        task = get_task(name)
        ids = {p.id for p in task.problems("test", 500, 0)} | {p.id for p in task.problems("validation", 200, 0)}
        for level in task.levels:
            if level != "id":
                ids |= {p.id for p in task.problems(level, 300, 0)}
        out[name] = ids
    return out


def solution_of(prompt: str) -> str:
    return prompt.split("\nSolution:\n", 1)[1][:-1]


def truth(task, problem, solution: str):
    v = task.verify(problem, solution)
    return ("right", None) if v.correct else ("wrong", v.first_error)


# ---- shape, determinism, leaks -------------------------------------------------------
@pytest.mark.parametrize("task_name,recipe", CASES)
def test_columns_rows_and_problem_json(built, task_name, recipe):
    ds = built[(task_name, recipe)]
    assert list(ds.column_names) == list(COLUMNS)
    if recipe == "verified":
        noisy = built[(task_name, "noisy")]
        assert 0 < len(ds) < N and len(ds) == sum(1 for lab in noisy["label"] if not lab.startswith("flawed"))
    else:
        assert len(ds) == N
    task = get_task(task_name)
    for row in ds:
        assert all(isinstance(row[c], str) for c in COLUMNS)
        assert row["task"] == task_name and row["level"] == "id" and row["label"]
        assert "<eos>" not in row["completion"] and row["completion"] == row["completion"].strip()
        p = load_problem(json.loads(row["problem"]))
        assert p.id == row["problem_id"] and not task.heldout(p)


@pytest.mark.parametrize("task_name,recipe", CASES)
def test_deterministic_for_a_seed(built, task_name, recipe):
    task = get_task(task_name)
    again = build(recipe, task, N, 0, **opts_for(recipe))
    assert again.to_dict() == built[(task_name, recipe)].to_dict()
    other = build(recipe, task, N, 1, **opts_for(recipe))
    assert content_hash(other) != content_hash(again)


@pytest.mark.parametrize("task_name,recipe", CASES)
def test_no_heldout_problem_in_any_recipe(built, heldout_ids, task_name, recipe):
    ids = set(built[(task_name, recipe)]["problem_id"])
    assert not ids & heldout_ids[task_name]


def test_leak_guard_raises_naming_the_problem():
    task = get_task("countdown")
    train = build("imitation", task, 5, 0).to_dict()
    test_p = task.problems("test", 1, 0)[0]
    bad = {k: list(v) for k, v in train.items()}
    bad["problem_id"][3] = test_p.id
    bad["problem"][3] = json.dumps(test_p.to_dict())
    with pytest.raises(ValueError, match=test_p.id):
        check_no_heldout(task, Dataset.from_dict(bad))
    forged = {k: list(v) for k, v in train.items()}
    forged["problem"][1] = json.dumps(test_p.to_dict())  # test content behind a train id
    with pytest.raises(ValueError, match="problem_id"):
        check_no_heldout(task, forged)
    ood = task.problems("ood-target", 1, 0)[0]
    with pytest.raises(ValueError, match=ood.id):
        check_no_heldout(task, {"problem_id": [ood.id], "problem": [json.dumps(ood.to_dict())]})


# ---- critique ------------------------------------------------------------------------
@pytest.mark.parametrize("task_name", TASKS)
@pytest.mark.parametrize("style", ["prompt", "words"])
def test_critique_matches_verifier(task_name, style):
    task = get_task(task_name)
    ds = build("critique", task, 150, 3, question_style=style, phrasings=list(range(len(PHRASINGS))))
    labels = Counter(ds["label"])
    assert labels["critique:right"] > 30 and labels["critique:wrong"] > 30
    for row in ds:
        assert row["prompt"].startswith(PUBLISHED)
        assert row["prompt"].startswith(CRITIQUE_INSTRUCTION + "\n\nQuestion:\n")
        p = load_problem(json.loads(row["problem"]))
        q = task.prompt(p, 0).strip() if style == "prompt" else task.question(p)
        y = solution_of(row["prompt"])
        assert row["prompt"] == f"{PUBLISHED}{q}\n\nSolution:\n{y}\n"
        c = row["completion"]
        assert c.startswith("Critique:\nStep 1: ") or c.startswith("Critique:\nFinal: ")
        assert re.search(r"\nConclusion: (right|wrong) \[END\]\Z", c)
        assert parse_critique(c) == truth(task, p, y)
        assert row["label"] == f"critique:{truth(task, p, y)[0]}"
        assert all(32 <= ord(ch) < 127 or ch == "\n" for ch in row["prompt"] + c)


@pytest.mark.parametrize("task_name", [t for t in TASKS if get_task(t).has("flaws")])
def test_wrong_critique_rate(task_name):
    task = get_task(task_name)
    n, rate = 400, 0.25
    ds = build("critique", task, n, 0, wrong_critique_rate=rate)
    wrong = 0
    for row in ds:
        p = load_problem(json.loads(row["problem"]))
        mismatch = parse_critique(row["completion"]) != truth(task, p, solution_of(row["prompt"]))
        assert mismatch == (row["label"].count(":") == 2)  # critique:<truth>:<how>
        wrong += mismatch
    assert wrong == round(rate * n)
    hows = Counter(lab.split(":")[2] for lab in ds["label"] if lab.count(":") == 2)
    # without steps a critique has one block (Final), so an error cannot be misplaced
    assert set(hows) == {"false_alarm", "missed"} | ({"misplaced"} if task.has("steps") else set())


def test_programmatic_critique_examples():
    task = get_task("countdown")
    p = load_problem({"task": "countdown", "data": {"numbers": [3, 7, 9], "target": 30}})
    right = programmatic_critique(task, p, "7*3=21\n21+9=30")
    assert right == (
        "Critique:\nStep 1: 7*3=21\nCorrectness: correct\nExplanation: This step is valid.\n"
        "Step 2: 21+9=30\nCorrectness: correct\nExplanation: This step is valid.\n"
        "Final: 30\nCorrectness: correct\nExplanation: 30 is the required answer.\n"
        "Conclusion: right [END]"
    )
    slip = programmatic_critique(task, p, "7*3=21\n21+9=31")
    assert slip.endswith(
        "Step 2: 21+9=31\nCorrectness: wrong\nExplanation: 21+9 is 30, not 31. "
        "The correct step is 21+9=30.\nConclusion: wrong [END]"
    )
    assert parse_critique(slip) == ("wrong", 1)
    unused = programmatic_critique(task, p, "7*3=21")  # valid steps, wrong ending
    assert "Final: 21\nCorrectness: wrong\nExplanation: " in unused
    assert parse_critique(unused) == ("wrong", 1)
    assert parse_critique(programmatic_critique(task, p, "No solution")) == ("wrong", 0)
    # the work-first wording: explanation (with the step's computation) before the verdict
    work = programmatic_critique(task, p, "7*3=21\n21+9=31", phrasing=4)
    assert work.startswith("Critique:\nStep 1: 7*3=21\nExplanation: 7*3 is 21.\nCorrectness: correct\n")
    assert "Step 2: 21+9=31\nExplanation: 21+9 is 30, not 31. The correct step is 21+9=30.\nCorrectness: wrong" in work
    assert parse_critique(work) == ("wrong", 1)
    for tn in TASKS:
        t = get_task(tn)
        for i, q in enumerate(t.problems("train", 25, 5)):
            if not q.solvable:
                continue
            f = t.flaw(q, seed=i)
            assert parse_critique(programmatic_critique(t, q, f.text, phrasing=i % len(PHRASINGS))) == (
                "wrong",
                f.first_error,
            )
            assert parse_critique(programmatic_critique(t, q, t.solve(q))) == ("right", None)


HOSTILE = [
    "",
    "Conclusion:",
    "Conclusion: maybe",
    "conclusion: RIGHT",
    "Step -1:\nCorrectness: wrong",
    "Step 99999999999999999999: x\nCorrectness: wrong\nConclusion: wrong",
    "Final:\nCorrectness: wrong",
    "Correctness: wrong\nConclusion: wrong [END]",
    "[END]Conclusion: right",
    "\x00" * 100,
    "Step 1: a\n" * 100_000,
    "(" * 200_000,
    "Step " + "9" * 5000 + ":",
    "Correctness: " + " " * 50_000 + "wrong",
    "Critique:\nStep 1: 1+1=2\nCorrectness: correct\nConclusion: right [END]\nConclusion: wrong",
    "\u00e9\u4e2d\U0001f600 Conclusion: wrong",
    "Step 2: x\r\nCorrectness: wrong\r\nConclusion: wrong\r\n",
    "<eos>Conclusion: right",
    "\n" * 1_000_000,
    "a" * 2_000_000,
]


def test_parse_critique_never_raises_on_hostile_text():
    rng = random.Random(0)
    words = [
        "Step",
        "1",
        "2",
        ":",
        "Final",
        "Correctness",
        "correct",
        "wrong",
        "Conclusion",
        "right",
        "[END]",
        "\n",
        " ",
        "incorrect",
        "Explanation",
        "\t",
        "99",
    ]
    fuzz = ["".join(rng.choice(words) for _ in range(rng.randrange(60))) for _ in range(2000)]
    fuzz += [
        "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(40)))
        .encode("utf-8", "replace")
        .decode("utf-8", "replace")
        for _ in range(300)
    ]
    start = time.perf_counter()
    for text in HOSTILE + fuzz + [None, 3, b"Conclusion: right", ["Conclusion: right"], {"a": 1}]:
        verdict, step = parse_critique(text)
        assert verdict in (None, "right", "wrong")
        assert step is None or (isinstance(step, int) and 0 <= step < 10_000)
    assert time.perf_counter() - start < 10
    assert parse_critique("Critique:\nStep 1: x\nCorrectness: wrong\nConclusion: wrong [END]") == ("wrong", 0)
    assert parse_critique("Step 1: x\nCorrectness: correct\nConclusion: right [END]") == ("right", None)
    assert parse_critique("Conclusion: right [END]\nStep 1: x\nCorrectness: wrong") == ("right", None)


# ---- one-shot, noisy/verified, search, perturbed, pretrain --------------------------------
@pytest.mark.parametrize("task_name", TASKS)
def test_one_shot_critique(task_name):
    task = get_task(task_name)
    ds = build("one_shot_critique", task, 300, 0, problem_index=2)
    assert len(ds) == 300 and len(set(ds["problem_id"])) == 1
    assert ds[0]["problem_id"] == task.problems("train", 3, 0)[2].id
    labels = Counter(ds["label"])
    assert labels["critique:right"] == 150 and labels["critique:wrong"] == 150
    explanations = {ln for c in ds["completion"] for ln in c.split("\n") if ln.startswith("Explanation:")}
    if task.has("steps"):  # the wordings differ in their step confirmations
        assert sum(any(ph["ok"] in e for e in explanations) for ph in PHRASINGS) >= 3
    assert len(set(zip(ds["prompt"], ds["completion"]))) > 40  # many distinct rows
    pid = ds[0]["problem_id"]
    by_id = build("one_shot_critique", task, 20, 0, problem_id=pid)
    assert set(by_id["problem_id"]) == {pid}
    by_dict = build("one_shot_critique", task, 20, 0, problem=ds[0]["problem"])
    assert by_dict.to_dict() == by_id.to_dict()
    test_p = task.problems("test", 1, 0)[0]
    with pytest.raises(ValueError, match="one_shot_critique.problem"):
        build("one_shot_critique", task, 5, 0, problem=test_p.to_dict())
    p = load_problem(json.loads(ds[0]["problem"]))
    for row in by_id:
        assert parse_critique(row["completion"]) == truth(task, p, solution_of(row["prompt"]))


@pytest.mark.parametrize("task_name", TASKS)
def test_noisy_and_verified_share_the_pool(task_name):
    task = get_task(task_name)
    noisy = build("noisy", task, 300, 4)
    ver = build("verified", task, 300, 4)
    flawed = sum(lab.startswith("flawed:") for lab in noisy["label"])
    assert 0.2 < flawed / 300 < 0.4
    kept = [
        (r["prompt"], r["completion"])
        for r in noisy
        if task.verify(load_problem(json.loads(r["problem"])), r["completion"]).correct
    ]
    assert list(zip(ver["prompt"], ver["completion"])) == kept
    clean = build("noisy", task, 50, 4, error_rate=0.0)
    assert set(clean["label"]) <= {"gold", "abstain"}


@pytest.mark.parametrize("task_name", SEARCH_TASKS)
def test_search_traces_verify(task_name):
    task = get_task(task_name)
    ds = build("search", task, 30, 0, strategies=["bfs"], beams=[3])
    assert {lab.rsplit("-", 1)[0].rsplit("-", 1)[0] for lab in ds["label"]} == {"search:bfs"}
    for row in ds:
        assert row["completion"].startswith("Current State:")
        assert task.verify(load_problem(json.loads(row["problem"])), row["completion"]).correct


@pytest.mark.parametrize("task_name", [t for t in TASKS if get_task(t).has("steps")])
def test_perturbed_kinds_change_what_they_say(task_name):
    task = get_task(task_name)
    gold = build("imitation", task, 60, 2)
    for kind in PERTURB_KINDS:
        ds = build("perturbed", task, 60, 2, kind=kind)
        assert ds["prompt"] == gold["prompt"] and ds["problem_id"] == gold["problem_id"]
        changed = 0
        for g, row in zip(gold, ds):
            if row["label"] != f"perturbed:{kind}":
                assert row["completion"] == g["completion"]
                continue
            changed += 1
            a, b = row["completion"], g["completion"]
            assert a != b
            p = load_problem(json.loads(row["problem"]))
            if kind == "shuffle_steps":
                assert sorted(a.split("\n")) == sorted(b.split("\n"))
            elif kind == "corrupt_digits":
                assert re.sub("[0-9]", "#", a) == re.sub("[0-9]", "#", b)
                diff = sum(x != y for x, y in zip(a, b))
                assert 1 <= diff and abs(diff - 0.5 * sum(ch.isdigit() for ch in b)) <= 1
            elif kind == "wrong_answer":
                assert not task.verify(p, a).answer_correct and a.split("\n")[:-1] == b.split("\n")[:-1]
            else:
                assert a in gold["completion"]
        assert changed >= 40
    half = build("perturbed", task, 60, 2, kind="corrupt_digits", rate=0.5)
    assert sum(lab.startswith("perturbed:") for lab in half["label"]) == 30


@pytest.mark.parametrize("task_name", UNSOLVABLE_TASKS)
def test_pretrain_mix(task_name):
    task = get_task(task_name, unsolvable_fraction=0.2)
    ds = build("pretrain", task, 300, 0)
    kinds = Counter(lab.split(":")[0] for lab in ds["label"])
    assert kinds["gold"] > 50 and kinds["flawed"] > 30 and kinds["abstain"] > 20 and not kinds["critique"]
    assert (kinds["search"] > 30) == task.has("search")
    assert len(set(ds["prompt"])) > 250  # several templates
    assert all(
        task.verify(load_problem(json.loads(r["problem"])), r["completion"]).abstained
        for r in ds
        if r["label"] == "abstain"
    )


# ---- registry, errors, cards ------------------------------------------------------------
def test_build_errors_name_the_field():
    task = get_task("countdown")
    with pytest.raises(ValueError, match="known: .*critique"):
        build("nope", task, 5)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['bogus'\]; allowed"):
        build("imitation", task, 5, bogus=1)
    bad = [
        ("critique", {"flaw_rate": 2}, "critique.flaw_rate"),
        ("critique", {"question_style": "x"}, "critique.question_style"),
        ("critique", {"wrong_critique_rate": -0.1}, "critique.wrong_critique_rate"),
        ("imitation", {"templates": [99]}, "imitation.templates"),
        ("imitation", {"templates": []}, "imitation.templates"),
        ("perturbed", {}, "perturbed.kind"),
        ("perturbed", {"kind": "shuffle_steps", "digit_rate": 0}, "perturbed.digit_rate"),
        ("search", {"strategies": ["astar"]}, "search.strategies"),
        ("search", {"beams": [0]}, "search.beams"),
        ("pretrain", {"search_fraction": True}, "pretrain.search_fraction"),
        ("one_shot_critique", {"trim": 0.5}, "one_shot_critique.trim"),
        ("one_shot_critique", {"problem_id": "0000000000000000"}, "one_shot_critique.problem_id"),
    ]
    for recipe, opts, field in bad:
        with pytest.raises(ValueError, match=re.escape(field)):
            build(recipe, task, 5, **opts)
    with pytest.raises(ValueError, match="imitation.n"):
        build("imitation", task, 0)
    with pytest.raises(ValueError, match="imitation.task"):
        build("imitation", "countdown", 5)
    for name in TASKS:
        if name not in SEARCH_TASKS:
            with pytest.raises(ValueError, match="needs the 'search' capability"):
                build("search", get_task(name), 5)
    assert set(OPTIONS) == set(RECIPES)


def test_card_save_load(tmp_path, built):
    task = get_task("countdown")
    ds = built[("countdown", "critique")]
    c = card(ds, "critique", task, N, 0, {"flaw_rate": 0.5})
    assert c["rows"] == N and sum(c["labels"].values()) == N
    assert c["options"]["flaw_rate"] == 0.5 and c["options"]["question_style"] == "prompt"
    assert c["content_hash"] == content_hash(ds) and len(c["content_hash"]) == 16
    assert c["task_config"]["n_numbers"] == task.config.n_numbers
    out = save(ds, tmp_path / "cft", c)
    back, c2 = load(out)
    assert c2 == c and back.to_dict() == ds.to_dict()
    assert (out / "sample.jsonl").read_text().count("\n") == 20
    with pytest.raises(ValueError, match="out_dir"):
        save(ds, out, c)
    small = built[("countdown", "imitation")]
    save(small, out, card(small, "imitation", task, N, 0, {}), overwrite=True)
    assert load(out)[1]["recipe"] == "imitation"
    assert sorted(os.listdir(tmp_path)) == ["cft"]  # no temp or old siblings left behind


def test_a_format_1_card_still_loads_and_fingerprints_agree(tmp_path, built):
    """Cards written before the one fingerprint (format /1, a 64-hex hash over the
    prompt/completion pairs) still load; a /2 card's hash is what run.json records."""
    import hashlib

    from sparring.corpus import fingerprint
    from sparring.train.data import recipe_dataset

    ds = built[("countdown", "imitation")]
    old = hashlib.sha256()
    for p, c in zip(ds["prompt"], ds["completion"]):
        old.update(json.dumps([p, c], ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    v1 = {
        **card(ds, "imitation", get_task("countdown"), N, 0, {}),
        "format": "sparring.corpus/1",
        "content_hash": old.hexdigest(),
    }
    out = save(ds, tmp_path / "v1", v1)
    assert load(out)[1]["content_hash"] == old.hexdigest()
    with pytest.raises(ValueError, match="content_hash"):
        load(save(ds, tmp_path / "bad", {**v1, "content_hash": "0" * 64}))
    _, data = recipe_dataset(str(out), get_task("countdown"), N, 0)
    assert data["hash"] == fingerprint(ds) == card(ds, "imitation", get_task("countdown"), N, 0, {})["content_hash"]


def test_larger_corpora_are_quick_and_repeat_problems_when_needed():
    task = get_task("countdown")
    start = time.perf_counter()
    ds = build("critique", task, 3000, 0)
    assert len(ds) == 3000 and len(set(ds["problem_id"])) == 3000  # distinct when the pool allows
    tiny = get_task("countdown", n_numbers=2, max_number=6, max_target=40)
    rep = build("imitation", tiny, 500, 0)  # far more rows than distinct train problems
    assert len(rep) == 500 and len(set(rep["problem_id"])) < 60
    assert time.perf_counter() - start < 15


@pytest.mark.parametrize("task_name", UNSOLVABLE_TASKS)
def test_critique_with_unsolvable_problems(task_name):
    task = get_task(task_name, unsolvable_fraction=0.3)
    ds = build("critique", task, 200, 0, wrong_critique_rate=0.0)
    unsolvable = 0
    for row in ds:
        p = load_problem(json.loads(row["problem"]))
        unsolvable += not p.solvable
        assert parse_critique(row["completion"]) == truth(task, p, solution_of(row["prompt"]))
    assert unsolvable > 20
