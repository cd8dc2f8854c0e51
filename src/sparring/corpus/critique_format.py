"""The CFT critique format (METHODS.md 1.2): the programmatic teacher and a safe parser.

Prompt (published, kept verbatim so data interoperates)::

    Please critique whether the following solution to the question is correct.\\n\\n
    Question:\\n{x}\\n\\nSolution:\\n{y}\\n

Target::

    Critique:
    Step 1: 7*3=21
    Correctness: correct
    Explanation: This step is valid.
    Step 2: 21+9=31
    Correctness: wrong
    Explanation: 21+9 is 30, not 31. The correct step is 21+9=30.
    Conclusion: wrong [END]

One block per step, stopping at the first wrong step (the step-level format). Our choice
for the conclusion itself: when every step is valid the critique adds one more block,
``Final: {answer}`` with ``Correctness``/``Explanation``, judging the end result. It is
``correct`` for a right solution and ``wrong`` when the steps are fine but the ending is
not (numbers left unused, target not reached, an abstention on a solvable problem: the
verifier's ``first_error == len(steps)``). After a wrong step no Final block is written.

Explanations come from the task verifier's ``Verdict``: ``StepCheck.reason`` and, where
known, ``StepCheck.expected``; right steps get a short confirmation. ``PHRASINGS`` holds
several wordings of the same content (one-shot CFT varies them like several teachers).
All text is printable ASCII (the char tokenizer's vocabulary).

One wording (``PHRASINGS[4]``, never a default) changes the layout: ``Explanation`` comes
before ``Correctness`` and a valid step's explanation shows its computation (``7*3 is
21.``; a wrong one already reads ``21+9 is 30, not 31.``), so the model computes before it
judges. The parser reads both layouts.
"""

from __future__ import annotations

import random
import re
from typing import Any

from ..tasks.base import MAX_COMPLETION_CHARS, MAX_LINES, Problem, Task, Verdict

CRITIQUE_INSTRUCTION = "Please critique whether the following solution to the question is correct."
END = "[END]"

PHRASINGS: tuple[dict[str, str], ...] = (
    {
        "ok": "This step is valid.",
        "wrong": "{reason}.",
        "expected": " The correct step is {expected}.",
        "final_ok": "{answer} is the required answer.",
        "final_wrong": "{reason}.",
    },
    {
        "ok": "Checked: this step follows from what is available.",
        "wrong": "This step is wrong: {reason}.",
        "expected": " It should read {expected}.",
        "final_ok": "The final result {answer} answers the question.",
        "final_wrong": "The ending fails: {reason}.",
    },
    {
        "ok": "Correct, nothing wrong here.",
        "wrong": "Error: {reason}.",
        "expected": " Expected {expected} instead.",
        "final_ok": "Yes, {answer} is right.",
        "final_wrong": "Wrong ending: {reason}.",
    },
    {
        "ok": "Verified; the step holds.",
        "wrong": "Incorrect because {reason}.",
        "expected": " A right step would be {expected}.",
        "final_ok": "Reaching {answer} is exactly what was asked.",
        "final_wrong": "Incorrect result: {reason}.",
    },
    # work first (not the published layout): each block shows the step's computation before
    # its Correctness line, so a critic decides after computing instead of before
    {
        "ok": "{lhs} is {rhs}.",
        "wrong": "{reason}.",
        "expected": " The correct step is {expected}.",
        "final_ok": "{answer} is the required answer.",
        "final_wrong": "{reason}.",
        "work_first": "yes",
    },
)
# the wordings in the published layout (Correctness before Explanation)
PUBLISHED_PHRASINGS = tuple(i for i, ph in enumerate(PHRASINGS) if not ph.get("work_first"))
# what an imperfect teacher says when it wrongly flags a valid step / a right ending
FAKE_STEP_REASON = "this does not follow from the previous steps"
FAKE_FINAL_REASON = "this is not the required answer"

Block = tuple[str, bool, str]  # (header line, correct?, explanation)


def critique_prompt(question: str, solution: str) -> str:
    """The published CFT prompt around a question and a candidate solution."""
    return f"{CRITIQUE_INSTRUCTION}\n\nQuestion:\n{question}\n\nSolution:\n{solution}\n"


