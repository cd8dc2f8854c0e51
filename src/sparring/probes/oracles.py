"""Responders whose answers are known, for validating the probes themselves.

A probe is trusted only if it scores scripted models exactly as expected: the gold
responder must get accuracy 1, validity 1, PSS 0 and abstention F1 1; a responder that
caves under negation must get flip rate 1, one that holds its answer 0; and so on.

    task = get_task("countdown")
    gold = gold_responder(task, config=cfg)           # knows every problem the battery uses
    run_probes(gold, None, task, "accuracy,sensitivity", config=cfg)
"""

from __future__ import annotations

from typing import Callable, Sequence

from sparring.models import cut_at_stop
from sparring.tasks import Problem, Task

from .config import ProbeConfig, battery_problems
from .responder import Prompt, first_user_text

_S_HEAD = "\n\nSolution:\n"


def _question_head() -> str:
    from sparring.corpus import critique_prompt

    return critique_prompt("\0", "").split("\0")[0]


class ScriptedResponder:
    """A Responder that answers ``answer(prompt, sample_index)``.

    ``loglik`` (optional) maps a list of ``(context, continuation)`` pairs to
    ``(logprob, n_tokens)`` tuples. Token counts are characters.
    """

    plain_text = True

    def __init__(
        self,
        answer: Callable[[Prompt, int], str],
        loglik: Callable[[Sequence[tuple[str, str]]], list[tuple[float, int]]] | None = None,
    ):
        self.answer = answer
        if loglik is not None:
            self.loglik = loglik
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n_samples: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 64,
        seed: int = 0,
        stop: Sequence[str] = (),
    ) -> list[list[str]]:
        self.calls += 1
        return [[cut_at_stop(str(self.answer(p, j)), stop) for j in range(n_samples)] for p in prompts]


class ProblemIndex:
    """Finds the problem (and template) behind a prompt, a conversation or a CFT prompt."""

    def __init__(self, task: Task, problems: Sequence[Problem]):
        self.task = task
        self.by_prompt: dict[str, tuple[Problem, int]] = {}
        for p in problems:
            for t in range(len(task.templates)):
                self.by_prompt.setdefault(task.prompt(p, t).strip(), (p, t))
            self.by_prompt.setdefault(task.question(p).strip(), (p, 0))

    def find(self, prompt: Prompt) -> tuple[Problem, int] | None:
        return self.by_prompt.get(first_user_text(prompt).strip())

    def critique_target(self, prompt: Prompt) -> tuple[Problem, str] | None:
        """(problem, solution shown) for a CFT critique prompt, else None."""
        text, head = first_user_text(prompt), _question_head()
        if not text.startswith(head) or _S_HEAD not in text:
            return None
        question, solution = text[len(head) :].split(_S_HEAD, 1)
        found = self.by_prompt.get(question.strip())
        return (found[0], solution.strip()) if found else None

    def compare_target(self, prompt: Prompt) -> tuple[Problem, str, str] | None:
        """(problem, first answer, second answer) for a comparison prompt, else None."""
        text = first_user_text(prompt)
        head, sep, rest = text.partition("?\n1:")
        found = self.by_prompt.get(head.strip()) if sep else None
        if found is None or "\n2:" not in rest:
            return None
        first, second = rest.split("\n2:", 1)
        return found[0], first, second


def gold_responder(
    task: Task,
    problems: Sequence[Problem] | None = None,
    config: ProbeConfig | dict | None = None,
    on_negation: str = "keep",
    templates: Sequence[int] | None = None,
) -> ScriptedResponder:
    """Always answers with the gold solution (``No solution`` when unsolvable).

    - ``on_negation``: ``"keep"`` repeats the gold after a pushback (never flips);
      ``"flip"`` answers with a planted flaw instead (always flips).
    - ``templates``: if given, answers correctly only under those prompt templates and
      with ``No solution`` under the others (a prompt-sensitive model).
    - CFT critique prompts get a verifier-exact critique (a perfect critic), comparison
      prompts the verifier's verdict on the pair (a perfect judge).
    - Unknown prompts get ``""``.

    ``problems`` defaults to everything the battery uses with ``config``.
    """
    if on_negation not in ("keep", "flip"):
        raise ValueError(f"on_negation: must be 'keep' or 'flip', got {on_negation!r}")
    index = ProblemIndex(task, problems if problems is not None else battery_problems(task, config))

    def answer(prompt: Prompt, j: int) -> str:
        target = index.critique_target(prompt)
        if target is not None:
            from sparring.corpus import programmatic_critique

            return programmatic_critique(task, *target)
        pair = index.compare_target(prompt)
        if pair is not None:
            return compare_judge(task, *pair)
        found = index.find(prompt)
        if found is None:
            return ""
        p, t = found
        if templates is not None and t not in templates:
            return "No solution"
        if not isinstance(prompt, str) and len(prompt) > 1 and on_negation == "flip" and p.solvable:
            return task.flaw(p, seed=0).text
        return task.solve(p)

    return ScriptedResponder(answer)


def compare_judge(task: Task, problem: Problem, first: str, second: str) -> str:
    """The verifier's verdict line on a comparison: the right answer's number, or none."""
    from sparring.corpus.compare_format import BOTH_WRONG, compare_verdict

    ok = [task.verify(problem, a.strip()).correct for a in (first, second)]
    return compare_verdict("1" if ok[0] else "2" if ok[1] else BOTH_WRONG)


def constant_loglik(value: float = 0.0) -> Callable[[Sequence[tuple[str, str]]], list[tuple[float, int]]]:
    """A scorer that gives every continuation log-probability ``value`` per character."""

    def score(pairs: Sequence[tuple[str, str]]) -> list[tuple[float, int]]:
        return [(value * len(c), len(c)) for _, c in pairs]

    return score


__all__ = ["ProblemIndex", "ScriptedResponder", "constant_loglik", "gold_responder"]
