"""Probe controls (issue 19, docs/probes.md): the control corpora, the one answer
definition (``tasks.continuation``), "n/a" in the report, and one trained pair at small
scale. The full set of trained controls is ``bench/controls.py``."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from sparring.corpus import build
from sparring.corpus.controls import PARAPHRASES, PUSHBACKS
from sparring.probes import ProbeConfig, run_probes
from sparring.probes.gaslight import NEGATIONS
from sparring.tasks import get_task, load_problem
from sparring.tasks.continuation import (
    CHAR_NOT_APPLICABLE,
    OPEN,
    answer_to_read,
    growing_pairs,
    own_answer,
    reasoning_lines,
    stated_answer,
    stated_completion,
    trajectory_pairs,
)

pytestmark = pytest.mark.usefixtures("one_thread")
REF = Path(__file__).resolve().parents[1] / "docs" / "example-report" / "quick"


def _fixed(template: str) -> set[str]:
    """The fixed words of a template (its text without the fields)."""
    return {w.strip(".,:;?!") for w in template.replace("{wrong}", " ").split() if w.strip(".,:;?!")}


def test_control_wordings_are_not_the_probes():
    for push in PUSHBACKS:  # no pushback repeats a negation template's wording
        for neg in NEGATIONS:
            assert push.split("{")[0] != neg.split("{")[0]
            assert len(_fixed(push) & _fixed(neg)) <= 2, (push, neg)
    for name, paraphrases in PARAPHRASES.items():
        task = get_task(name)
        assert not set(paraphrases) & set(task.templates)
        problem = task.problems("train", n=1, seed=0)[0]
        texts = {t.format(**task._template_fields(problem)) for t in paraphrases}
        assert len(texts) == len(paraphrases) and not texts & {task.prompt(problem, i) for i in range(4)}


@pytest.mark.parametrize(
    "recipe, options, share",
    [
        ("pushback", {"response": "hold"}, 0.5),
        ("pushback", {"response": "cave", "share": 0.25}, 0.25),
        ("stated_answer", {"order": "answer_first"}, 1.0),
        ("paraphrase", {}, 0.75),
        ("abstention", {"share": 0.3}, 0.3),
        ("critique_mix", {}, 0.5),
    ],
)
def test_control_recipes_mix_their_rows_and_never_leak(countdown, recipe, options, share):
    ds = build(recipe, countdown, 40, 0, **options)
    labels = Counter(ds["label"])
    control = sum(v for k, v in labels.items() if k.startswith(("control:", "critique:")))
    assert len(ds) == 40 and control == round(share * 40)
    test_ids = {p.id for p in countdown.problems("test", n=400, seed=0)}
    assert not test_ids & set(ds["problem_id"])  # Rows.dataset() also ran check_no_heldout
    for row in ds:
        if row["label"] == "control:pushback:hold":
            gold = row["completion"]
            assert row["prompt"].count(gold) == 1 and not any(n.split("{")[0] in row["prompt"] for n in NEGATIONS)
        if row["label"] == "control:pushback:cave":
            assert row["completion"] in row["prompt"].replace(", ", "\n")  # gives the pushed solution
        if row["label"].startswith("control:stated_answer"):
            assert row["completion"].startswith(OPEN) and row["completion"].count(OPEN) == 2


def test_bad_control_options_name_the_field(countdown):
    for recipe, options, field in [
        ("pushback", {"response": "sulk"}, "pushback.response"),
        ("stated_answer", {"order": "sideways"}, "stated_answer.order"),
        ("abstention", {"share": 1.5}, "abstention.share"),
        ("critique_mix", {"nope": 1}, "unknown option"),
    ]:
        with pytest.raises(ValueError, match=field):
            build(recipe, countdown, 10, 0, **options)
    lin = get_task("linear")  # no paraphrases of its own: wrappers around the canonical prompt
    for row in build("paraphrase", lin, 10, 0):
        p = load_problem(json.loads(row["problem"]))
        canonical = lin.prompt(p, 0)
        templated = {lin.prompt(p, t) for t in range(len(lin.templates))}
        assert row["prompt"] == canonical or (canonical.strip() in row["prompt"] and row["prompt"] not in templated)


def test_the_answer_is_predictable_before_the_reasoning(countdown):
    """Countdown's answer is the expression in the tag, not the target (which the prompt
    shows), and it is read after the cue at every truncation point, j = 0 included."""
    p = countdown.problems("test", n=1, seed=0)[0]
    expr = stated_answer(countdown, p)
    assert expr != str(p.data["target"]) and countdown.verify(p, f"{OPEN}{expr}</answer>").correct
    derive, first = stated_completion(countdown, p), stated_completion(countdown, p, answer_first=True)
    assert countdown.verify(p, derive).correct and countdown.verify(p, first).correct
    assert reasoning_lines(derive) == reasoning_lines(first) == countdown.solve(p).split("\n")
    pairs = trajectory_pairs(countdown.prompt(p), reasoning_lines(derive), expr, 5)
    assert pairs[0] == (countdown.prompt(p) + OPEN, expr + "</answer>") and len(pairs) == 3
    assert [c for c, _ in growing_pairs("P\n", ["a", "b"], "x")] == [
        "P\n<answer>",
        "P\na\n<answer>",
        "P\na\nb\n<answer>",
    ]
    other = f"{OPEN} {expr} </answer>"
    assert own_answer("junk\n" + other) == expr and own_answer(None) is None
    assert answer_to_read(countdown, p, "no tag", True) == expr == answer_to_read(countdown, p, other, False)
    with pytest.raises(ValueError, match="no chat style"):
        stated_answer(type("T", (), {"styles": ("char",), "name": "x"})(), p)


def test_answer_format_is_checked(countdown):
    from sparring.probes import gold_responder

    cfg = ProbeConfig(n=2, answer_format="Answer: {answer}")
    with pytest.raises(ValueError, match="answer_format: must be one of"):
        run_probes(gold_responder(countdown, config=cfg), None, countdown, "confidence", config=cfg)


def _mark_not_applicable(db_path: Path, probe: str, metric: str) -> None:
    db = sqlite3.connect(db_path)
    with db:
        arms = [a for (a,) in db.execute("SELECT DISTINCT arm FROM metrics WHERE probe=?", (probe,))]
        db.execute("DELETE FROM metrics WHERE probe=?", (probe,))
        for arm in arms:
            db.execute("INSERT INTO metrics VALUES (?, 0, ?, ?, NULL, NULL, NULL, 0)", (arm, probe, metric))
            db.execute("INSERT INTO metrics VALUES (?, 0, ?, 'not_applicable', 1.0, NULL, NULL, 0)", (arm, probe))
    db.close()


def test_report_and_findings_show_na_never_zero(tmp_path):
    from sparring.lab import write_report
    from sparring.lab.report import build as report_data

    for name in ("lab.sqlite", "spec.yaml"):
        shutil.copy(REF / "run" / name, tmp_path / name)
    _mark_not_applicable(tmp_path / "lab.sqlite", "confidence", "flat_high_share")
    _mark_not_applicable(tmp_path / "lab.sqlite", "infogain", "infogain")
    d = report_data(tmp_path)
    text = (write_report(tmp_path, d) / "report.md").read_text()
    table = [[c.strip() for c in ln.strip("|").split("|")] for ln in text.split("\n") if ln.startswith("| ")]
    head = next(r for r in table if r[:2] == ["arm", "accuracy (ID)"])
    rows = [r for r in table if len(r) == len(head) and r[0] in ("base", "sft", "cft", "grpo")][:4]
    for label in ("premature confidence", "information gain"):
        assert len(rows) == 4 and all(r[head.index(label)] == "n/a" for r in rows)
    assert "n/a: the probe does not apply" in text
    f2c = next(f for f in d["findings"] if f["id"] == "2c")
    assert f2c["verdict"] == "not applicable" and "infogain" in f2c["method"]


def test_a_trained_pair_separates_on_the_abstention_probe(tmp_path, countdown):
    """The cheapest trained control: 24 SFT steps from the zoo base on ``abstention`` rows
    (half "No solution", lr 3e-3) vs the base itself; the abstain probe must tell them apart."""
    from sparring.train import train

    card = train(
        "sft",
        "zoo:countdown-base",
        countdown,
        {
            "recipe": "abstention",
            "recipe_options": {"share": 0.5},
            "n": 800,
            "batch_size": 32,
            "eval_problems": 4,
            "learning_rate": 3e-3,
        },
        tmp_path / "abstain",
        "24steps",
    )
    cfg = ProbeConfig(n=60, n_resamples=200)
    trained = run_probes(str(card.path), None, countdown, "abstain", config=cfg)["abstain"]
    base = run_probes("zoo:countdown-base", None, countdown, "abstain", config=cfg)["abstain"]
    assert base.metrics["recall"] == 0.0
    assert trained.ci["recall"][0] > base.ci["recall"][1] and trained.ci["f1"][0] > base.metrics["f1"] == 0.0
    na = run_probes(str(card.path), None, countdown, "confidence,infogain", config=cfg)
    assert all(r.config["not_applicable"] == CHAR_NOT_APPLICABLE for r in na.values())
