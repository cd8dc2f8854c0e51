"""The math task: the grading table (pairs seeded from math-verify's own test cases and
reported failures, plus hostile strings), the bounded worker (timeout, crash, restart),
tagged answers only, the dataset options and their errors, the split column and the
leak guard."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from sparring.corpus.common import check_no_heldout
from sparring.tasks import get_task, load_problem
from sparring.tasks.grader import GradingWorker
from sparring.tasks.math.grade import plain_number

# (gold, tagged answer, right?) - the gold first, as math-verify wants it
TABLE = [
    ("\\frac{1}{2}", "0.5", True),
    ("1/2", "\\frac{1}{2}", True),
    ("7/2", "3.5", True),
    ("1.5", "3/2", True),
    ("0", "-0", True),
    ("1000", "1,000", True),
    ("1000", "1000.", True),
    ("\\sqrt{2}", "2^{1/2}", True),
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\frac{3}{4}", "\\frac{6}{8}", True),
    ("\\{1,2,3\\}", "\\{3,2,1\\}", True),
    ("(1,2]", "(1,2]", True),
    ("x+y", "y+x", True),
    ("2x+1", "1+2x", True),
    ("x^2-1", "(x-1)(x+1)", True),
    ("5", "x=5", True),
    ("12", "12 apples", True),
    ("2", "\\boxed{2}", True),
    ("10\\%", "0.1", True),
    ("\\infty", "\\infty", True),
    ("\\frac{\\pi}{2}", "\\pi/2", True),
    ("3", "$3$", True),
    ("-\\frac{1}{3}", "-1/3", True),
    # must be refused
    ("3", "4", False),
    ("-3", "3", False),
    ("1/3", "0.333", False),
    ("1/3", "0.333333", False),  # exact numbers: a rounded decimal is not 1/3
    ("3", "3.0000001", False),
    ("\\frac{3}{4}", "\\frac{3}{5}", False),
    ("x+y", "x-y", False),
    ("\\{1,2\\}", "\\{1,2,3\\}", False),
    ("[1,2)", "(1,2)", False),
    ("(1,2)", "(2,1)", False),
    ("\\infty", "-\\infty", False),
    ("\\pi", "3.14", False),
    ("5", "five", False),
    ("5", "", False),
    ("2", "\\boxed{3}", False),
    ("100", "10", False),
    ("\\sqrt{2}", "1.41", False),
    ("1000", "1", False),
    ("x^2", "x^3", False),
]
# hostile answers (gold "1"): huge powers, deep nesting, very long; none right, none hangs
HOSTILE = [
    "10^{10^{10}}",
    "9^{9^{9}}",
    "9**9**9**9",
    "(" * 140 + "1" + ")" * 140,
    "\\frac{" * 40 + "1" + "}{1}" * 40,
    "2^{2^{2^{2^{2^{2}}}}}",
    "100000!",
    "x" * 290,
    "1" * 290,
    "\\sqrt{" * 60 + "1" + "}" * 60 + "+1",
    "__import__('os').system('echo pwned')",
]
FAST = 1.5  # the tests' grading timeout (seconds)


@pytest.fixture(scope="module")
def task():
    return get_task("math", grade_timeout_s=FAST)


def _p(task, gold):
    return load_problem({"task": "math", "data": {"question": "q?", "answer": gold}})


def test_the_grading_table(task):
    assert len(TABLE) >= 40 and sum(not ok for *_, ok in TABLE) >= 15
    wrong = []
    for gold, answer, ok in TABLE:
        v = task.verify(_p(task, gold), f"Some reasoning.\n<answer>{answer}</answer>")
        if v.correct != ok:
            wrong.append((gold, answer, ok, v.reason))
    assert not wrong


def test_hostile_answers_are_refused_within_the_bound(task):
    p = _p(task, "1")
    for answer in HOSTILE:
        assert not task.verify(p, "<answer>x + 1</answer>").correct  # a (re)started, loaded worker
        t0 = time.monotonic()
        v = task.verify(p, f"<answer>{answer}</answer>")
        took = time.monotonic() - t0
        assert not v.correct and v.score == 0.0, answer[:30]
        assert took < FAST + 1.5, (answer[:30], took)  # the bound (and killing the worker)
    # an answer longer than the tag bound is no answer at all (nothing is graded)
    assert not task.verify(p, "<answer>" + "1+" * 2000 + "1</answer>").well_formed


def test_only_the_tagged_answer_counts(task):
    p = task.problems("test", n=1, seed=0)[0]
    gold = p.data["answer"]
    assert task.verify(p, task.solve(p)).correct
    assert task.verify(p, task.gold_completion(p, "chat")).correct
    assert not task.verify(p, f"The answer is {gold}.").correct  # no tag
    assert not task.verify(p, f"I computed {gold}. <answer>{gold}1</answer>").correct
    assert not task.verify(p, f"<answer>{gold}</answer> ... no wait <answer>0.5{gold}</answer>").correct
    assert task.verify(p, f"<answer>0</answer> on second thought <answer>{gold}</answer>").correct


def test_the_worker_survives_timeouts_and_a_crash_mid_item():
    w = GradingWorker(timeout_s=1.0)
    try:
        assert w.call("math", "1/2", "\\frac{1}{2}") == (True, True, "")
        t0 = time.monotonic()
        got = w.call("math", "1", "10^{10^{10}}")  # sympy tries to build the number
        assert not got.ok and "timed out" in got.error and time.monotonic() - t0 < 3.0
        assert w.call("math", "2", "4/2").value is True and w.restarts == 1  # a fresh worker
        w.timeout_s = 60.0
        pid = w.pid()
        killer = threading.Timer(0.5, os.kill, (pid, 9))
        killer.start()
        got = w.call("math", "1", "9^{9^{9}}")  # killed while it works on this item
        killer.join()
        assert not got.ok and "crashed" in got.error
        assert w.call("math", "3", "3.0").value is True and w.pid() != pid
        big = w.call("math", "1", "1" * 70_000)
        assert not big.ok and "input over" in big.error
    finally:
        w.close()


def test_plain_numbers_are_exact_and_bounded():
    assert plain_number("7/2") == plain_number("3.5") == plain_number(" 3.50. ")
    assert plain_number("1/0") is None and plain_number("1e5") is None and plain_number("9" * 31) is None


def test_flaws_are_numeric_perturbations_and_caught(task):
    for p in task.problems("train", n=30, seed=4):
        for kind in task.flaw_kinds():
            text, got_kind, first = task.flaw(p, seed=1, kind=kind)
            assert got_kind == kind and first == 0 and not task.verify(p, text).correct
            if kind == "copy_slip":  # the reasoning stays, only the tag is miscopied
                assert text.split("<answer>")[0] == task.solve(p).split("<answer>")[0]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


ROWS = [
    {"problem": f"What is {i} + {i}?", "result": str(2 * i), "level": "Level 5" if i % 4 == 0 else "Level 1"}
    for i in range(1, 201)
]


def test_a_local_dataset_with_named_columns_and_levels(tmp_path):
    path = _write(tmp_path / "d.jsonl", ROWS)
    t = get_task(
        "math",
        path=path,
        question_field="problem",
        answer_field="result",
        difficulty_field="level",
        ood_difficulty="Level 5",
    )
    ood = t.problems("ood", n=500)
    assert len(ood) == 50 and all(p.difficulty == "Level 5" and t.heldout(p) for p in ood)
    ids = {s: {p.id for p in t.problems(s, n=500)} for s in ("train", "validation", "test")}
    assert sum(map(len, ids.values())) == 150 and ids["train"].isdisjoint(ids["test"] | ids["validation"])
    p = t.problems("test", n=1)[0]
    assert t.verify(p, f"<answer>{p.data['answer']}</answer>").correct
    # parquet and a save_to_disk folder read the same rows
    import datasets

    datasets.Dataset.from_list(ROWS).to_parquet(str(tmp_path / "d.parquet"))
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "disk"))
    for other in (tmp_path / "d.parquet", tmp_path / "disk"):
        t2 = get_task(
            "math",
            path=str(other),
            question_field="problem",
            answer_field="result",
            difficulty_field="level",
            ood_difficulty="Level 5",
        )
        assert {q.id for q in t2.problems("test", n=500)} == ids["test"]


def test_a_split_column_decides_and_the_leak_guard_reads_it(tmp_path):
    rows = [{**r, "part": "test" if i < 20 else "train"} for i, r in enumerate(ROWS)]
    path = _write(tmp_path / "s.jsonl", rows)
    t = get_task("math", path=path, question_field="problem", answer_field="result", split_field="part")
    test = t.problems("test", n=500)
    assert len(test) == 20 and {p.data["question"] for p in test} == {r["problem"] for r in ROWS[:20]}
    blob = json.dumps(test[0].to_dict())
    with pytest.raises(ValueError, match="held out|heldout|test"):
        check_no_heldout(t, {"problem_id": [test[0].id], "problem": [blob]})
    train = t.problems("train", n=1)[0]
    check_no_heldout(t, {"problem_id": [train.id], "problem": [json.dumps(train.to_dict())]})


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: _write(d / "a.jsonl", [{"question": "q", "result": "1"}]), "answer_field: column 'answer'"),
        (lambda d: _write(d / "b.jsonl", [{"question": "q", "answer": ""}]), "row 0: 'answer' is empty"),
        (lambda d: str(d / "missing.jsonl"), "does not exist"),
        (lambda d: (d / "c.jsonl").write_bytes(b"\xff\xfe{not json") and str(d / "c.jsonl"), "cannot read"),
        (lambda d: (d / "e.parquet").write_text("not parquet") and str(d / "e.parquet"), "cannot read"),
        (lambda d: (d / "f.csv").write_text("q,a") and str(d / "f.csv"), "not a .jsonl"),
    ],
)
def test_bad_datasets_are_one_clear_error(tmp_path, make, match):
    with pytest.raises(ValueError, match=match):
        get_task("math", path=make(tmp_path))
