"""The critics of critique-in-the-loop self-training (METHODS.md 1.9): who writes the
step-level critique (METHODS.md 1.2 format) of an actor's wrong attempt.

The ``critic`` option, parsed once (:func:`parse_critic`) into a :class:`CriticSpec`:

- ``programmatic`` (default): the exact teacher, ``corpus.programmatic_critique`` built
  from the task's verifier (the first wrong step and what it should have been). Free: its
  FLOPs are not a model's.
- a checkpoint (a directory or ``zoo:NAME``; e.g. a ``cft`` run): a critique-trained model
  loaded beside the actor, shown the published CFT prompt and decoded greedily through the
  shared generator up to ``[END]`` (``evaluation.run_critiques``, the critique probe's
  call); its critique is read by ``corpus.parse_critique`` and **unparseable (no
  Conclusion) means no refinement**, as does a critique that calls the wrong attempt
  right. Its FLOPs count into the budget under ``critic``.
- a mapping of LLM-teacher options (``{"teachers": [{"url": ..., "model": ...}], ...}``,
  the ``teacher_*`` options of the CFT recipes, docs/teachers.md): the critiques come from
  OpenAI-compatible endpoints (``corpus.teacher_critique.critique_all``), kept where their
  verdict agrees with the verifier (``teacher_filter``). A teacher's FLOPs are not counted
  (they run elsewhere); its request counts are in the round's history.

Every critic returns, per attempt, the critique text ending ``Conclusion: ... [END]`` (what
the refine prompt shows) or None (no refinement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from sparring.corpus import parse_critique, programmatic_critique
from sparring.corpus.teacher_critique import TeacherOptions, critique_all, normalize
from sparring.tasks import Problem, Task

PROGRAMMATIC = "programmatic"


class CriticTeacherOptions(TeacherOptions):
    """The LLM-teacher options of the critique-loop critic (errors name ``critique-loop.critic``)."""

    recipe = "critique-loop.critic"

    def validate(self) -> None:
        self.validate_teachers()


@dataclass(frozen=True)
class CriticSpec:
    """``kind``: programmatic, checkpoint or teacher; ``source``: the checkpoint;
    ``teacher``: the parsed teacher options."""

    kind: str
    source: str = ""
    teacher: Any = field(default=None, compare=False)

    def card(self) -> dict[str, Any]:
        if self.kind == "teacher":
            return {"kind": "teacher", "teachers": [e.card() for e in self.teacher.teachers]}
        return {"kind": self.kind, **({"source": self.source} if self.source else {})}


def parse_critic(value: Any, where: str = "critique-loop.critic") -> CriticSpec:
    """The ``critic`` option as a :class:`CriticSpec`; one ValueError naming ``where``."""
    if value == PROGRAMMATIC:
        return CriticSpec(PROGRAMMATIC)
    if isinstance(value, dict):
        opts = dict(value)
        if not opts.get("teachers"):
            raise ValueError(f'{where}: a teacher critic needs "teachers": [{{"url": URL, "model": NAME}}]')
        try:
            teacher = CriticTeacherOptions.make(opts)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        return CriticSpec("teacher", teacher=teacher)
    if isinstance(value, str) and value.strip():
        from sparring.models import resolve_model_source

        try:
            kind, source = resolve_model_source(value)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if kind == "preset":
            raise ValueError(f"{where}: {value!r} is an untrained preset; give a critique-trained checkpoint")
        return CriticSpec("checkpoint", str(source))
    raise ValueError(
        f"{where}: must be 'programmatic', a critique-trained checkpoint (directory or zoo:NAME), "
        f"or a mapping of teacher options with 'teachers' (got {value!r})"
    )


Critic = Callable[[Task, Sequence[Problem], Sequence[str], Sequence[str]], list[str | None]]
# (task, problems, questions shown, attempts) -> critique text or None, per attempt


def programmatic(task: Task, problems, questions, attempts) -> list[str | None]:
    """The exact teacher: ``programmatic_critique`` (phrasing 0) of every attempt."""
    return [programmatic_critique(task, p, a) for p, a in zip(problems, attempts)]


def read_critique(text: str) -> str | None:
    """A model's critique as the refine prompt shows it (``Critique: ... Conclusion: wrong
    [END]``), or None when it has no Conclusion or concludes ``right``."""
    verdict, _ = parse_critique(text)  # bounded, never raises
    if verdict != "wrong":
        return None
    return normalize(text, verdict)


def checkpoint_critic(
    spec: CriticSpec, ledger, style: str, chat_format, max_new_tokens: int | None, device=None
) -> Critic:
    """Critiques from a critique-trained checkpoint, generated greedily (see the module doc)."""
    from sparring.evaluation import CritiqueItem, run_critiques
    from sparring.models import load_for_inference

    from .counted import CountingResponder

    model, tok = load_for_inference(spec.source, device=device)
    responder = CountingResponder(model, tok, ledger, "critic", chat=style == "chat", chat_format=chat_format)

    def critique(task: Task, problems, questions, attempts) -> list[str | None]:
        items = [CritiqueItem(p, a, "attempt", None) for p, a in zip(problems, attempts)]
        outcomes, _ = run_critiques(
            responder, task, items, max_new_tokens=max_new_tokens, style=style, chat_format=chat_format
        )
        return [read_critique(o.text) for o in outcomes]

    return critique


def teacher_critic(spec: CriticSpec, counts: dict) -> Critic:
    """Critiques from LLM teachers, kept where they agree with the verifier; the request
    counts of each call are added to ``counts`` (the round's history shows them)."""

    def critique(task: Task, problems, questions, attempts) -> list[str | None]:
        from sparring.corpus import critique_prompt

        items = list(zip(problems, questions, attempts))
        kept, entry = critique_all(spec.teacher, task, items)
        for k, v in entry["totals"].items():
            counts[k] = counts.get(k, 0) + int(v)
        by_prompt = {(p.id, prompt): completion for p, prompt, completion, _ in kept}
        return [by_prompt.get((p.id, critique_prompt(q, a))) for p, q, a in items]

    return critique


def make_critic(
    spec: CriticSpec, ledger, style: str, chat_format, max_new_tokens: int | None, counts: dict, device=None
) -> Critic:
    """The critic function of ``spec`` (a checkpoint critic is loaded here, once per run, on
    ``device``)."""
    if spec.kind == PROGRAMMATIC:
        return programmatic
    if spec.kind == "checkpoint":
        return checkpoint_critic(spec, ledger, style, chat_format, max_new_tokens, device)
    return teacher_critic(spec, counts)