def _one_line(s: Any, limit: int = 300) -> str:
    s = " ".join(str(s).split())
    return s[:limit].rstrip(".")


def _ok_text(ph: dict[str, str], step: str) -> str:
    """A valid step's explanation; the work-first wording restates ``lhs=rhs`` as ``lhs is rhs``."""
    if "{lhs}" not in ph["ok"]:
        return ph["ok"]
    if step.count("=") != 1:
        return "This step is valid."
    lhs, rhs = (x.strip() for x in step.split("="))
    return ph["ok"].format(lhs=lhs, rhs=rhs)


def _wrong_text(ph: dict[str, str], reason: str, expected: str | None) -> str:
    text = ph["wrong"].format(reason=_one_line(reason) or "this step is not valid")
    if expected:
        text += ph["expected"].format(expected=_one_line(expected, 80))
    return text


def true_first_error(verdict: Verdict) -> int | None:
    """The first-error position the critique reports: None when correct, else 0..len(steps)."""
    if verdict.correct:
        return None
    fe = verdict.first_error
    return len(verdict.steps) if fe is None or not 0 <= fe <= len(verdict.steps) else fe


def _final_header(task: Task, problem: Problem, verdict: Verdict) -> tuple[str, str]:
    answer = (
        verdict.answer if verdict.answer is not None else (task.gold_answer(problem) if verdict.correct else "none")
    )
    answer = _one_line(answer, 80) or "none"
    return f"Final: {answer}", answer


def teacher_blocks(task: Task, problem: Problem, verdict: Verdict, phrasing: int = 0) -> list[Block]:
    """The honest step blocks for a verdict (stop at the first wrong step; Final if none)."""
    ph = PHRASINGS[phrasing]
    steps = verdict.steps
    fe = true_first_error(verdict)
    blocks: list[Block] = []
    upto = len(steps) if fe is None else fe
    for i, s in enumerate(steps[:upto]):
        text = _one_line(s.text, 120)
        blocks.append((f"Step {i + 1}: {text}", True, _ok_text(ph, text)))
    if fe is not None and fe < len(steps):
        s = steps[fe]
        blocks.append((f"Step {fe + 1}: {_one_line(s.text, 120)}", False, _wrong_text(ph, s.reason, s.expected)))
        return blocks
    header, answer = _final_header(task, problem, verdict)
    if fe is None:
        blocks.append((header, True, ph["final_ok"].format(answer=answer)))
    else:
        blocks.append(
            (
                header,
                False,
                ph["final_wrong"].format(reason=_one_line(verdict.reason) or "the result is not the required answer"),
            )
        )
    return blocks


def mis_blocks(
    task: Task, problem: Problem, verdict: Verdict, rng: random.Random, phrasing: int = 0
) -> tuple[list[Block], bool, str]:
    """A deliberately wrong critique (imperfect teacher): ``(blocks, says_right, how)``.

    For a right solution it flags a random valid step (or the ending) as wrong
    (``false_alarm``). For a wrong one it either misses the error and says right
    (``missed``) or blames a different position than the true first error
    (``misplaced``; errors before that position go unnoticed). The reported
    (verdict, first error) therefore always differs from the truth.
    """
    ph = PHRASINGS[phrasing]
    steps = verdict.steps
    fe = true_first_error(verdict)
    positions = list(range(len(steps) + 1))  # len(steps) = the Final block
    header, answer = _final_header(task, problem, verdict)
    if fe is None:
        k, how = rng.choice(positions), "false_alarm"
    else:
        others = [k for k in positions if k != fe]
        if others and rng.random() < 0.5:
            k, how = rng.choice(others), "misplaced"
        else:
            k, how = None, "missed"
    upto = len(steps) if k is None else k
    texts = [_one_line(s.text, 120) for s in steps[:upto]]
    blocks: list[Block] = [(f"Step {i + 1}: {t}", True, _ok_text(ph, t)) for i, t in enumerate(texts)]
    if k is None:
        blocks.append((header, True, ph["final_ok"].format(answer=answer)))
        return blocks, True, how
    if k < len(steps):
        blocks.append(
            (f"Step {k + 1}: {_one_line(steps[k].text, 120)}", False, _wrong_text(ph, FAKE_STEP_REASON, None))
        )
    else:
        blocks.append((header, False, ph["final_wrong"].format(reason=FAKE_FINAL_REASON)))
    return blocks, False, how


