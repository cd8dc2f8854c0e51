"""Registry-wide task tests: every task's gold verifies, every planted flaw is caught (at
its true first error where the task has steps), splits are deterministic and disjoint,
capabilities are declared and enforced, bad config is refused."""

from __future__ import annotations

import json

import pytest

from sparring.tasks import ABSTAIN_TEXT, CAPABILITIES, Task, get_task, list_tasks, load_problem

TASKS = list_tasks()


def _splits(task):
    return task.split_names()


def test_three_tasks_with_declared_capabilities():
    assert {"countdown", "arith", "linear"} <= set(TASKS)
    for name in TASKS:
        task = get_task(name)
        assert set(task.capabilities) <= set(CAPABILITIES)
        assert list(task.levels)[0] == "id" and all(task.levels.values())
    assert not get_task("linear").has("steps") and get_task("countdown").has("search")


@pytest.mark.parametrize("name", TASKS)
def test_gold_verifies_on_every_split(name):
    task = get_task(name)
    for split in _splits(task):
        for p in task.problems(split, n=100, seed=3):
            v = task.verify(p, task.solve(p))
            assert v.correct and v.answer_correct and v.first_error is None, (split, p, v)
            assert v.well_formed
            assert v.steps_valid == task.has("steps"), (p, v)


@pytest.mark.parametrize("name", TASKS)
def test_every_alternative_solution_verifies(name):
    task = get_task(name)
    for p in task.problems("train", n=60, seed=1):
        sols = task.solutions(p, limit=20)
        assert sols and sols[0] == task.solve(p)
        for s in sols:
            assert task.verify(p, s).correct, (p, s)


@pytest.mark.parametrize("name", [t for t in TASKS if get_task(t).has("flaws")])
def test_every_flaw_is_caught(name):
    """Every planted flaw fails the verifier; with steps, at its true first error."""
    task = get_task(name)
    steps = task.has("steps")
    seen = set()
    for p in task.problems("train", n=200, seed=2):
        for s in range(3):
            text, kind, first = task.flaw(p, seed=s)
            assert kind in task.flaw_kinds()
            seen.add(kind)
            v = task.verify(p, text)
            assert not v.correct, (p, kind, text)
            if steps:
                assert v.first_error == first, (p.data, kind, text, first, v.first_error, v.reason)
            else:
                assert first == 0 and v.steps == [] and v.answer != task.gold_answer(p)
    assert seen == set(task.flaw_kinds())


@pytest.mark.parametrize("name", [t for t in TASKS if get_task(t).has("flaws")])
def test_each_flaw_kind_on_request(name):
    task = get_task(name, n_numbers=4) if name == "countdown" else get_task(name)
    for kind in task.flaw_kinds():
        for p in task.problems("train", n=40, seed=5):
            flaw = task.flaw(p, seed=0, kind=kind)
            assert flaw.kind == kind
            v = task.verify(p, flaw.text)
            assert not v.correct
            if task.has("steps"):
                assert v.first_error == flaw.first_error
    with pytest.raises(ValueError, match="kind"):
        task.flaw(task.problems("train", n=1)[0], kind="no_such_kind")


@pytest.mark.parametrize("name", [t for t in TASKS if get_task(t).has("wrong_answers")])
def test_plausible_wrong_answers_are_wrong(name):
    task = get_task(name)
    for p in task.problems("test", n=60, seed=0):
        w = task.plausible_wrong_answer(p, seed=1)
        assert w and w != task.gold_answer(p)
        if task.has("steps"):  # a step task's wrong answer is a whole (flawed) solution
            assert not task.verify(p, w.replace(", ", "\n")).correct


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_same_problems_and_disjoint_partitions(name):
    task = get_task(name)
    a = task.problems("train", n=200, seed=7)
    b = get_task(name).problems("train", n=200, seed=7)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    assert [p.id for p in task.problems("train", n=200, seed=8)] != [p.id for p in a]
    ids = {
        split: {p.id for p in task.problems(split, n=n, seed=0)}
        for split, n in (("train", 2000), ("validation", 100), ("test", 200))
    }
    assert ids["train"].isdisjoint(ids["test"]) and ids["train"].isdisjoint(ids["validation"])
    assert ids["validation"].isdisjoint(ids["test"])
    for split in _splits(task)[1:]:
        assert all(task.heldout(p) for p in task.problems(split, n=50, seed=0))
    assert {task.partition(p) for p in task.problems("validation", n=20)} == {"validation"}


