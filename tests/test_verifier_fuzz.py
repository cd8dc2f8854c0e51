"""Hostile completions against every verifier: none raises, none is accepted, each is fast."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.tasks import get_task, list_tasks

HOSTILE = [
    "9" * 10_000,
    "9**9**9",
    "9" * 10_000 + "+1=" + "9" * 10_000,
    "(" * 5000 + "1" + ")" * 5000,
    "\u0661\u0662+\u0663=\u0661\u0665",  # Arabic-Indic digits
    "\uff11+\uff12=\uff13",  # full-width digits
    "7*3=21\x0021+9=30",
    "\x00" * 100,
    "a" * (1 << 20),
    "__import__('os').system('echo pwned')",
    "exec('import os')",
    "1e308*1e308=inf",
    "-5+-5=-10",
    "3+4=7\n" * 100_000,
    "Current State: " + "[" * 10_000,
    "Current State: 30:[3, 7, 9], Operations: []\n" + "Moving to Node #0,0\n" * 1000,
    "No solution" * 1000,
    "",
    " \n \n ",
    "21+9=30\n" * 3,
    "7 * 3 = 21\n21 + 9 = 30 extra",
    "1/0=0",
    "0-0=0",
    "\r\n".join(["7*3=21", "21+9=30"]) + "\u202e",
]


def _mutations(rng: random.Random, gold: str) -> str:
    """Random corruptions of a gold solution: the hard cases sit close to correct text."""
    s = list(gold)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        i = rng.randrange(len(s) + 1)
        if op == 0 and s:
            s.pop(min(i, len(s) - 1))
        elif op == 1:
            s.insert(i, rng.choice("0123456789+-*/=()\n x\u0660\x00"))
        elif op == 2 and s:
            s[min(i, len(s) - 1)] = rng.choice("0123456789")
        elif op == 3:
            s.insert(i, "9" * rng.randint(10, 40))
        else:
            s = s[: max(1, i)]
    return "".join(s)


@pytest.mark.parametrize("name", list_tasks())
def test_ten_thousand_hostile_completions(name):
    task = get_task(name)
    problems = task.problems("test", n=50, seed=0)
    # a task graded in the bounded worker (tasks/grader.py) is bounded by its grading timeout,
    # not by an in-process parser; start its worker before the clock runs
    limit = task.config.grade_timeout_s + 0.5 if task.external_grader else 0.05
    task.verify(problems[0], "<answer>x + 1</answer>")
    rng = random.Random(0)
    n, slowest, accepted = 0, 0.0, 0
    for i in range(10_200):
        p = problems[i % len(problems)]
        if i < len(HOSTILE) * 20:
            text = HOSTILE[i % len(HOSTILE)]
        else:
            text = _mutations(rng, task.solve(p))
        t0 = time.perf_counter()
        v = task.verify(p, text)
        dt = time.perf_counter() - t0
        slowest = max(slowest, dt)
        n += 1
        if i < len(HOSTILE) * 20:
            assert not v.correct, (text[:80], v)
        elif v.correct:
            # a mutation may yield another *valid* solution; then it must really be one
            accepted += 1
            assert task.verify(p, text.replace(" ", "")).correct
    assert n >= 10_000
    assert slowest < limit, f"slowest verification took {slowest * 1000:.1f} ms"
    if task.has("steps"):  # a task without steps judges only the tagged answer
        assert accepted < n * 0.05


@pytest.mark.parametrize("name", list_tasks())
def test_hostile_inputs_are_fast(name):
    task = get_task(name)
    p = task.problems("test", n=1, seed=0)[0]
    for text in HOSTILE:
        t0 = time.perf_counter()
        for _ in range(20):
            v = task.verify(p, text)
        per_call = (time.perf_counter() - t0) / 20
        assert not v.correct and v.score == 0.0
        # a 1 MB string or a huge repetition is rejected by the bounds check at once
        if len(text) > 16_384:
            assert per_call < 1e-3, (text[:30], per_call)


@pytest.mark.parametrize("name", list_tasks())
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=400))
def test_arbitrary_text_never_raises(name, text):
    task = get_task(name)
    p = task.problems("test", n=1, seed=0)[0]
    v = task.verify(p, text)
    assert v.score in (0.0, 1.0)
    if v.correct:
        assert task.verify(p, text).correct
