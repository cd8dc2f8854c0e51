"""Arith: gold verifies on every level, planted flaws are caught at their true first error,
any valid reduction order is accepted, abstention, splits, parsing and hostile input."""

from __future__ import annotations

import random
import time

import pytest

from sparring.tasks import ABSTAIN_TEXT, FLAW_KINDS, Problem, get_task, load_problem
from sparring.tasks.arith import parse, render
from sparring.tasks.arith.tree import gold, label

SPLITS = ("train", "test", "ood-long", "ood-big")


def _p(expr: str) -> Problem:
    return load_problem({"task": "arith", "data": {"expr": expr}})


def _fmt(steps) -> str:
    return "\n".join(f"{a}{op}{b}={r}" for a, op, b, r in steps)


@pytest.mark.parametrize(
    "config", [{}, {"n_ops": 1}, {"n_ops": 6, "ops": "-/", "min_value": 0}, {"unsolvable_fraction": 0.3}]
)
def test_gold_verifies_on_every_level_and_split(config):
    task = get_task("arith", **config)
    for split in SPLITS:
        for p in task.problems(split, n=60 if task.config.n_ops == 1 else 120, seed=11):
            v = task.verify(p, task.solve(p))
            assert v.correct and v.answer_correct and v.first_error is None, (split, p, v)
            if p.solvable:
                assert v.steps_valid and len(v.steps) == task.config.n_ops + (
                    task.config.ood_extra_ops if split == "ood-long" else 0
                )
                assert v.answer == task.gold_answer(p)


def test_canonical_format_and_example():
    task = get_task("arith")
    p = _p("(3+4)*5-6")
    assert task.prompt(p) == "(3+4)*5-6=\n"
    assert task.solve(p) == "3+4=7\n7*5=35\n35-6=29"
    assert task.gold_answer(p) == "29" and p.solvable and p.difficulty == "easy"
    prompts = [task.prompt(p, i) for i in range(len(task.templates))]
    assert len(set(prompts)) == len(prompts) >= 4
    assert all("(3+4)*5-6" in s for s in prompts) and "(3+4)*5-6" in task.question(p)
    assert not task.has("search")


def test_verifier_details():
    task = get_task("arith")
    p = _p("(3+4)*5-6")
    v = task.verify(p, "3+4=8\n8*5=40\n40-6=34")  # later steps follow the claimed 8: one error
    assert v.first_error == 0 and [s.ok for s in v.steps] == [False, True, True]
    assert v.steps[0].reason == "3+4 is 7, not 8" and v.steps[0].expected == "3+4=7"
    v = task.verify(p, "3+4=7\n7*6=42\n42-6=36")
    assert v.first_error == 1 and v.steps[1].reason == "no sub-expression 7*6 to reduce"
    assert v.steps[1].expected == "7*5=35"
    v = task.verify(p, "3+4=7\n7*5=35")  # valid steps, not finished
    assert v.first_error == 2 and not v.correct and "35-6" in v.reason
    v = task.verify(p, "7*5=35\n35-6=29")  # right answer, invalid reasoning
    assert v.answer_correct and not v.correct and v.first_error == 0
    assert task.verify(p, "4+3=7\n7*5=35\n35-6=29").first_error == 0  # operand order matters
    assert task.verify(p, " 3 + 4 = 7 \n\n7*5=35\n35-6=29\n").correct
    v = task.verify(p, "3+4=7\n7*5=35\n35-6=29\n29+0=29")  # nothing left to reduce
    assert v.first_error == 3
    assert task.verify(p, "3+4=7\nso 7*5=35\n35-6=29").well_formed is False
    assert not task.verify(p, ABSTAIN_TEXT).correct
    q = _p("20-5*4/10")
    v = task.verify(q, "5*4=20\n20/10=2\n20-2=18")
    assert v.correct
    v = task.verify(q, "5*4=21\n21/10=2\n20-2=18")  # inexact division after the slip
    assert v.first_error == 0 and v.steps[1].reason == "21/10 is not an exact division"
    v = task.verify(_p("9-8*2"), "8*2=16\n9-16=0")
    assert v.first_error == 1 and "negative" in v.steps[1].reason


def test_any_valid_reduction_order_is_accepted():
    task = get_task("arith")
    p = _p("(3+4)*(5+6)-2*3")
    for text in (
        "3+4=7\n5+6=11\n7*11=77\n2*3=6\n77-6=71",
        "2*3=6\n5+6=11\n3+4=7\n7*11=77\n77-6=71",
        "5+6=11\n3+4=7\n2*3=6\n7*11=77\n77-6=71",
    ):
        assert task.verify(p, text).correct, text
    assert not task.verify(p, "3+4=7\n5+6=11\n77-6=71\n7*11=77\n2*3=6").correct
    # identical sub-expressions: either copy may be reduced first
    q = _p("(3+4)*2+5*(3+4)")
    assert task.verify(q, "3+4=7\n5*7=35\n3+4=7\n7*2=14\n14+35=49").correct
    sols = task.solutions(p)
    assert sols[0] == task.solve(p) and len(sols) == len(set(sols)) == 8
    big = get_task("arith", n_ops=5)
    for r in big.problems("train", n=60, seed=4):
        sols = big.solutions(r, limit=50)
        assert sols[0] == big.solve(r)
        assert all(big.verify(r, s).correct for s in sols)
        # a random valid order from the tree (not from solutions) verifies too
        rng = random.Random(r.id)
        shuffled = sols[rng.randrange(len(sols))]
        assert big.verify(r, shuffled).correct


