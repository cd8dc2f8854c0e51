"""Linear: gold verifies on every split, planted flaws and near misses are wrong, the answer
tag parser is strict and never raises, abstention, splits, problem checking and config."""

from __future__ import annotations

import json
import random

import pytest

from sparring.tasks import ABSTAIN_TEXT, get_task, list_tasks, load_problem
from sparring.tasks.linear import Linear, LinearConfig, render

SPLITS = ("train", "validation", "test", "ood-both", "ood-big")
KINDS = ("sign_error", "division_slip", "arithmetic_slip", "false_final")


def _p(a, b, d, c=0, level="id"):
    return load_problem({"task": "linear", "level": level, "data": {"a": a, "b": b, "c": c, "d": d}})


def _ascii(s: str) -> bool:
    return all(ch == "\n" or 32 <= ord(ch) < 127 for ch in s)


def test_registered_with_its_contract():
    task = get_task("linear")
    assert "linear" in list_tasks() and isinstance(task, Linear)
    assert isinstance(task.config, LinearConfig)
    assert task.config_dict() == {
        "max_coef": 9,
        "max_value": 20,
        "negative": True,
        "unsolvable_fraction": 0.0,
        "test_permille": 100,
        "validation_permille": 50,
        "ood_value_scale": 5,
    }
    assert list(task.levels) == ["id", "ood-both", "ood-big"]
    assert task.split_names() == SPLITS
    assert task.capabilities == {"flaws", "unsolvable", "wrong_answers"}
    assert not task.has("steps") and not task.has("search")
    assert task.flaw_kinds() == KINDS


@pytest.mark.parametrize(
    "config",
    [{}, {"negative": False}, {"unsolvable_fraction": 0.3}, {"max_coef": 3, "max_value": 6, "negative": False}],
)
def test_gold_verifies_on_every_split(config):
    task = get_task("linear", **config)
    for split in SPLITS:
        n = 150 if task.config.max_value >= 10 else 10 if split in ("validation", "test") else 100
        for p in task.problems(split, n=n, seed=11):
            gold = task.solve(p)
            v = task.verify(p, gold)
            assert v.correct and v.answer_correct and v.first_error is None, (split, p, gold, v)
            assert v.well_formed and v.steps == []
            assert gold.endswith(f"<answer>{task.gold_answer(p)}</answer>")
            assert _ascii(gold) and _ascii(task.prompt(p))
            assert p.level == ("id" if split in ("train", "validation", "test") else split)
            if p.solvable:
                assert v.answer == task.gold_answer(p) and not v.abstained
                x, d = int(task.gold_answer(p)), p.data
                assert d["a"] * x + d["b"] == d["c"] * x + d["d"]
            else:
                assert v.abstained and task.gold_answer(p) == ABSTAIN_TEXT
            if not task.config.negative:
                assert "-" not in task.prompt(p), p
                assert not p.solvable or int(task.gold_answer(p)) >= 0 or split == "ood-both"


def test_levels_have_their_shapes():
    task = get_task("linear")
    cfg = task.config
    for p in task.problems("train", n=300, seed=0):
        d = p.data
        assert d["c"] == 0 and 1 <= abs(d["a"]) <= cfg.max_coef and abs(d["b"]) <= cfg.max_value
        assert abs(int(task.gold_answer(p))) <= cfg.max_value
    both = task.problems("ood-both", n=200, seed=0)
    assert all(p.data["c"] != 0 and p.data["a"] != p.data["c"] for p in both)
    assert all(task.prompt(p).count("x") == 3 for p in both)  # "Solve for x: ..x.. = ..x.."
    big = task.problems("ood-big", n=200, seed=0)
    assert all(p.data["c"] == 0 for p in big)
    assert all(
        abs(p.data["a"]) > cfg.max_coef
        or abs(p.data["b"]) > cfg.max_value
        or abs(int(task.gold_answer(p))) > cfg.max_value
        for p in big
    )
    for p in both + big:  # OOD by content, whatever the label says
        assert task._ood_content(p) and task.partition(p) == "ood"
        relabelled = load_problem({**p.to_dict(), "level": "id"})
        assert task.partition(relabelled) == "ood" and task.heldout(relabelled)
    assert not any(p.data["a"] == 1 and p.data["b"] == 0 for p in task.problems("train", n=2000, seed=2))
    diffs = {p.difficulty for p in task.problems("train", n=300, seed=1)}
    assert diffs == {"easy", "medium", "hard"}


