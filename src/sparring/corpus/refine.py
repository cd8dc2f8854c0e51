"""The refinement document: an attempt, a critique of it, a corrected attempt.

One format, used by everything that shows a model "attempt -> critique -> fix": the v2
pretraining mix writes such documents (``corpus/web.py``), and self-training with critique
in the loop (METHODS.md 1.9) prompts its actor with them, so the refine prompt is one the
v2 base has seen. Char style (sparring's char tokenizer, printable ASCII)::

    Please critique whether the following solution to the question is correct.

    Question:
    {question}

    Solution:
    {attempt}
    Critique:
    Step 1: ...
    Conclusion: wrong [END]
    Corrected solution:
    {fix}

i.e. the published CFT prompt (``critique_format.critique_prompt``), the critique in the
CFT layout (ending ``[END]``), then :data:`REFINE_CUE` and the corrected solution. The
prompt a refiner is given is everything up to and including the cue
(:func:`refine_prompt`); its completion is the corrected solution.
"""

from __future__ import annotations

from ..tasks.base import MAX_COMPLETION_CHARS
from .critique_format import critique_prompt

REFINE_CUE = "Corrected solution:\n"


def _bounded(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"refine: {what} must be a string, got {type(text).__name__}")
    return text[:MAX_COMPLETION_CHARS]


def refine_prompt(question: str, attempt: str, critique: str) -> str:
    """The prompt that asks for a corrected attempt: question, attempt, critique, the cue.

    ``question`` is what the critique prompt shows (``critique.critique_question``);
    ``attempt`` and ``critique`` are untrusted text (a model's) and are cut to
    ``MAX_COMPLETION_CHARS`` each."""
    attempt = _bounded(attempt, "attempt").rstrip("\n")
    critique = _bounded(critique, "critique").strip("\n")
    return f"{critique_prompt(question, attempt)}{critique}\n{REFINE_CUE}"


def refinement_document(question: str, attempt: str, critique: str, fix: str) -> tuple[str, str]:
    """A whole refinement document as (prompt, completion): :func:`refine_prompt` and the fix."""
    return refine_prompt(question, attempt, critique), _bounded(fix, "fix").rstrip("\n")