def test_every_flaw_kind_is_caught_at_its_first_error():
    task = get_task("arith")
    problems = task.problems("train", n=300, seed=2) + task.problems("ood-long", n=60, seed=2)
    seen, infeasible = set(), 0
    for p in problems:
        for s in range(2):
            text, kind, first = task.flaw(p, seed=s)
            seen.add(kind)
            v = task.verify(p, text)
            assert not v.correct and v.first_error == first, (p.data, kind, text, first, v)
        for kind in FLAW_KINDS:
            try:
                flaw = task.flaw(p, seed=7, kind=kind)
            except ValueError:
                infeasible += 1
                continue
            assert flaw.kind == kind
            v = task.verify(p, flaw.text)
            assert not v.correct and v.first_error == flaw.first_error, (p.data, flaw, v.reason)
            if kind == "false_final":
                assert flaw.first_error == len(v.steps) - 1 and not v.answer_correct
            if kind == "arithmetic_slip":
                assert flaw.first_error < len(v.steps) - 1
    assert seen == set(FLAW_KINDS)
    assert infeasible < len(problems) * len(FLAW_KINDS) * 0.01


def test_flaws_on_tiny_values_with_repeated_subexpressions():
    task = get_task("arith", min_value=0, max_value=3, n_ops=4)
    for p in task.problems("train", n=150, seed=3):
        for s in range(3):
            text, kind, first = task.flaw(p, seed=s)
            assert task.verify(p, text).first_error == first, (p.data, kind, text)


def test_reference_simulator_agrees_with_verifier_on_perturbed_chains():
    task = get_task("arith", n_ops=4, max_value=6)
    for p in task.problems("train", n=150, seed=5):
        tree = parse(p.data["expr"])
        steps = gold(tree)[0]
        rng = random.Random(p.id)
        for _ in range(6):
            st = list(steps)
            how = rng.randrange(4)
            if how == 0:
                rng.shuffle(st)
            elif how == 1:
                st.pop(rng.randrange(len(st)))
            elif how == 2:
                i = rng.randrange(len(st))
                a, op, b, r = st[i]
                st[i] = (a, op, b, r + 1)
            else:
                st.insert(rng.randrange(len(st) + 1), rng.choice(st))
            assert task.verify(p, _fmt(st)).first_error == label(tree, st), (p.data, st)


def test_infeasible_flaw_kinds():
    task = get_task("arith", n_ops=1)
    p = task.problems("train", n=1, seed=0)[0]
    for kind in ("dropped_step", "swapped_steps"):
        with pytest.raises(ValueError, match=kind):
            task.flaw(p, kind=kind)
    for s in range(10):
        f = task.flaw(p, seed=s)
        assert f.kind not in ("dropped_step", "swapped_steps") and f.first_error == 0
    with pytest.raises(ValueError, match="kind"):
        task.flaw(p, kind="typo")


def test_unsolvable_problems_want_abstention():
    task = get_task("arith", unsolvable_fraction=0.5)
    ps = task.problems("test", n=200, seed=0)
    unsolvable = [p for p in ps if not p.solvable]
    assert 60 < len(unsolvable) < 140
    for p in ps:
        v = task.verify(p, ABSTAIN_TEXT)
        assert v.abstained and v.correct == (not p.solvable)
    for p in unsolvable:
        assert task.solve(p) == ABSTAIN_TEXT and task.gold_answer(p) == ABSTAIN_TEXT
        assert "/" in p.data["expr"]
        fake = task.plausible_wrong_answer(p)
        assert fake.isdigit()
        v = task.verify(p, f"1+1=2\n2*{fake}={2 * int(fake)}")
        assert not v.correct and not v.answer_correct
        with pytest.raises(ValueError, match="unsolvable"):
            task.flaw(p)
    p = _p("(7+5)/5-1")
    assert not p.solvable and task.verify(p, "No solution.").correct
    v = task.verify(p, "7+5=12\n12/5=2\n2-1=1")
    assert not v.correct and v.first_error == 1 and "not an exact division" in v.reason
    assert not _p("6/(3-3)").solvable and not _p("3-5+9").solvable