def test_canonical_format_and_examples():
    task = get_task("linear")
    p = _p(3, -7, 14)
    assert p.data == {"a": 3, "b": -7, "c": 0, "d": 14} and p.solvable and p.difficulty == "medium"
    assert task.prompt(p) == "Solve for x: 3*x - 7 = 14\n"
    assert task.solve(p) == "3*x - 7 = 14\n3*x = 14 + 7 = 21\nx = 21 / 3 = 7\n<answer>7</answer>"
    assert task.gold_answer(p) == "7"
    prompts = [task.prompt(p, i) for i in range(len(task.templates))]
    assert len(set(prompts)) == len(prompts) >= 4 and all(s.endswith("\n") for s in prompts)
    assert all("3*x - 7 = 14" in s for s in prompts)
    q = task.question(p)
    assert "3*x - 7 = 14" in q and "<answer>" in q and ABSTAIN_TEXT in q
    assert render(1, 0, 0, 5) == "x = 5" and render(-1, 5, 2, -1) == "-x + 5 = 2*x - 1"
    assert task.solve(_p(1, 0, 5)) == "x = 5\n<answer>5</answer>"
    assert task.solve(_p(-1, 3, 1)) == "-x + 3 = 1\n-x = 1 - 3 = -2\nx = -2 / -1 = 2\n<answer>2</answer>"
    assert task.solve(_p(5, 3, 12, c=2, level="ood-both")) == (
        "5*x + 3 = 2*x + 12\n5*x - 2*x = 12 - 3\n3*x = 9\nx = 9 / 3 = 3\n<answer>3</answer>"
    )
    assert (
        task.solve(_p(4, 0, 6, c=-1)) == "4*x = -x + 6\n4*x + x = 6\n5*x = 6\n"
        "6 is not a multiple of 5, so no integer x\n<answer>No solution</answer>"
    )
    u = _p(3, -7, 15)
    assert not u.solvable and task.solve(u) == (
        "3*x - 7 = 15\n3*x = 15 + 7 = 22\n22 is not a multiple of 3, so no integer x\n<answer>No solution</answer>"
    )
    w = _p(3, 5, 9, c=3)
    assert not w.solvable and task.solve(w) == (
        "3*x + 5 = 3*x + 9\n3*x - 3*x = 9 - 5\n0*x = 4\n0*x is 0, never 4, so no x\n<answer>No solution</answer>"
    )
    assert _p(2, 1, 41).difficulty == "medium" and _p(2, 1, 5).difficulty == "easy"
    assert _p(-2, 1, 41).difficulty == "hard" and _p(2, 1, -5).difficulty == "medium"


def test_verifier_details():
    task = get_task("linear")
    p = _p(3, -7, 14)
    for ok in (
        "<answer>7</answer>",
        "<answer> x = 7 </answer>",
        "<answer>x=7</answer>",
        "<answer>+7</answer>",
        "<answer>7.</answer>",
        "<answer>007</answer>",
        "I guess <answer>3</answer> no wait\n<answer>7</answer>",
        "x = 7\n<answer>\n7\n</answer>\n",
    ):
        v = task.verify(p, ok)
        assert v.correct and v.answer_correct and v.answer == "7" and v.first_error is None, ok
    v = task.verify(p, "3*x = 14 - 7 = 7\n<answer>-7</answer>")
    assert not v.correct and not v.answer_correct and v.answer == "-7" and v.first_error == 0
    assert v.well_formed and "-28 on the left, 14 on the right" in v.reason and v.steps == []
    assert not task.verify(p, "<answer>7</answer> <answer>8</answer>").correct  # last tag wins
    for bad in (
        "7",
        "x = 7",
        "<answer>7",
        "<answer>seven</answer>",
        "<answer>7 or 8</answer>",
        "<answer>" + "7" * 13 + "</answer>",
        "<answer>\u0667</answer>",
        "<answer>\uff17</answer>",
        "<ANSWER>7</ANSWER>",
        "<answer>" + " " * 40 + "7</answer>",
        "<answer>7e0</answer>",
        "<answer>x = 7 = 7</answer>",
        "<answer>--7</answer>",
        "<answer>\u00a07</answer>",
    ):
        v = task.verify(p, bad)
        assert not v.correct and not v.well_formed and v.first_error == 0, bad
    v = task.verify(p, "<answer>" + "9" * 12 + "</answer>")
    assert not v.correct and v.well_formed and v.answer == "9" * 12
    for abstain in (ABSTAIN_TEXT, "<answer>No solution</answer>", "<answer>no solution.</answer>"):
        v = task.verify(p, abstain)
        assert v.abstained and not v.correct and v.first_error == 0
    u = _p(3, -7, 15)
    for abstain in (ABSTAIN_TEXT, "<answer>No solution</answer>", "so\n<answer>NO SOLUTION</answer>"):
        v = task.verify(u, abstain)
        assert v.abstained and v.correct and v.answer == ABSTAIN_TEXT
    v = task.verify(u, "<answer>7</answer>")  # the truncated quotient is still wrong
    assert not v.correct and v.answer == "7" and "abstain" in v.reason


