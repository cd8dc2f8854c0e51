"""Answers to task prompts from any Responder, judged by the task's verifier."""

from __future__ import annotations

from typing import Any, Sequence

from sparring.models import Prompt, Responder
from sparring.models.style import ChatFormat
from sparring.tasks import Problem, Task


def task_prompt(
    task: Task, problem: Problem, style: str = "char", chat_format: ChatFormat | None = None, template: int = 0
) -> Prompt:
    """What a model in ``style`` is asked: the char prompt as raw text, or in chat style a
    conversation (the optional system message, then the task's chat user message), which
    the responder renders through the model's chat template."""
    if style == "chat":
        return (chat_format or ChatFormat()).messages(task.prompt(problem, template, "chat"))
    return task.prompt(problem, template)


def answers(
    responder: Responder,
    task: Task,
    problems: Sequence[Problem],
    *,
    max_new_tokens: int,
    prompts: Sequence[Prompt] | None = None,
    samples: int = 1,
    temperature: float = 0.0,
    seed: int = 0,
    stop: Sequence[str] = (),
    label: str = "answers",
    style: str = "char",
    chat_format: ChatFormat | None = None,
) -> list[list[str]]:
    """``samples`` completions per problem (greedy when ``temperature == 0``); the prompts
    default to the task's canonical ones in ``style`` (:func:`task_prompt`). Anything a responder returns that is not text
    becomes ``""`` (model output is untrusted; the verifier scores it 0). ``label`` names
    the caller in errors."""
    if prompts is None:
        prompts = [task_prompt(task, p, style, chat_format) for p in problems]
    prompts = list(prompts)
    if len(prompts) != len(problems):
        raise ValueError(f"{label}: {len(prompts)} prompts for {len(problems)} problems")
    outs = responder.generate(
        prompts, n_samples=samples, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, stop=tuple(stop)
    )
    return read_outputs(outs, len(prompts), label, samples)


def read_outputs(outs: Any, expected: int, label: str, samples: int | None = None) -> list[list[str]]:
    """A responder's outputs as ``expected`` lists of text (at most ``samples`` each, at
    least one): anything that is not text becomes ``""``; a wrong count is one error."""
    if not isinstance(outs, (list, tuple)) or len(outs) != expected:
        got = len(outs) if isinstance(outs, (list, tuple)) else type(outs).__name__
        raise ValueError(f"{label}: responder returned {got} outputs for {expected} prompts")
    texts = []
    for row in outs:
        row = list(row) if isinstance(row, (list, tuple)) else [row]
        texts.append([t if isinstance(t, str) else "" for t in row[:samples]] or [""])
    return texts


def accuracy(
    responder: Responder,
    task: Task,
    problems: Sequence[Problem],
    *,
    max_new_tokens: int = 96,
    samples: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    style: str = "char",
    chat_format: ChatFormat | None = None,
) -> dict[str, Any]:
    """Greedy (``samples=1``) accuracy, or sampled accuracy and pass@``samples``, with the
    prompts of ``style``.

    Returns ``accuracy`` (strict: right answer through valid steps), ``answer_accuracy``
    (final claim right), ``n`` and, when sampling, ``pass_at_k``, ``k`` and
    ``temperature``; accuracies are shares of all completions, pass@k of problems.
    """
    sampled = samples > 1
    texts = answers(
        responder,
        task,
        problems,
        max_new_tokens=max_new_tokens,
        samples=samples,
        temperature=temperature if sampled else 0.0,
        seed=seed,
        style=style,
        chat_format=chat_format,
    )
    correct = answer = total = solved = 0
    for p, row in zip(problems, texts):
        verdicts = [task.verify(p, t) for t in row]
        correct += sum(v.correct for v in verdicts)
        answer += sum(v.answer_correct for v in verdicts)
        total += len(verdicts)
        solved += any(v.correct for v in verdicts)
    out: dict[str, Any] = {
        "accuracy": correct / max(1, total),
        "answer_accuracy": answer / max(1, total),
        "n": len(problems),
        "style": style,
    }
    if sampled:
        out.update(pass_at_k=solved / max(1, len(problems)), k=samples, temperature=temperature)
    return out
