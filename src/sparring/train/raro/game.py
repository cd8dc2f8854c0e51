"""The rules of the RARO game (METHODS 1.7), free of models: critic prompts, the verdict
parser, the reward matrix and the replay buffer.

One model plays two roles switched by the prompt. The *policy* answers a question; the
*critic* sees the question and two answers in random order (one expert demonstration, one
policy answer), may reason briefly, and must end with one structured final line::

    Verdict: 1        (answer 1 is the expert's)
    Verdict: 2
    Verdict: tie      (cannot tell them apart)

A *pointwise* critic (the ablation) sees one answer and ends with ``Verdict: expert``,
``Verdict: policy`` or ``Verdict: tie``.

Rewards (``truth`` is the label a perfect critic gives, ``fooled`` the label that credits
the policy answer)::

    R_critic = 1[verdict == truth]  + tau_c * 1[verdict == tie]
    R_policy = 1[verdict == fooled] + tau_p * 1[verdict == tie]

An unparseable critic output earns 0 for both. Nothing here knows the task's verifier:
the truth of a pair is which answer *came from the demonstrations*, never whether an
answer is correct.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import asdict, dataclass
from typing import Iterable

PAIRWISE_LABELS = ("1", "2", "tie")
POINTWISE_LABELS = ("expert", "policy", "tie")
TIE = "tie"
VERDICT_PREFIX = "Verdict: "
MAX_CRITIC_CHARS = 8192  # longer critic outputs are unparseable (bounded work on untrusted text)
MAX_ANSWER_CHARS = 512  # answers shown to the critic are cut to this length

# Compact defaults: every character is a token for a character-level model, and the
# critic's prompt is most of RARO's extra cost. "?" after the question switches the role.
# A chat model wants words: e.g. "Question: {question}\nAnswer 1:\n{answer1}\nAnswer 2:\n
# {answer2}\nWhich answer is the expert's? Think briefly, then end with 'Verdict: 1', 'Verdict: 2'
# or 'Verdict: tie'.\n" (the critic_template option).
PAIRWISE_TEMPLATE = "{question}?\n1:{answer1}\n2:{answer2}\n"
POINTWISE_TEMPLATE = "{question}?\n1:{answer1}\n"

_FINAL_LINE = re.compile(r"Verdict:[ \t]*([A-Za-z0-9]{1,8})[ \t]*")
_ANY_VERDICT = re.compile(r"verdict\s*:", re.IGNORECASE)


def labels_for(pointwise: bool, tie: bool) -> tuple[str, ...]:
    """The critic's label set for a configuration (without ``tie`` when ties are off)."""
    labels = POINTWISE_LABELS if pointwise else PAIRWISE_LABELS
    return labels if tie else tuple(lb for lb in labels if lb != TIE)


def parse_verdict(text: object, labels: Iterable[str] = PAIRWISE_LABELS) -> str | None:
    """The critic's label, or None when its output is unparseable.

    Only a single well-formed *final* line counts: the last non-empty line must be exactly
    ``Verdict: <label>`` (label case-insensitive, spaces around it allowed) with ``<label>``
    in ``labels``, and no other line may mention a verdict. So "answer 1 ... answer 2 ...
    Verdict: tie" on one line, two verdict lines, a verdict in the middle followed by more
    text, no verdict, or a label outside ``labels`` are all unparseable. Never raises.
    """
    if not isinstance(text, str) or len(text) > MAX_CRITIC_CHARS or "\x00" in text:
        return None
    body = text.rstrip()
    if not body:
        return None
    last = body.rsplit("\n", 1)[-1].strip()
    m = _FINAL_LINE.fullmatch(last)
    if m is None or len(_ANY_VERDICT.findall(body)) != 1:
        return None
    label = m[1].lower()
    allowed = {lb.lower(): lb for lb in labels}
    return allowed.get(label)


def critic_reward(verdict: str | None, truth: str, tau_c: float) -> float:
    """1 for naming the expert (``truth``), ``tau_c`` for a tie, 0 otherwise (unparseable: 0)."""
    if verdict is None:
        return 0.0
    return 1.0 if verdict == truth else (tau_c if verdict == TIE else 0.0)


def policy_reward(verdict: str | None, fooled: str | None, tau_p: float) -> float:
    """1 when the critic credits the policy answer (``fooled``), ``tau_p`` for a tie, else 0."""
    if verdict is None or fooled is None:
        return 0.0
    return 1.0 if verdict == fooled else (tau_p if verdict == TIE else 0.0)