@pytest.mark.parametrize("name", [t for t in TASKS if get_task(t).has("unsolvable")])
def test_unsolvable_instances_want_abstention(name):
    task = get_task(name, unsolvable_fraction=0.5)
    ps = task.problems("test", n=200, seed=0)
    unsolvable = [p for p in ps if not p.solvable]
    assert 50 < len(unsolvable) < 150
    for p in ps:
        v = task.verify(p, ABSTAIN_TEXT)
        assert v.abstained and v.correct == (not p.solvable)
        assert task.verify(p, task.solve(p)).abstained == (not p.solvable)


@pytest.mark.parametrize("name", TASKS)
def test_templates_and_problem_json_round_trip(name):
    task = get_task(name)
    p = task.problems("test", n=1, seed=0)[0]
    prompts = {task.prompt(p, t) for t in range(len(task.templates))}
    assert len(task.templates) >= 4 and len(prompts) == len(task.templates)
    q = load_problem(json.loads(json.dumps(p.to_dict())))
    assert q.id == p.id and task.verify(q, task.solve(p)).correct
    with pytest.raises(ValueError, match="template"):
        task.prompt(p, 99)
    with pytest.raises(ValueError, match="style"):
        task.prompt(p, 0, style="no-such-style")


def test_a_declared_capability_needs_its_method():
    from sparring.tasks import Countdown, register

    class Boasting(Countdown):  # claims search traces but inherits none from Task
        name = "boasting"
        search_trace = Task.search_trace

    with pytest.raises(ValueError, match="declares 'search' but does not implement search_trace"):
        register(Boasting)
    assert "boasting" not in list_tasks()


@pytest.mark.parametrize("name", TASKS)
def test_missing_capability_is_one_clear_error(name):
    task = get_task(name)
    for capability in CAPABILITIES:
        if task.has(capability):
            task.require(capability, by="x")
            continue
        with pytest.raises(ValueError, match=f"by-me needs the '{capability}' capability, which task '{name}'"):
            task.require(capability, by="by-me")


def test_countdown_search_traces_check():
    task = get_task("countdown")
    found = 0
    for p in task.problems("train", n=60, seed=4):
        for strategy in ("dfs", "bfs"):
            for heuristic in ("sum", "mult"):
                for beam in (1, 3, 5):
                    trace, ok = task.search_trace(p, strategy, heuristic, beam)
                    tc = task.check_trace(p, trace)
                    assert tc.well_formed, (tc.reason, trace)
                    assert tc.goal_reached == ok
                    assert task.verify(p, trace).correct == ok
                    found += ok
    assert found > 0


def test_countdown_trace_checker_rejects_tampering():
    task = get_task("countdown")
    p = next(p for p in task.problems("train", n=50, seed=0) if task.search_trace(p)[1])
    trace, _ = task.search_trace(p)
    lines = trace.split("\n")
    explore = next(i for i, ln in enumerate(lines) if ln.startswith("Exploring"))
    a = lines[explore]
    tampered = lines[:explore] + [a.replace("=", "=1", 1)] + lines[explore + 1 :]
    assert not task.verify(p, "\n".join(tampered)).correct
    assert not task.check_trace(p, "\n".join(lines[:-1] + ["1,2 equal: Goal Reached"])).goal_reached
    assert not task.check_trace(p, trace + "\nMoving to Node #0,0").well_formed


@pytest.mark.parametrize(
    "field,value",
    [
        ("n_numbers", 9),
        ("n_numbers", 1),
        ("max_number", 0),
        ("unsolvable_fraction", 2.0),
        ("test_permille", -1),
        ("min_target", 0),
    ],
)
def test_countdown_bad_config_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        get_task("countdown", **{field: value})


def test_unknown_task_and_field():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("sudoku")
    with pytest.raises(ValueError, match="nmbers"):
        get_task("countdown", nmbers=3)
    with pytest.raises(ValueError, match="split"):
        get_task("countdown").problems("valid", n=3)
    with pytest.raises(ValueError, match="validation_permille"):
        get_task("countdown", test_permille=400, validation_permille=200)
    with pytest.raises(ValueError, match="n:"):
        get_task("countdown").problems("test", n=0)


def test_countdown_verifier_details():
    task = get_task("countdown")
    p = load_problem({"task": "countdown", "data": {"numbers": [3, 7, 9], "target": 30}})
    assert task.verify(p, "7*3=21\n21+9=30").correct
    assert task.verify(p, "9+7=16\n16*3=48").first_error == 2  # valid steps, wrong target
    v = task.verify(p, "7*3=21\n21*9=30")  # lands on the target through a wrong step
    assert v.answer_correct and not v.correct and v.first_error == 1
    v = task.verify(p, "7*7=49\n49-9=40")  # 7 used twice
    assert v.first_error == 0 and "not available" in v.steps[0].reason
    assert task.verify(p, "7*3=21").first_error == 1  # 9 left unused
    assert not task.verify(p, ABSTAIN_TEXT).correct
