"""Which judgements the RARO critic trains on in a step, decided before it samples (so the
fresh pairs, the replayed pairs and the expert-alone prompts are judged in one batched
pass): ``critic_pairs`` of the step's fresh pairs, ``replay_ratio`` of the batch from the
replay buffer (judged afresh by the current critic) and, for a pointwise critic, one
expert answer shown alone for every policy answer it judges (fresh or replayed), so that
neither label is the batch's majority: with fewer expert answers "always policy" was the
critic's best reply (measured: docs/results.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable

from .game import Game, Judgement, ReplayBuffer, Triple


@dataclass(frozen=True)
class CriticPlan:
    """``chosen``: indices of the fresh pairs the critic trains on; ``extra``: judgements
    added to its batch, the expert-alone ones (pointwise) first, the ``n_replayed``
    replayed ones last."""

    chosen: list[int]
    extra: list[Judgement] = field(default_factory=list)
    n_replayed: int = 0


class CriticBatchPlanner:
    """Plans each step's critic batch; owns the replay buffer and the plan's generator."""

    def __init__(self, game: Game, critic_pairs: int, replay_ratio: float, replay: ReplayBuffer, rng: random.Random):
        self.game, self.critic_pairs, self.replay_ratio = game, critic_pairs, replay_ratio
        self.replay, self.rng = replay, rng

    def plan(self, judgements: list[Judgement]) -> CriticPlan:
        g, n_pairs = self.game, len(judgements)
        chosen = list(range(n_pairs))
        if self.critic_pairs and n_pairs > self.critic_pairs:
            chosen = sorted(self.rng.sample(chosen, self.critic_pairs))
        n_replay = round(len(chosen) * self.replay_ratio / (1.0 - self.replay_ratio)) if self.replay_ratio else 0
        replay = self.replay.sample(n_replay)
        extra: list[Judgement] = []
        if g.pointwise:
            shown = [judgements[n].triple for n in chosen] + list(replay)
            extra = [g.judgement(Triple(t.question, t.expert, None, t.problem), self.rng) for t in shown]
        replayed = [g.judgement(t, self.rng) for t in replay]
        return CriticPlan(chosen, extra + replayed, len(replayed))

    def remember(self, triples: Iterable[Triple]) -> None:
        """The step's fresh pairs join the replay buffer (after they were judged)."""
        self.replay.add(triples)

    def state_dict(self) -> dict:
        from ..resume import rng_state

        return {"rng": rng_state(self.rng), "replay": self.replay.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        from ..resume import set_rng_state

        set_rng_state(self.rng, state["rng"])
        self.replay.load_state_dict(state["replay"])