def test_same_seed_same_problems_and_train_never_holds_heldout():
    task = get_task("arith")
    a = task.problems("train", n=300, seed=7)
    b = get_task("arith").problems("train", n=300, seed=7)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    assert [p.id for p in task.problems("train", n=300, seed=8)] != [p.id for p in a]
    train = task.problems("train", n=3000, seed=0)
    assert not any(task.heldout(p) for p in train)
    test_ids = {p.id for p in task.problems("test", n=300, seed=0)}
    assert test_ids.isdisjoint(p.id for p in train)
    for split in ("ood-long", "ood-big"):
        ood = task.problems(split, n=100, seed=0)
        assert all(task.heldout(p) for p in ood)
        assert {p.id for p in ood}.isdisjoint(p.id for p in train)
    # an OOD-looking expression labelled "id" is still held out by content
    assert task.heldout(_p("3+4*5+6*7+1"))  # 5 operations, not 3
    assert task.heldout(_p("300+4-5"))  # a leaf above max_value
    stream = task.iter_problems("train", seed=1)
    assert not any(task.heldout(next(stream)) for _ in range(200))


def test_difficulty_rule_and_near_miss_answers():
    assert _p("3+4+5").difficulty == "easy"
    assert _p("3+4*5").difficulty == "medium"  # one look-ahead reduction
    assert _p("50*20-1").difficulty == "medium"  # a 3+ digit intermediate
    assert _p("3*(4+5)*(6+7)").difficulty == "hard"
    task = get_task("arith")
    assert task.plausible_wrong_answer(_p("3+4*5"), seed=0) in {"35", *map(str, range(13, 34))}
    for p in task.problems("train", n=100, seed=6):
        w = task.plausible_wrong_answer(p, seed=1)
        assert w.isdigit() and w != task.gold_answer(p)
        assert w == task.plausible_wrong_answer(p, seed=1)


def test_parse_render_and_check_problem():
    task = get_task("arith")
    for split in SPLITS:
        for p in task.problems(split, n=100, seed=9):
            assert render(parse(p.data["expr"])) == p.data["expr"]
            assert load_problem(p.to_dict()).id == p.id
    assert render(parse("(1-2)-(3-4)")) == "1-2-(3-4)"
    assert render(parse("8/(4/2)")) == "8/(4/2)" and render(parse("(8*4)/2")) == "8*4/2"
    assert render(parse("2*(3+4)")) == "2*(3+4)" and render(parse("((2))+( 3*4 )")) == "2+3*4"
    q = _p(" (3+4) * 5 - 6 ")
    assert q.data == {"expr": "(3+4)*5-6"} and q.id == _p("(3+4)*5-6").id
    bad = [
        "",
        "3+",
        "3++4",
        "(3+4",
        "3+4)",
        "3^4",
        "3+4=7",
        "1e3+1",
        "-3+4",
        "3.5+1",
        "1" * 13 + "+1",
        "(" * 40 + "1+1" + ")" * 40,
        "1+" * 120 + "1",
        "7",
        "__import__('os')",
        "\u0663+\u0664",
        "99999999*99999999*99999999",
    ]
    for expr in bad:
        with pytest.raises(ValueError, match="problem.data.expr"):
            _p(expr)
    for data in ({}, {"expr": 3}, {"expr": None}, []):
        with pytest.raises(ValueError):
            load_problem({"task": "arith", "data": data})


@pytest.mark.parametrize(
    "field,value",
    [
        ("n_ops", 0),
        ("n_ops", 9),
        ("min_value", -1),
        ("max_value", 0),
        ("ops", "+x"),
        ("ops", ""),
        ("ops", "++"),
        ("max_intermediate", 5),
        ("unsolvable_fraction", 1.5),
        ("test_permille", 600),
        ("ood_extra_ops", 9),
        ("ood_value_scale", 0),
        ("n_ops", "3"),
    ],
)
def test_bad_config_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        get_task("arith", **{field: value})
    with pytest.raises(ValueError, match="unsolvable_fraction"):
        get_task("arith", ops="+-*", unsolvable_fraction=0.2)


def test_hostile_strings_score_zero_fast():
    task = get_task("arith")
    p = _p("(3+4)*5-6")
    dup = _p("*".join(["(1+1)"] * 33))
    hostile = [
        "9" * 10_000,
        "(" * 5000 + "1" + ")" * 5000,
        "3+4=7\n" * 100_000,
        "3+4=7\n" * 500,
        "1+1=2\n" * 512,
        "\uff13+\uff14=\uff17",
        "3+4=7\x00",
        "__import__('os').system('x')",
        "eval('3+4')",
        "-3+-4=-7",
        "3+4=7\n7*5=35\n35-6=29" + "\u202e",
        "9" * 12 + "*" + "9" * 12 + "=" + "9" * 12,
        "35-6=29\n" * 3,
        "",
        " \n ",
        None,
        29,
    ]
    for q in (p, dup):
        for text in hostile:
            t0 = time.perf_counter()
            v = task.verify(q, text)
            assert time.perf_counter() - t0 < 0.1, repr(text)[:40]
            assert v.score == 0.0 and not v.correct
    assert task.verify(dup, task.solve(dup)).correct