def render(blocks: list[Block], right: bool, phrasing: int = 0) -> str:
    """``Critique:\\n{blocks}\\nConclusion: right|wrong [END]``; the block layout is the
    published one unless ``PHRASINGS[phrasing]`` is the work-first wording."""
    if PHRASINGS[phrasing].get("work_first"):
        body = "\n".join(
            f"{h}\nExplanation: {why}\nCorrectness: {'correct' if ok else 'wrong'}" for h, ok, why in blocks
        )
    else:
        body = "\n".join(
            f"{h}\nCorrectness: {'correct' if ok else 'wrong'}\nExplanation: {why}" for h, ok, why in blocks
        )
    return f"Critique:\n{body}\nConclusion: {'right' if right else 'wrong'} {END}"


def programmatic_critique(task: Task, problem: Problem, solution_text: str, phrasing: int = 0) -> str:
    """The exact teacher's critique of ``solution_text``, built from ``task.verify``."""
    if not 0 <= phrasing < len(PHRASINGS):
        raise ValueError(f"phrasing: must be in 0..{len(PHRASINGS) - 1}, got {phrasing!r}")
    verdict = task.verify(problem, solution_text)
    return render(teacher_blocks(task, problem, verdict, phrasing), verdict.correct, phrasing)


# ---- parsing (untrusted model output) --------------------------------------------------
_STEP_HDR = re.compile(r"[ \t]{0,8}step[ \t]{0,3}([0-9]{1,4})[ \t]{0,3}:", re.I)
_FINAL_HDR = re.compile(r"[ \t]{0,8}final[ \t]{0,3}:", re.I)
_CORRECTNESS = re.compile(r"[ \t]{0,8}correctness[ \t]{0,3}:[ \t]{0,3}(correct|incorrect|wrong)\b", re.I)
_CONCLUSION = re.compile(r"[ \t]{0,8}conclusion[ \t]{0,3}:[ \t]{0,3}(right|wrong)\b", re.I)
_MAX_LINE = 2_000


def parse_critique(text: Any) -> tuple[str | None, int | None]:
    """``(verdict, first_error_step)`` read from a critique; never raises.

    ``verdict`` is ``'right'``/``'wrong'`` from the first ``Conclusion:`` line, or None if
    there is none. ``first_error_step`` is **0-based, the same convention as
    ``Verdict.first_error``**: the first block marked ``Correctness: wrong`` (or
    ``incorrect``) gives ``k - 1`` for a ``Step k:`` block and, for a ``Final:`` block,
    the highest step number written before it (= the number of steps); None when no
    block is marked wrong (whatever the conclusion says). Text after ``[END]`` is
    ignored; input is bounded to ``MAX_COMPLETION_CHARS`` characters and ``MAX_LINES``
    lines, every regex is anchored and bounded. Non-strings give ``(None, None)``.
    """
    if not isinstance(text, str):
        return None, None
    text = text[:MAX_COMPLETION_CHARS]
    end = text.find(END)
    if end >= 0:
        text = text[: end + len(END)]
    verdict: str | None = None
    first: int | None = None
    current: int | None = None  # position of the block being read
    last_step = 0
    for line in text.split("\n", MAX_LINES)[:MAX_LINES]:
        line = line[:_MAX_LINE]
        if m := _STEP_HDR.match(line):
            k = int(m[1])
            current = k - 1 if k >= 1 else 0
            last_step = max(last_step, k)
        elif _FINAL_HDR.match(line):
            current = last_step
        elif m := _CORRECTNESS.match(line):
            if first is None and current is not None and m[1].lower() != "correct":
                first = current
        elif m := _CONCLUSION.match(line):
            verdict = m[1].lower()
            break
    return verdict, first
