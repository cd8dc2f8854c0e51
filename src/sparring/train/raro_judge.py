"""The judging half of RARO: the critic as the policy's reward function, the verdict
statistics logged every step, and the monitor that may consult the verifier beside
training (never inside it). See ``raro_trainer.py`` for the step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback

from sparring.models.responder import first_user_text
from sparring.rewards import as_problem, completion_text

from .raro_game import Game, Judgement, Triple, clean_answer
from .raro_sampling import CriticRollout, CriticSampler


@dataclass
class Round:
    """One step's judging: the distinct pairs, their critic rollouts (K per pair, in order),
    per policy rollout its pair index (None: truncated, not judged); ``chosen`` (the pairs
    the critic trains on) and ``extra`` (replayed / expert-only judgements for the critic
    batch, with ``extra_rollouts``) come from the trainer's plan and were sampled in the same
    batched pass as the fresh pairs."""

    judgements: list[Judgement]
    rollouts: list[CriticRollout]
    k: int
    slot_of: list[int | None]
    texts: list[str]
    problems: list[Any]
    policy_rewards: list[float | None]
    chosen: list[int] = field(default_factory=list)
    extra: list[Judgement] = field(default_factory=list)
    extra_rollouts: list[CriticRollout] = field(default_factory=list)


class CriticJudge:
    """The policy's reward function (TRL signature): the critic's verdicts on its answers.

    ``plan`` (set by the trainer) maps the step's fresh judgements to (the indices of the
    pairs the critic trains on, extra judgements for the critic batch); the extras are
    judged in the same sampler call as the fresh pairs (one prefill, one decoding loop)."""

    __name__ = "critic"

    def __init__(
        self,
        game: Game,
        sampler: CriticSampler,
        k: int = 1,
        expected: bool = False,
        seed: int = 0,
        drop_truncated: bool = True,
    ):
        self.game, self.sampler, self.k, self.expected = game, sampler, k, expected
        self.drop_truncated = drop_truncated
        from .distributed import rank_seed

        self.rng = random.Random(rank_seed(f"raro-judge|{seed}"))
        self.trainer: Any = None
        self.last: Round | None = None
        self.plan: Any = None

    def __call__(self, prompts, completions, completion_ids, expert=None, problem=None, **_):
        if expert is None:
            raise ValueError("raro: the dataset needs an 'expert' column (the demonstration)")
        t = self.trainer
        stop = {*t.eos_token_ids, t.processing_class.pad_token_id}
        texts = [completion_text(c) for c in completions]
        index: dict[tuple[str, str], int] = {}
        triples: list[Triple] = []
        slot_of: list[int | None] = []
        for i, (q, e, text, ids) in enumerate(zip(prompts, expert, texts, completion_ids)):
            q = first_user_text(q)  # a conversation's question (chat style)
            if self.drop_truncated and (not ids or ids[-1] not in stop):
                slot_of.append(None)  # truncated: not judged, no reward, dropped from the loss
                continue
            key = (q, clean_answer(text))
            if key not in index:
                index[key] = len(triples)
                triples.append(Triple(q, e, text, None if problem is None else problem[i]))
            slot_of.append(index[key])
        judgements = [self.game.judgement(tr, self.rng) for tr in triples]
        chosen, extra = self.plan(judgements) if self.plan is not None else (list(range(len(judgements))), [])
        prompts = [j.prompt for j in judgements + extra for _ in range(self.k)]
        rollouts = self.sampler.sample(t.critic_model or t.model, prompts)
        rollouts, extra_rollouts = rollouts[: len(judgements) * self.k], rollouts[len(judgements) * self.k :]
        pair_reward = []
        for n, j in enumerate(judgements):
            rs = rollouts[n * self.k : (n + 1) * self.k]
            if self.expected and rs[0].label_probs:
                vals = [sum(p * self.game.rewards(lb, j)[1] for lb, p in r.label_probs.items()) for r in rs]
            else:
                vals = [self.game.rewards(r.verdict, j)[1] for r in rs]
            pair_reward.append(sum(vals) / len(vals))
        rewards = [None if s is None else pair_reward[s] for s in slot_of]
        self.last = Round(
            judgements, rollouts, self.k, slot_of, texts, list(problem or []), rewards, chosen, extra, extra_rollouts
        )
        return rewards


def verdict_stats(verdicts: list[tuple[str | None, Judgement]], game: Game) -> dict[str, float]:
    n = max(1, len(verdicts))
    labels = set(game.labels)
    ok = [v for v, _ in verdicts if v in labels]
    distinct = [(v, j) for v, j in verdicts if not j.triple.identical]
    return {
        "raro/critic_accuracy": sum(v == j.truth for v, j in verdicts) / n,
        "raro/tie_rate": sum(v == "tie" for v, _ in verdicts if v in labels) / n,
        "raro/policy_win_rate": sum(v == j.fooled for v, j in verdicts) / n,
        "raro/unparseable_rate": 1.0 - len(ok) / n,
        "raro/critic_accuracy_distinct": (sum(v == j.truth for v, j in distinct) / len(distinct)) if distinct else 0.0,
        "raro/identical_rate": sum(j.triple.identical for _, j in verdicts) / n,
    }


class RAROMonitor(TrainerCallback):
    """Monitor only: after each optimizer step, judge the step's policy answers with the
    task's verifier (every ``every`` steps). Its numbers never feed back into training."""

    def __init__(self, trainer, task, every: int = 1):
        self.trainer, self.task, self.every = trainer, task, every

    def on_step_end(self, args, state, control, **kwargs):
        t = self.trainer
        rnd = getattr(t, "last_round", None)
        if rnd is None or not self.every or state.global_step % self.every:
            return control
        t.last_round = None
        probs = [as_problem(p) for p in rnd.problems]
        if len(probs) != len(rnd.texts):
            return control
        right = [self.task.verify(p, x).correct for p, x in zip(probs, rnd.texts)]
        right = [ok and s is not None for ok, s in zip(right, rnd.slot_of)]
        wrong_pairs = {s for ok, s in zip(right, rnd.slot_of) if s is not None and not ok}
        k = rnd.k
        hits = [r.verdict == rnd.judgements[n].truth for n in wrong_pairs for r in rnd.rollouts[n * k : (n + 1) * k]]
        stats = {
            "monitor/verified_accuracy": sum(right) / max(1, len(right)),
            "monitor/critic_accuracy_on_wrong": sum(hits) / len(hits) if hits else 0.0,
        }
        for key, v in stats.items():
            t._metrics["train"][key].append(v)
        if t.history:
            t.history[-1].update({key: round(v, 4) for key, v in stats.items()})
        return control
