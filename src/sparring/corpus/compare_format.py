"""The pairwise comparison layout: two answers to one question, which one is right.

It is RARO's compact pairwise critic layout (``train/raro/game.PAIRWISE_TEMPLATE``: the
question, "?", the two answers numbered; every character is a token for a char model) with
one more verdict, ``none``, for "both are wrong"::

    3,7,9:30?
    1:7*3=21
    21+9=30
    2:9*3=27
    27+7=30
    Verdict: 1

The v2 pretraining mix writes comparisons in it (noisy: a share of wrong verdicts), the
``compare`` probe asks in it, and RARO's critic reads the same layout (its verdicts are
``1``, ``2`` or ``tie``), so a base that learned to compare in pretraining meets the layout
it knows in the game. :func:`parse_compare` reads untrusted model output: the first
``Verdict:`` line within a bounded prefix, else None.
"""

from __future__ import annotations

import re

TEMPLATE = "{question}?\n1:{answer1}\n2:{answer2}\n"
BOTH_WRONG = "none"
LABELS = ("1", "2", BOTH_WRONG)
PREFIX = "Verdict: "
MAX_ANSWER_CHARS = 512  # answers shown are cut to this length (as RARO's clean_answer)
MAX_READ_CHARS = 2_000  # only this much of a model's output is read
_VERDICT = re.compile(r"verdict[ \t]{0,3}:[ \t]{0,3}(1|2|none)\b", re.IGNORECASE)


def compare_prompt(question: str, answer1: str, answer2: str) -> str:
    """The comparison prompt; ``question`` is the task's canonical prompt (stripped)."""
    a1, a2 = (str(a).strip()[:MAX_ANSWER_CHARS] for a in (answer1, answer2))
    return TEMPLATE.format(question=str(question).strip(), answer1=a1, answer2=a2)


def compare_verdict(label: str) -> str:
    """The verdict line for ``label`` (one of :data:`LABELS`)."""
    if label not in LABELS:
        raise ValueError(f"compare verdict: must be one of {list(LABELS)}, got {label!r}")
    return PREFIX + label


def parse_compare(text: object) -> str | None:
    """The label of the first verdict line in ``text`` (``1``, ``2``, ``none``), or None."""
    if not isinstance(text, str):
        return None
    m = _VERDICT.search(text[:MAX_READ_CHARS])
    return m.group(1).lower() if m else None