def test_every_flaw_kind_verifies_wrong():
    task = get_task("linear")
    planted = {k: 0 for k in KINDS}
    for split in SPLITS:
        for p in task.problems(split, n=60, seed=2):
            gold = task.gold_answer(p)
            for kind in KINDS:
                for s in range(3):
                    try:
                        f = task.flaw(p, seed=s, kind=kind)
                    except ValueError as e:
                        assert kind != "false_final" and "cannot be planted" in str(e)
                        break
                    assert f.kind == kind and f.first_error == 0 and f.text != task.solve(p)
                    assert f.text.split("\n")[0] == task.solve(p).split("\n")[0] and _ascii(f.text)
                    v = task.verify(p, f.text)
                    assert not v.correct and not v.answer_correct and v.well_formed, (p.data, f)
                    assert v.answer is not None and v.answer != gold and v.first_error == 0
                    assert f == task.flaw(p, seed=s, kind=kind)  # deterministic
                    planted[kind] += 1
    assert all(n >= 300 for n in planted.values()), planted  # every kind is feasible almost always
    seen = {task.flaw(p, seed=s).kind for p in task.problems("train", n=40, seed=3) for s in range(3)}
    assert seen == set(KINDS)


def test_flaw_errors_and_variety():
    task = get_task("linear", unsolvable_fraction=0.5)
    p = _p(3, -7, 14)
    texts = {task.flaw(p, seed=s, kind="sign_error").text for s in range(20)}
    assert "3*x - 7 = 14\n3*x = 14 - 7 = 7\n<answer>-7</answer>" not in texts  # 7/3 is no integer
    assert "3*x - 7 = 14\n3*x = 14 + 7 = 21\nx = 21 / 3 = -7\n<answer>-7</answer>" in texts
    slips = {task.flaw(p, seed=s, kind="division_slip").text for s in range(20)}
    assert "3*x - 7 = 14\n3*x = 14 + 7 = 21\nx = 21 * 3 = 63\n<answer>63</answer>" in slips
    assert "3*x - 7 = 14\n3*x = 14 + 7 = 21\n<answer>21</answer>" in slips
    assert "3*x - 7 = 14\n3*x = 14 + 7 = 21\nx = 21 - 3 = 18\n<answer>18</answer>" in slips
    assert "3*x - 7 = 14\n3*x = 14 + 7 = 21\nx = 3 / 21 = 0\n<answer>0</answer>" in slips
    assert task.flaw(_p(1, 5, 12), kind="division_slip").text == "x + 5 = 12\nx = 12 / 5 = 2\n<answer>2</answer>"
    assert task.flaw(_p(-1, 3, 1), seed=1, kind="division_slip").text in {
        "-x + 3 = 1\n-x = 1 - 3 = -2\n<answer>-2</answer>",
        "-x + 3 = 1\n-x = 1 - 3 = -2\nx = -2 + 1 = -1\n<answer>-1</answer>",
        "-x + 3 = 1\n-x = 1 - 3 = -2\nx = -1 / -2 = 0\n<answer>0</answer>",
    }
    assert len({task.flaw(p, seed=s).text for s in range(30)}) >= 8
    with pytest.raises(ValueError, match="sign_error"):
        task.flaw(p, kind="typo")
    with pytest.raises(ValueError, match="unsolvable"):
        task.flaw(_p(3, -7, 15))
    trivial = _p(1, 0, 5)  # "x = 5": nothing to move, nothing to divide
    for kind in ("sign_error", "division_slip", "arithmetic_slip"):
        with pytest.raises(ValueError, match="cannot be planted"):
            task.flaw(trivial, kind=kind)
    assert all(task.flaw(trivial, seed=s).kind == "false_final" for s in range(5))