def clean_answer(text: str) -> str:
    """An answer as the critic sees it and as answers are compared: stripped, bounded."""
    return text.strip()[:MAX_ANSWER_CHARS]


@dataclass(frozen=True)
class Triple:
    """One demonstration and one policy answer to the same question. ``answer`` None means
    'show the expert alone' (pointwise critics also judge expert answers). ``problem`` is
    carried along for monitoring only; the game never reads it."""

    question: str
    expert: str
    answer: str | None
    problem: str | None = None

    @property
    def identical(self) -> bool:
        return self.answer is not None and clean_answer(self.answer) == clean_answer(self.expert)


@dataclass(frozen=True)
class Judgement:
    """A critic prompt with its answer key: ``truth`` is the right label, ``fooled`` the label
    that rewards the policy (None when no policy answer is shown)."""

    prompt: str
    truth: str
    fooled: str | None
    triple: Triple


@dataclass(frozen=True)
class Game:
    """The game's settings; builds critic prompts with their answer keys."""

    pointwise: bool = False
    tie: bool = True
    tau_p: float = 0.6
    tau_c: float = 0.55
    pairwise_template: str = PAIRWISE_TEMPLATE
    pointwise_template: str = POINTWISE_TEMPLATE

    @property
    def labels(self) -> tuple[str, ...]:
        return labels_for(self.pointwise, self.tie)

    def question_text(self, prompt: str) -> str:
        return prompt.strip()

    def judgement(self, t: Triple, rng: random.Random) -> Judgement:
        """The critic prompt for ``t``: pairwise in random order, or pointwise on one answer."""
        q = self.question_text(t.question)
        if self.pointwise:
            shown, truth, fooled = (t.expert, "expert", None) if t.answer is None else (t.answer, "policy", "expert")
            return Judgement(self.pointwise_template.format(question=q, answer1=clean_answer(shown)), truth, fooled, t)
        if t.answer is None:
            raise ValueError("raro: a pairwise judgement needs a policy answer")
        expert_first = rng.random() < 0.5
        a1, a2 = (t.expert, t.answer) if expert_first else (t.answer, t.expert)
        truth, fooled = ("1", "2") if expert_first else ("2", "1")
        prompt = self.pairwise_template.format(question=q, answer1=clean_answer(a1), answer2=clean_answer(a2))
        return Judgement(prompt, truth, fooled, t)

    def pair_prompt(self, question: str, first: str, second: str) -> str:
        """A pairwise critic prompt for two given answers in the given order (reranking)."""
        return self.pairwise_template.format(
            question=self.question_text(question), answer1=clean_answer(first), answer2=clean_answer(second)
        )

    def single_prompt(self, question: str, answer: str) -> str:
        return self.pointwise_template.format(question=self.question_text(question), answer1=clean_answer(answer))

    def rewards(self, verdict: str | None, j: Judgement) -> tuple[float, float]:
        """(R_critic, R_policy) of one critic verdict on ``j``; a tie when ties are off is
        outside the label set and so unparseable (0, 0)."""
        if verdict is not None and verdict not in self.labels:
            verdict = None
        return critic_reward(verdict, j.truth, self.tau_c), policy_reward(verdict, j.fooled, self.tau_p)


class ReplayBuffer:
    """The last ``capacity`` (question, expert, policy answer) triples; uniform sampling
    without replacement. Seeded, so runs are reproducible."""

    def __init__(self, capacity: int, seed: int = 0):
        if not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"replay capacity: must be an integer >= 0, got {capacity!r}")
        self.items: deque[Triple] = deque(maxlen=max(1, capacity))
        self.capacity = capacity
        from ..distributed import rank_seed

        self.rng = random.Random(rank_seed(f"replay|{seed}"))  # each rank samples its own buffer

    def __len__(self) -> int:
        return len(self.items) if self.capacity else 0

    def add(self, triples: Iterable[Triple]) -> None:
        if self.capacity:
            self.items.extend(t for t in triples if t.answer is not None)

    def state_dict(self) -> dict:
        """The buffer and its generator as JSON (a resumable checkpoint's part, ``resume.py``)."""
        from ..resume import rng_state

        return {"items": [asdict(t) for t in self.items], "rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict) -> None:
        from ..resume import set_rng_state

        self.items.clear()
        self.items.extend(Triple(**t) for t in state["items"])
        set_rng_state(self.rng, state["rng"])

    def sample(self, k: int) -> list[Triple]:
        n = len(self)
        if k <= 0 or n == 0:
            return []
        return [self.items[i] for i in self.rng.sample(range(n), min(k, n))]
