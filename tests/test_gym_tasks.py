"""reasoning-gym tasks (``rg:NAME``): resolution, generation, levels, strict scoring in the
bounded worker, rg:countdown by sparring's own verifier, and the errors."""

from __future__ import annotations

import json

import pytest

from sparring.corpus.common import check_no_heldout
from sparring.tasks import get_task, load_problem, task_class

SMALL_COUNTDOWN = dict(min_numbers=3, max_numbers=3, min_target=10, max_target=60, max_value=30)


@pytest.fixture(scope="module")
def chain():
    return get_task("rg:chain_sum", grade_timeout_s=5.0)


def test_names_resolve_to_one_class_each(chain):
    assert task_class("rg:chain_sum") is task_class("rg:chain_sum") is type(chain)
    assert chain.name == "rg:chain_sum" and chain.styles == ("char", "chat")
    assert chain._configs["ood"]["min_terms"] == 7 and chain._configs["ood"]["max_digits"] == 5


def test_gold_on_every_split_and_disjoint_partitions(chain):
    ids = {}
    for split in chain.split_names():
        ps = chain.problems(split, n=30, seed=1)
        ids[split] = {p.id for p in ps}
        for p in ps:
            assert chain.verify(p, chain.gold_completion(p, "chat")).correct
            assert chain.partition(p) == (split if split in ("train", "validation", "test") else "ood")
    assert ids["train"].isdisjoint(ids["test"] | ids["validation"] | ids["ood"])
    test = chain.problems("test", n=1)[0]
    with pytest.raises(ValueError, match="held out|heldout|test"):
        check_no_heldout(chain, {"problem_id": [test.id], "problem": [json.dumps(test.to_dict())]})


def test_problem_json_is_regenerated_not_trusted(chain):
    p = chain.problems("train", n=1, seed=0)[0]
    forged = {**p.to_dict(), "data": {**p.data, "answer": "0", "question": "1 + 1 ="}}
    q = load_problem(forged)
    assert q.id == p.id and q.data == p.data
    ood = chain.problems("ood", n=1)[0]
    assert chain.heldout(load_problem({**ood.to_dict(), "level": "id"}))  # a relabelled OOD item


def test_scoring_is_strict_and_reads_only_the_tag(chain):
    p = chain.problems("test", n=1, seed=0)[0]
    gold = p.data["answer"]
    assert not chain.verify(p, f"The answer is {gold}.").correct  # no tag
    assert not chain.verify(p, f"<answer>I think it is {gold}</answer>").correct  # rg: partial credit
    v = chain.verify(p, f"<answer>{gold}.00</answer>")  # rg's scorer, in the worker: 1.0
    assert v.correct, v.reason
    assert not chain.verify(p, f"<answer>{int(gold) + 1}</answer>").correct


def test_rg_countdown_is_graded_by_sparrings_verifier():
    t = get_task("rg:countdown", **SMALL_COUNTDOWN)
    for p in t.problems("test", n=5, seed=0):
        assert t.verify(p, t.gold_completion(p, "chat")).correct
        nums = t._numbers(p).data["numbers"]
        reuse = f"<answer>{nums[0]}+{nums[0]}+{nums[1]}</answer>"
        assert not t.verify(p, reuse).correct  # a reused number scores 0
        assert not t.verify(p, f"<answer>{p.data['answer']}+0*{nums[0]}</answer>").correct


def test_bad_names_and_config_are_one_clear_error():
    with pytest.raises(ValueError, match=r"unknown reasoning-gym dataset 'no_such'.*sparring tasks"):
        get_task("rg:no_such")
    with pytest.raises(ValueError, match="rg:chain_sum: reasoning-gym refuses the config"):
        get_task("rg:chain_sum", min_terms=0)
    with pytest.raises(ValueError, match=r"rg:chain_sum: unknown config field\(s\) \['seed'\]"):
        get_task("rg:chain_sum", seed=3)
    with pytest.raises(ValueError, match="unknown task 'nope:x'.*rg:NAME"):
        get_task("nope:x")
    with pytest.raises(ValueError, match=r"rg:jugs: its answers .* cannot be given in an <answer> tag"):
        get_task("rg:jugs")  # "pour A->B": an answer the tag cannot hold


def test_enum_and_nested_configs_round_trip():
    t = get_task("rg:word_sorting", transformation="uppercase", size=50)
    p = t.problems("train", n=1)[0]
    assert p.data["config"]["transformation"] == "uppercase" and p.data["config"]["size"] == 50
    assert load_problem(json.loads(json.dumps(p.to_dict()))).id == p.id
    assert t.verify(p, t.solve(p)).correct