def test_plausible_wrong_answers_differ_from_gold():
    task = get_task("linear", unsolvable_fraction=0.3)
    for split in SPLITS:
        for p in task.problems(split, n=80, seed=4):
            for s in range(3):
                w = task.plausible_wrong_answer(p, seed=s)
                assert w == task.plausible_wrong_answer(p, seed=s) and w != task.gold_answer(p)
                assert str(int(w)) == w
                v = task.verify(p, f"<answer>{w}</answer>")
                assert not v.correct and v.answer == w
    p = _p(3, -7, 14)
    assert {task.plausible_wrong_answer(p, s) for s in range(40)} == {"-7", "21", "6", "8"}
    assert task.plausible_wrong_answer(_p(3, -7, 15)) == "7"
    assert task.plausible_wrong_answer(_p(3, 5, 9, c=3)) == "4"


def test_unsolvable_items_want_abstention():
    task = get_task("linear", unsolvable_fraction=0.5)
    for split in ("test", "ood-both", "ood-big"):
        ps = task.problems(split, n=200, seed=0)
        unsolvable = [p for p in ps if not p.solvable]
        assert 60 < len(unsolvable) < 140, split
        for p in ps:
            v = task.verify(p, ABSTAIN_TEXT)
            assert v.abstained and v.correct == (not p.solvable)
            assert task.verify(p, "<answer>No solution</answer>").correct == (not p.solvable)
            assert task.solve(p).endswith("<answer>No solution</answer>") == (not p.solvable)
    both = [p for p in task.problems("ood-both", n=200, seed=1) if not p.solvable]
    assert any(p.data["a"] == p.data["c"] for p in both)
    assert any(p.data["a"] != p.data["c"] for p in both)
    assert all(p.solvable for p in get_task("linear").problems("test", n=200, seed=0))


HOSTILE = [
    None,
    7,
    7.0,
    b"<answer>7</answer>",
    ["<answer>7</answer>"],
    {"answer": 7},
    "",
    "\x00<answer>7</answer>",
    "<answer>7\x00</answer>",
    "9" * 100_000,
    "<answer>" * 5000,
    "<answer>" + "9" * 10_000 + "</answer>",
    "</answer>" * 3000 + "<answer>",
    "<answer><answer>987654</answer></answer>",
    "<answer>__import__('os')</answer>",
    "<answer>eval('7')</answer>",
    "<answer>7**1</answer>",
    "<answer>21/3</answer>",
    "<answer>1e308</answer>",
    "<answer>inf</answer>",
    "<answer>NaN</answer>",
    "<answer>-</answer>",
    "<answer></answer>",
    "<answer>x</answer>",
    "<answer>\u202e987654</answer>",
    "<answer>\u0668</answer>",
    "\u00a0<answer>\u00a07\u00a0</answer>",
    "No solution" * 100,
    "<answer>No solution No</answer>",
    "x = 987654" * 3000,
    "<answer>987654</answer>" * 2000,
]


def test_hostile_and_random_completions_never_raise():
    task = get_task("linear", unsolvable_fraction=0.3)
    problems = task.problems("test", n=20, seed=0) + task.problems("ood-both", n=10, seed=0)
    rng = random.Random(0)
    alphabet = "0123456789-+=x <>/answer\n\x00\u0660\uff10No solution."
    n = 0
    for i in range(600):
        p = problems[i % len(problems)]
        if i < len(HOSTILE):
            text = HOSTILE[i]
        elif i % 2:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        else:  # near the gold: the hard cases
            s = list(task.solve(p))
            for _ in range(rng.randint(1, 3)):
                s.insert(rng.randrange(len(s) + 1), rng.choice(alphabet))
            text = "".join(s)
        v = task.verify(p, text)
        n += 1
        assert v.score in (0.0, 1.0) and v.steps == []
        assert v.correct == (v.first_error is None)
        if v.correct:  # only a text whose last tag holds the right answer is accepted
            assert isinstance(text, str) and "\x00" not in text
            assert task.verify(p, f"<answer>{v.answer}</answer>").correct
            assert v.answer == task.gold_answer(p)
        if i < len(HOSTILE):
            assert not v.correct, text if not isinstance(text, str) else text[:60]
    assert n == 600


def test_problem_json_round_trip_and_bad_data():
    task = get_task("linear", unsolvable_fraction=0.3)
    for split in SPLITS:
        for p in task.problems(split, n=30, seed=5):
            q = load_problem(json.loads(json.dumps(p.to_dict())))
            assert q == p
            assert (
                load_problem({**p.to_dict(), "id": "forged", "solvable": not p.solvable, "difficulty": "?"}) == p
            )  # recomputed, not trusted
    assert _p(3, -7, 14) == load_problem({"task": "linear", "data": {"a": 3, "b": -7, "d": 14}})
    good = {"a": 3, "b": -7, "c": 0, "d": 14}
    for data, field in [
        ({**good, "a": 0}, "problem.data.a"),
        ({**good, "a": "3"}, "problem.data.a"),
        ({**good, "b": True}, "problem.data.b"),
        ({**good, "c": 1.5}, "problem.data.c"),
        ({"a": 3, "b": 1}, "problem.data.d"),
        ({**good, "d": 10**10}, "problem.data.d"),
        ({**good, "e": 1}, "unknown field"),
        ({"a": 2, "b": 1, "c": 2, "d": 1}, "every x"),
        ([3, -7, 14], "problem.data"),
        (None, "problem.data"),
    ]:
        with pytest.raises(ValueError, match=field):
            load_problem({"task": "linear", "data": data})
    with pytest.raises(ValueError, match="problem.level"):
        load_problem({"task": "linear", "data": good, "level": "ood-long"})


@pytest.mark.parametrize(
    "field,value",
    [
        ("max_coef", 0),
        ("max_coef", 100),
        ("max_coef", "9"),
        ("max_value", 0),
        ("max_value", 2.5),
        ("negative", 1),
        ("unsolvable_fraction", 1.5),
        ("unsolvable_fraction", -0.1),
        ("test_permille", 600),
        ("validation_permille", 450),
        ("validation_permille", True),
        ("ood_value_scale", 1),
        ("ood_value_scale", 50),
    ],
)
def test_bad_config_names_field(field, value):
    with pytest.raises(ValueError, match=rf"linear\.{field}: .*\(got {value!r}\)"):
        get_task("linear", **{field: value})


def test_config_combinations_refused():
    with pytest.raises(ValueError, match="linear.unsolvable_fraction"):
        get_task("linear", max_coef=1, unsolvable_fraction=0.2)
    with pytest.raises(ValueError, match="linear.max_coef"):
        get_task("linear", max_coef=1, negative=False)
    with pytest.raises(ValueError, match="unknown config"):
        get_task("linear", max_coeff=3)
    assert get_task("linear", max_coef=1).problems("ood-both", n=5, seed=0)


def test_partitions_disjoint_and_deterministic():
    task = get_task("linear")
    ids = {
        s: [p.id for p in task.problems(s, n=n, seed=0)]
        for s, n in (("train", 2000), ("validation", 200), ("test", 300))
    }
    assert all(len(set(v)) == len(v) for v in ids.values())
    assert set(ids["train"]).isdisjoint(ids["validation"])
    assert set(ids["train"]).isdisjoint(ids["test"]) and set(ids["validation"]).isdisjoint(ids["test"])
    for s in ("train", "validation", "test"):
        assert all(task.partition(p) == s for p in task.problems(s, n=100, seed=1))
    for s in ("validation", "test", "ood-both", "ood-big"):
        assert all(task.heldout(p) for p in task.problems(s, n=100, seed=1))
    assert not any(task.heldout(p) for p in task.problems("train", n=100, seed=1))
    a = task.problems("train", n=200, seed=7)
    b = get_task("linear").problems("train", n=200, seed=7)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    assert [p.id for p in task.problems("train", n=200, seed=8)] != [p.id for p in a]
    assert [get_task("linear").flaw(p, seed=3) for p in b[:50]] == [task.flaw(p, seed=3) for p in a[:50]]
    # the partition is a function of content: another config puts the same equation in the same split
    other = get_task("linear", max_coef=5)
    for p in other.problems("test", n=50, seed=0):
        assert task.partition(p) == "test"
    stream = task.iter_problems("validation", seed=0)
    assert all(task.partition(next(stream)) == "validation" for _ in range(50))
